package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/connector"
)

// cmdAudit runs the digest audit of CloudTrail connectors (one by name, or
// all) and prints each hour's verdict. The exit code is 1 when any file is
// missing or altered, so a cron job or CI step can alert on it.
func cmdAudit(ctx context.Context, g *globals, args []string) error {
	fs := newFlags(g, "audit")
	tenant := fs.String("tenant", "", "tenant of the connectors")
	from := fs.String("from", "-24h", "first hour to audit (RFC 3339, a date, or back from now: -24h, -7d)")
	to := fs.String("to", "now", "end of the audited period")
	format := fs.String("format", "table", "table or json")
	pos, err := parse(g, fs, args)
	if err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usageErr("--format is table or json")
	}
	if len(pos) > 1 {
		return usageErr("audit [NAME]")
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	var targets []connector.Connector
	if len(pos) == 1 {
		c, err := findConnector(ctx, b, *tenant, pos[0])
		if err != nil {
			return err
		}
		targets = append(targets, *c)
	} else {
		list, err := b.ListConnectors(ctx, *tenant)
		if err != nil {
			return err
		}
		for _, c := range list {
			if c.SubType == connector.CloudTrail {
				targets = append(targets, c)
			}
		}
	}
	all := []app.AuditResult{}
	for _, c := range targets {
		rs, err := b.AuditDigests(ctx, c.ID, *from, *to)
		if err != nil {
			return fmt.Errorf("audit %s: %w", c.Name, err)
		}
		all = append(all, rs...)
	}
	if *format == "json" {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(all); err != nil {
			return err
		}
	} else {
		printAudit(g, all)
	}
	bad := 0
	for _, r := range all {
		bad += len(r.Missing) + len(r.Altered)
	}
	if bad > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("audit: %s missing or altered", app.Plural(bad, "log file"))}
	}
	return nil
}

func printAudit(g *globals, rs []app.AuditResult) {
	tw := g.table()
	fmt.Fprintln(tw, "CONNECTOR\tACCOUNT\tREGION\tHOUR (UTC)\tSTATUS\tFILES\tDETAIL")
	counts := map[string]int{}
	for _, r := range rs {
		counts[r.Status]++
		var detail []string
		for _, k := range r.Missing {
			detail = append(detail, "missing "+k)
		}
		for _, k := range r.Altered {
			detail = append(detail, "altered "+k)
		}
		if len(r.Unlisted) > 0 {
			detail = append(detail, app.Plural(len(r.Unlisted), "collected file")+" in no digest")
		}
		if r.Reason != "" {
			detail = append(detail, r.Reason)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Connector, r.Account, r.Region, r.Hour.Format("2006-01-02 15:04"), r.Status, r.Files, strings.Join(detail, "; "))
	}
	tw.Flush()
	fmt.Fprintf(g.stdout, "%s: %d verified, %d missing, %d altered, %d unlisted, %d unverifiable\n", app.Plural(len(rs), "hour"),
		counts["verified"], counts["missing"], counts["altered"], counts["unlisted"], counts["unverifiable"])
}
