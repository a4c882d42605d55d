// Command trawl collects AWS security logs from S3 and makes them
// searchable. See `trawl --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
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
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	endProfile()
	stop()
	os.Exit(code)
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
