#!/usr/bin/env bash
# The test command: installs the S3 and SQS test servers, vets, runs every test
# (unit, golden, corpus conformance, integration on versitygw, crash), then
# a short run of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
./scripts/install-versitygw.sh
./scripts/install-browser.sh || export TRAWL_UI_UNAVAILABLE=1
./scripts/install-iceberg-reader.sh || export TRAWL_ICEBERG_READER_UNAVAILABLE=1
# fauxqs (SQS); when it cannot be installed, the SQS tests skip, or fail under CI.
./scripts/install-sqs-server.sh || true
./scripts/install-postgres.sh
# openssl signs the digests of the audit's independent signature check.
if ! command -v openssl >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl) >/dev/null 2>&1 || true
fi
echo "== lint (gofmt, go mod tidy, go vet)" >&2
make --no-print-directory lint
echo "== go test" >&2
go test -count=1 -timeout 30m ./...
echo "== the catalog's, the lake's and the integration tests again, with the catalog in PostgreSQL" >&2
# (The tests of several nodes always run on PostgreSQL: once is enough.)
TRAWL_TEST_CATALOG=postgres go test -count=1 -timeout 30m -skip 'TestCluster|TestNodesShareAConnector|TestLeaseFencing|TestS3Lake|TestPostgresCatalog' \
  ./internal/catalog/ ./internal/app/ ./test/integration/
echo "== race detector (collector, filters, planner, query)" >&2
go test -race -count=1 ./internal/collect/ ./internal/filter/ ./internal/prefix/ ./internal/query/
echo "== fuzz (short)" >&2
FUZZTIME="${FUZZTIME:-5s}" ./scripts/fuzz.sh
