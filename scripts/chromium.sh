#!/usr/bin/env bash
# Makes sure a headless Chromium is at hand for the HTML report's browser
# test (report/browser_test.go). Uses INFERGATE_CHROMIUM or one on PATH;
# otherwise installs Debian's chromium package with apt-get, as root or
# through passwordless sudo. Where neither works it says how to get one and
# exits 0: the test then skips, or fails under CI=true.
set -euo pipefail

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
    echo "chromium: none found and not root; install Chromium (Debian/Ubuntu: apt-get install chromium) or set INFERGATE_CHROMIUM" >&2
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: none found and no apt-get; install Chromium or set INFERGATE_CHROMIUM" >&2
  exit 0
fi
echo "chromium: installing Debian's chromium package for the HTML report's browser test" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends chromium; } >/dev/null; then
  echo "chromium: apt-get could not install chromium; install Chromium or set INFERGATE_CHROMIUM" >&2
fi
