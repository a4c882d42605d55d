#!/usr/bin/env bash
# Installs what the browser tests need: Debian's Chromium (as root, through
# apt) and playwright-core (npm ci in test/ui). Exits non-zero, loudly, when
# Chromium cannot be installed; the browser tests then skip.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests" >&2
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1
  fi
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "!!!!!!!! WARNING: Chromium could not be installed: the browser tests of the console are SKIPPED !!!!!!!!" >&2
  exit 1
fi
. scripts/npm.sh
if ! "${NPM[@]}" --version >/dev/null 2>&1; then
  echo "!!!!!!!! WARNING: npm is missing: the browser tests of the console are SKIPPED !!!!!!!!" >&2
  exit 1
fi
(cd test/ui && "${NPM[@]}" ci --no-audit --no-fund --loglevel=error >/dev/null) || {
  echo "!!!!!!!! WARNING: npm ci failed in test/ui: the browser tests of the console are SKIPPED !!!!!!!!" >&2
  exit 1
}
