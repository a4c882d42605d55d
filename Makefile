# Trawl: collect AWS security logs from S3 and make them searchable.
GO ?= go
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
BIN := bin/trawl

.PHONY: build demo test test-cluster test-reliability bench soak lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/trawl

# Runs the demo: sample CloudTrail, VPC flow and WAF buckets in a local
# folder, collected, searchable in the console at http://127.0.0.1:8080.
# ARGS go to `trawl demo`: make demo ARGS="--addr 127.0.0.1:18080".
ARGS ?=
demo: build
	./$(BIN) demo $(ARGS)

# The full test suite, installing what it needs (versitygw).
test:
	./scripts/test.sh

# Several nodes on one PostgreSQL catalog and one S3 lake (versitygw): 3
# `trawl serve` nodes, 6 connectors over 3 tenants, objects arriving,
# kill -9 twice, a node paused past its leases; exact counts through every
# node, no duplicate, every node did work, takeover within 2 lease periods.
# A shorter TestCluster runs in `make test`.
test-cluster:
	./scripts/install-versitygw.sh
	./scripts/install-postgres.sh
	TRAWL_CLUSTER=full $(GO) test -count=1 -run 'TestCluster|TestNodesShareAConnector|TestLeaseFencing' -v -timeout 20m ./test/integration/ | grep -E '^(=== RUN|--- |PASS|FAIL|ok|    )'

# Crash-consistency tests with many kill rounds.
test-reliability:
	./scripts/install-versitygw.sh
	TRAWL_CRASH_ROUNDS=20 $(GO) test -count=1 -run 'Crash|Kill9|S3Faults|Revoked' -v -timeout 30m ./test/integration/ | grep -E '^(=== RUN|--- |PASS|FAIL|ok|    )'

bench:
	./scripts/bench.sh

# Minutes of upload at the highest rate the machine sustains while the
# server collects; reports records/s, peak RSS and lag (not part of CI).
soak:
	./scripts/install-versitygw.sh
	TRAWL_SOAK=1 TRAWL_SOAK_MINUTES=$${TRAWL_SOAK_MINUTES:-3} $(GO) test -count=1 -run TestSoak -v -timeout 60m ./test/integration/ | grep -E '^(--- |    |ok|FAIL)'


lint:
	@test -z "$$(gofmt -l . | grep -v '^.tools/')" || (gofmt -l . ; echo 'run gofmt -w .'; exit 1)
	@$(GO) mod tidy -diff >/dev/null || ($(GO) mod tidy -diff; echo 'go.mod or go.sum is not tidy: run go mod tidy'; exit 1)
	$(GO) vet ./...

fuzz:
	FUZZTIME=60s ./scripts/fuzz.sh

clean:
	rm -rf bin trawl-data trawl-demo
