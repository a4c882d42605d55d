// Command trawl collects AWS security logs from S3 and makes them
// searchable. See `trawl --help`.
package main

import (
	"context"
	"os"
	"os/signal"
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
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
