# Trawl: collect AWS security logs from S3 and make them searchable.
GO ?= go
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
BIN := bin/trawl

.PHONY: build demo test test-reliability bench soak lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/trawl

# Runs the demo: a sample CloudTrail bucket in a local folder, collected,
# searchable in the console at http://127.0.0.1:8080.
demo: build
	./$(BIN) demo

# The full test suite, installing what it needs (versitygw).
test:
	./scripts/test.sh

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
