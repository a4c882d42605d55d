#!/usr/bin/env bash
# Installs the independent clients of the lake's Iceberg tables (npm ci in
# test/iceberg): icebird, the reader TestIcebergIndependentReader runs with
# node, and iceberg-js, the REST catalog client of TestIcebergRESTCatalog
# (which reads with icebird too). Exits non-zero, loudly, when it cannot;
# those tests then skip.
set -uo pipefail
cd "$(dirname "$0")/.."
# npm: on PATH, else the copy Node.js ships under /usr/lib/node_modules,
# else Debian's (as in install-browser.sh).
NPM=(npm)
if ! command -v npm >/dev/null; then
  cli=$(ls /usr/lib/node_modules/npm/bin/npm-cli.js /usr/lib/node_modules/.npm-*/bin/npm-cli.js 2>/dev/null | head -1)
  if [ -n "$cli" ] && command -v node >/dev/null; then
    NPM=(node "$cli")
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null 2>&1
  fi
fi
if ! command -v node >/dev/null || ! "${NPM[@]}" --version >/dev/null 2>&1; then
  echo "!!!!!!!! WARNING: node or npm is missing: the independent Iceberg reader test is SKIPPED !!!!!!!!" >&2
  exit 1
fi
(cd test/iceberg && "${NPM[@]}" ci --no-audit --no-fund --loglevel=error >/dev/null) || {
  echo "!!!!!!!! WARNING: npm ci failed in test/iceberg: the independent Iceberg reader test is SKIPPED !!!!!!!!" >&2
  exit 1
}
