#!/usr/bin/env bash
# Installs the independent clients of the lake's Iceberg tables (npm ci in
# test/iceberg): icebird, the reader TestIcebergIndependentReader runs with
# node, and iceberg-js, the REST catalog client of TestIcebergRESTCatalog
# (which reads with icebird too). Exits non-zero, loudly, when it cannot;
# those tests then skip.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/npm.sh
if ! command -v node >/dev/null || ! "${NPM[@]}" --version >/dev/null 2>&1; then
  echo "!!!!!!!! WARNING: node or npm is missing: the independent Iceberg reader test is SKIPPED !!!!!!!!" >&2
  exit 1
fi
(cd test/iceberg && "${NPM[@]}" ci --no-audit --no-fund --loglevel=error >/dev/null) || {
  echo "!!!!!!!! WARNING: npm ci failed in test/iceberg: the independent Iceberg reader test is SKIPPED !!!!!!!!" >&2
  exit 1
}
