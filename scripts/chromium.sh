#!/usr/bin/env bash
# Makes sure a headless Chromium is at hand for the HTML report's browser
# test (report/browser_test.go). Uses INFERGATE_CHROMIUM or one on PATH;
# otherwise installs Debian's chromium package with apt-get, as root or
# through passwordless sudo. Where neither works it says how to get one and
# exits 0 (the test then skips), or 1 under CI, where the test would fail.
set -euo pipefail

# missing says what to do, and fails under CI: there the browser test
# would fail without a Chromium, so the cause is said here, first.
missing() {
  echo "chromium: $1; install Chromium (Debian/Ubuntu: apt-get install chromium) or set INFERGATE_CHROMIUM" >&2
  if [ -n "${CI:-}" ]; then exit 1; fi
  exit 0
}

if [ -n "${INFERGATE_CHROMIUM:-}" ]; then
  exit 0
fi
for name in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    missing "none found, and not root"
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  missing "none found, and no apt-get"
fi
echo "chromium: installing Debian's chromium package for the HTML report's browser test" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends chromium; } >/dev/null; then
  missing "apt-get could not install chromium"
fi
