#!/usr/bin/env bash
# Benchmarks: decoder, query parser and lake commits, then end-to-end
# CloudTrail ingest over a generated corpus (TRAWL_BENCH_MB decompressed,
# default 200) next to a plain gzip decompression of the same objects.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(go version)"
go test -run '^$' -bench . -benchmem -benchtime 20x ./internal/format/... ./internal/query/ ./internal/segment/ ./internal/app/
./scripts/install-versitygw.sh
./scripts/install-postgres.sh
./scripts/install-sqs-server.sh
go test -run '^$' -bench . -benchmem -benchtime 1x -timeout 30m ./test/bench/ | tee /tmp/trawl-bench.txt
awk '/BenchmarkIngestCloudTrail/{for(i=1;i<=NF;i++) if($(i+1)=="ns/op") ing=$i}
     /BenchmarkGunzipBaseline/{for(i=1;i<=NF;i++) if($(i+1)=="ns/op") gz=$i}
     END { if (ing && gz) printf "ingest/gunzip time ratio: %.1fx (ingest %.2fs, gunzip %.2fs)\n", ing/gz, ing/1e9, gz/1e9 }' /tmp/trawl-bench.txt

# The performance harness: per sub type from versitygw to lake rows next
# to gunzip, peak RSS on a ~1 GB object, search latency over 10M records,
# `trawl serve` reading its queue (latency, and at steady state: CPU per GB,
# lag and peak RSS at TRAWL_PERF_STEADY_RATE records/s, default 20,000).
TRAWL_PERF=1 go test -count=1 -run 'TestPerf' -v -timeout 60m ./test/bench/ | grep -vE '^(=== RUN|--- PASS|PASS$)'
