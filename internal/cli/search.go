package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/client"
)

func cmdSearch(ctx context.Context, g *globals, args []string) error {
	fs := newFlags(g, "search")
	var p client.SearchParams
	index := fs.String("index", "", "aws_events or traffic (default both)")
	fs.StringVar(&p.Tenant, "tenant", "", "tenant")
	fs.StringVar(&p.From, "from", "-24h", "start: RFC3339 or a duration back such as -24h")
	fs.StringVar(&p.To, "to", "", "end (default now)")
	fs.IntVar(&p.Limit, "limit", 100, "maximum records")
	count := fs.Bool("count", false, "print only the number of matching records")
	format := fs.String("format", "table", "table, json, ndjson or csv (csv: every matching record, streamed, unless --limit is given)")
	columns := fs.String("columns", "", "csv: the columns, comma-separated (default every field of the indices)")
	pos, err := parse(g, fs, args)
	if err != nil {
		return err
	}
	if *index != "" {
		p.Indices = strings.Split(*index, ",")
	}
	p.Query = strings.Join(pos, " ")
	switch *format {
	case "table", "json", "ndjson", "csv":
	default:
		return usageErr("--format is table, json, ndjson or csv")
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	if *count {
		n, err := b.Count(ctx, p)
		if err != nil {
			return err
		}
		fmt.Fprintln(g.stdout, n)
		return nil
	}
	cols := app.ExportColumns(p.Indices)
	if *columns != "" {
		cols = strings.Split(*columns, ",")
	}
	if *format == "csv" && !(&flagSet{fs}).set()["limit"] {
		return b.Export(ctx, p, "csv", cols, g.stdout)
	}
	res, err := b.Search(ctx, p)
	if err != nil {
		return err
	}
	switch *format {
	case "csv":
		return app.WriteRows(g.stdout, "csv", cols, res.Rows)
	case "json":
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res.Rows)
	case "ndjson":
		enc := json.NewEncoder(g.stdout)
		for _, r := range res.Rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	return printTable(g, res.Rows)
}

func printTable(g *globals, rows []apiv1.Row) error {
	cols := []string{"timestamp", "index", "msg_class", "cloud.account_id", "srcip", "user.name", "event_name", "action", "dstip", "dstport", "error_code"}
	// Show only columns some row has.
	var show []string
	for _, c := range cols {
		for _, r := range rows {
			if _, ok := r[c]; ok {
				show = append(show, c)
				break
			}
		}
	}
	if len(show) == 0 {
		fmt.Fprintln(g.stdout, "no records")
		return nil
	}
	tw := g.table()
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(show, "\t")))
	for _, r := range rows {
		vals := make([]string, len(show))
		for i, c := range show {
			vals[i] = cell(r[c])
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	return tw.Flush()
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case string:
		if x == "" {
			return "-"
		}
		return oneLine(x)
	}
	return oneLine(fmt.Sprint(v))
}

func cmdQuarantine(ctx context.Context, g *globals, args []string) error {
	if len(args) > 0 && args[0] == "retry" {
		return quarantineRetry(ctx, g, args[1:])
	}
	if len(args) == 0 || args[0] != "list" {
		return usageErr("quarantine list|retry [--connector NAME] [--tenant T]")
	}
	fs := newFlags(g, "quarantine list")
	name := fs.String("connector", "", "connector name")
	tenant := fs.String("tenant", "", "tenant")
	limit := fs.Int("limit", 100, "maximum entries")
	asJSON := fs.Bool("json", false, "JSON output")
	if _, err := parse(g, fs, args[1:]); err != nil {
		return err
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	id := ""
	if *name != "" {
		c, err := findConnector(ctx, b, *tenant, *name)
		if err != nil {
			return err
		}
		id = c.ID
	}
	items, err := b.Quarantine(ctx, *tenant, id, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(g.stdout).Encode(items)
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	tw := g.table()
	fmt.Fprintln(tw, "CONNECTOR\tTENANT\tKEY\tSCOPE\tPOSITION\tREASON")
	for _, it := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", it.Connector, it.Tenant, oneLine(it.Key), it.Scope, it.Position, oneLine(it.Reason))
	}
	return tw.Flush()
}

func quarantineRetry(ctx context.Context, g *globals, args []string) error {
	fs := newFlags(g, "quarantine retry")
	name := fs.String("connector", "", "connector name (default: every connector)")
	tenant := fs.String("tenant", "", "tenant")
	if _, err := parse(g, fs, args); err != nil {
		return err
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	list, err := b.ListConnectors(ctx, *tenant)
	if err != nil {
		return err
	}
	tw := g.table()
	fmt.Fprintln(tw, "CONNECTOR\tRESOLVED\tSTILL_BAD\tOBJECTS_REQUEUED")
	found := false
	for _, c := range list {
		if *name != "" && c.Name != *name {
			continue
		}
		found = true
		r, err := b.RetryQuarantine(ctx, c.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", c.Name, r.Resolved, r.StillBad, r.ObjectsQueued)
	}
	if !found {
		return &exitError{code: 1, msg: fmt.Sprintf("no connector named %q", *name)}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(g.stdout, "requeued objects are read again at the next run (trawl collect --once)")
	return nil
}
