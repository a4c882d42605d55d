#!/usr/bin/env bash
# Installs fauxqs, the SQS server the SQS tests run on loopback (npm ci in
# test/sqs; test/sqs/server.mjs starts it, internal/testutil/sqsserver runs
# that with node). Exits non-zero, loudly, when it cannot; the SQS tests
# then skip, except under CI (CI set) where they fail.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/npm.sh
if ! command -v node >/dev/null || ! "${NPM[@]}" --version >/dev/null 2>&1; then
  echo "!!!!!!!! WARNING: node or npm is missing: the SQS tests (fauxqs) are SKIPPED, or FAIL under CI !!!!!!!!" >&2
  exit 1
fi
# fauxqs 1.9.2 needs Node >= 20 (2.x needs >= 22.5, for node:sqlite).
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  echo "!!!!!!!! WARNING: node $(node --version) is older than 20, which fauxqs needs: the SQS tests are SKIPPED, or FAIL under CI !!!!!!!!" >&2
  exit 1
fi
(cd test/sqs && "${NPM[@]}" ci --no-audit --no-fund --loglevel=error >/dev/null) || {
  echo "!!!!!!!! WARNING: npm ci failed in test/sqs: the SQS tests (fauxqs) are SKIPPED, or FAIL under CI !!!!!!!!" >&2
  exit 1
}
