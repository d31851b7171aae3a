#!/usr/bin/env bash
# Runs every native Go fuzz target for a while (default 30s each):
#   make fuzz              # 30s each
#   FUZZTIME=5m make fuzz  # longer
# A crasher is saved under the package's testdata/fuzz/ by go test: commit it
# as a regression test after the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-30s}"
status=0
while IFS= read -r line; do
  file="${line%%:*}"
  name="$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")"
  pkg="./$(dirname "$file")"
  echo "== $pkg $name ($fuzztime)"
  # Minimising a large seed can take a minute per new input; keep it short.
  if ! go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s; then
    status=1
  fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sed 's#^\./##' | sort)
exit $status
