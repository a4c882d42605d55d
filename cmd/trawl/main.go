// Command trawl collects AWS security logs from S3 and makes them
// searchable. See `trawl --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/trawlhq/trawl/internal/cli"
)

func main() {
	// Every file Trawl creates is its own: the catalog (and the WAL DuckDB
	// creates later, with the mode it chooses), segments, server.json. Its
	// connectors' webhooks, external IDs and sealed secrets are no other
	// local user's business, whatever the operator's umask.
	syscall.Umask(0o077)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// TRAWL_CPU_PROFILE=FILE writes the command's CPU profile (go tool
	// pprof reads it): where the shipped binary's time goes, measured on
	// the binary itself (docs/benchmarks.md).
	endProfile := startProfile(os.Getenv("TRAWL_CPU_PROFILE"))
	tuneGC()
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	endProfile()
	stop()
	os.Exit(code)
}

// tuneGC collects garbage less often than Go's default unless GOGC or
// GOMEMLIMIT says otherwise: ingest allocates a record's strings and
// then drops them, and at GOGC=100 the collector's write barriers and
// marking cost a tenth of a collection (VPC flow, 900,000 records: 8.0 s
// and 8.7 s at 100 against 7.4 s and 7.7 s at 300, peak RSS unchanged
// at 260 MB: DuckDB's memory, not Go's, is most of it). The soft limit
// keeps the Go heap of one process near what the default would have let
// it reach on a large object: past it the collector runs as often as it
// must.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}

func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "trawl: TRAWL_CPU_PROFILE: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "trawl: TRAWL_CPU_PROFILE: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
