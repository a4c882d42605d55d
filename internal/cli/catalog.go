package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/trawlhq/trawl/internal/app"
)

// cmdCatalog manages where the catalog lives: `catalog migrate --to URL`
// moves a data directory's embedded catalog into PostgreSQL. It opens the
// directory itself (no server may hold it) and prints the rows copied per
// table.
func cmdCatalog(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 || args[0] != "migrate" {
		return usageErr("catalog migrate --to postgres://USER@HOST:PORT/DB")
	}
	fs := newFlags(g, "catalog migrate")
	to := fs.String("to", "", "the PostgreSQL database to move the catalog to (empty)")
	format := fs.String("format", "table", "table or json")
	if _, err := parse(g, fs, args[1:]); err != nil {
		return err
	}
	if *to == "" {
		return usageErr("catalog migrate needs --to postgres://USER@HOST:PORT/DB")
	}
	rep, err := app.MigrateCatalog(ctx, appOptions(g), *to)
	if err != nil {
		return err
	}
	if *format == "json" {
		return json.NewEncoder(g.stdout).Encode(rep)
	}
	tables := make([]string, 0, len(rep.Tables))
	for t := range rep.Tables {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		fmt.Fprintf(g.stdout, "%-20s %s\n", t, app.Plural(int(rep.Tables[t]), "row"))
	}
	fmt.Fprintf(g.stdout, "the catalog of %s is now in PostgreSQL; the embedded one was kept as %s\n"+
		"run every command on this directory with --catalog (or TRAWL_CATALOG) set to the new URL\n",
		g.dataDir, filepath.Base(rep.Backup))
	return nil
}

// cmdNodes lists the nodes sharing the catalog, with their heartbeats.
func cmdNodes(ctx context.Context, g *globals, args []string) error {
	fs := newFlags(g, "nodes")
	format := fs.String("format", "table", "table or json")
	if _, err := parse(g, fs, args); err != nil {
		return err
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	ns, err := b.Nodes(ctx)
	if err != nil {
		return err
	}
	if *format == "json" {
		return json.NewEncoder(g.stdout).Encode(ns)
	}
	tw := g.table()
	fmt.Fprintln(tw, "NODE\tADDR\tLIVE\tSTARTED\tLAST SEEN")
	for _, n := range ns {
		name := n.Name
		if n.This {
			name += " (this)"
		}
		seen, started := "-", "-"
		if !n.SeenAt.IsZero() {
			seen, started = n.SeenAt.UTC().Format(time.RFC3339), n.StartedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", name, n.Addr, n.Live, started, seen)
	}
	return tw.Flush()
}
