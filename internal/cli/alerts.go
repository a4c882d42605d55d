package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/detect"
)

// cmdAlerts lists the alerts the detection rules raised; --evaluate first
// evaluates the rules over the windows that closed (the server does it
// every minute).
func cmdAlerts(ctx context.Context, g *globals, args []string) error {
	fs := newFlags(g, "alerts")
	since := fs.String("since", "-24h", "windows from this time (RFC 3339, a date, or -24h, -7d)")
	level := fs.String("level", "", "only this level: informational, low, medium, high or critical")
	tenant := fs.String("tenant", "", "only this tenant (root)")
	rule := fs.String("rule", "", "only this rule id")
	format := fs.String("format", "table", "table, json or ndjson")
	evaluate := fs.Bool("evaluate", false, "evaluate the rules now before listing (root)")
	if _, err := parse(g, fs, args); err != nil {
		return err
	}
	switch *format {
	case "table", "json", "ndjson":
	default:
		return usageErr("--format is table, json or ndjson")
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	if *evaluate {
		if _, err := b.EvaluateRules(ctx); err != nil {
			return err
		}
	}
	as, err := b.Alerts(ctx, app.AlertFilter{Tenant: *tenant, Level: *level, RuleID: *rule}, *since)
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		if as == nil {
			as = []app.Alert{}
		}
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(as)
	case "ndjson":
		enc := json.NewEncoder(g.stdout)
		for _, a := range as {
			if err := enc.Encode(a); err != nil {
				return err
			}
		}
		return nil
	}
	tw := g.table()
	fmt.Fprintln(tw, "WINDOW\tLEVEL\tTENANT\tRULE\tGROUP\tCOUNT\tQUERY")
	for _, a := range as {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.WindowStart.UTC().Format(time.RFC3339), strings.ToUpper(a.Level), a.Tenant, oneLine(a.Rule), oneLine(a.Group), a.Count, oneLine(a.Query))
	}
	return tw.Flush()
}

// cmdRules manages a tenant's detection rules: list, add FILE.yml,
// enable|disable|delete ID, and the alert webhook.
func cmdRules(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 {
		return usageErr("rules list|add FILE.yml|enable ID|disable ID|delete ID|webhook [URL|--clear] [--tenant T]")
	}
	verb := args[0]
	fs := newFlags(g, "rules "+verb)
	tenant := fs.String("tenant", "", "the tenant (a tenant token's own by default; root names one)")
	format := fs.String("format", "table", "list: table or json")
	clear := fs.Bool("clear", false, "webhook: remove the tenant's webhook")
	pos, err := parse(g, fs, args[1:])
	if err != nil {
		return err
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	switch verb {
	case "list":
		rs, err := b.Rules(ctx, *tenant)
		if err != nil {
			return err
		}
		return printRules(g, rs, *format)
	case "add":
		if len(pos) != 1 {
			return usageErr("rules add FILE.yml [--tenant T]")
		}
		src, err := os.ReadFile(pos[0])
		if err != nil {
			return err
		}
		r, err := b.AddRule(ctx, *tenant, src)
		if err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		fmt.Fprintf(g.stdout, "added rule %s (%s, %s) for tenant %s; its hunt: %s\n", r.ID, r.Title, r.Level, r.Tenant, r.Hunt)
		return nil
	case "webhook":
		switch {
		case *clear:
			return b.SetWebhook(ctx, *tenant, "")
		case len(pos) == 1:
			if err := b.SetWebhook(ctx, *tenant, pos[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "new alerts will be posted to %s\n", pos[0])
			return nil
		}
		u, err := b.GetWebhook(ctx, *tenant)
		if err != nil {
			return err
		}
		if u == "" {
			u = "(none)"
		}
		fmt.Fprintln(g.stdout, u)
		return nil
	case "enable", "disable", "delete":
		if len(pos) != 1 {
			return usageErr("rules %s ID [--tenant T]", verb)
		}
		// A bad id is refused here, before it reaches a URL (".." would
		// name another endpoint).
		if err := detect.CheckID(pos[0]); err != nil {
			return usageErr("invalid rule: id: %v (docs/detections.md)", err)
		}
		if verb == "delete" {
			return b.DeleteRule(ctx, *tenant, pos[0])
		}
		return b.SetRuleEnabled(ctx, *tenant, pos[0], verb == "enable")
	}
	return usageErr("rules list|add FILE.yml|enable ID|disable ID|delete ID [--tenant T]")
}

// printRules prints a tenant's rules as JSON or a table, with why each
// failed rule is skipped under the table.
func printRules(g *globals, rs []app.RuleInfo, format string) error {
	if format == "json" {
		return json.NewEncoder(g.stdout).Encode(rs)
	}
	tw := g.table()
	fmt.Fprintln(tw, "ID\tLEVEL\tSERVICE\tENABLED\tBUILT-IN\tSTATUS\tTITLE")
	var failed []app.RuleInfo
	for _, r := range rs {
		status := "ok"
		if r.Failed != "" {
			status, failed = "FAILED", append(failed, r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%s\t%s\n", oneLine(r.ID), oneLine(r.Level), r.Service, r.Enabled, r.Builtin, status, oneLine(r.Title))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range failed {
		fmt.Fprintf(g.stdout, "rule %s failed (since %s): %s\n", oneLine(r.ID), r.FailedAt.UTC().Format(time.RFC3339), oneLine(r.Failed))
	}
	return nil
}
