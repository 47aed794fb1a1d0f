#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests (playwright-core
# drives /usr/bin/chromium; a downloaded browser is never used). Installs it with
# apt-get when it is missing and this shell may (root); otherwise says what to run.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "chromium: /usr/bin/chromium is missing; install it with: sudo apt-get install -y chromium" >&2
    exit 1
  fi
  echo "chromium: installing Debian's chromium (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update </dev/null
  apt-get install -y chromium </dev/null
fi
# Debian's wrapper script prints a harmless shell warning on some machines; keep
# only the version line.
/usr/bin/chromium --version 2>/dev/null </dev/null
