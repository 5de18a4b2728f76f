#!/usr/bin/env bash
# The browser tests drive Debian's chromium (nothing is downloaded at run time). `make test` calls this first:
# it installs chromium when it can (as root, or with password-less sudo, through apt), and otherwise stops with
# the one command to run.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then SUDO="sudo"; else SUDO="none"; fi
  fi
  if [ "$SUDO" != "none" ]; then
    echo "Installing Debian's chromium for the browser tests..."
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
    exit 0
  fi
fi
echo "The browser tests need Debian's chromium at $CHROMIUM. Install it with:" >&2
echo "    sudo apt-get install chromium" >&2
exit 1
