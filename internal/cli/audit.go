package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/audit"
	"github.com/trawlhq/trawl/internal/connector"
)

// cmdAudit runs the digest audit of CloudTrail connectors (one by name, or
// all) and prints each hour's verdict. The exit code is 1 when any file is
// missing or altered, or a digest's signature does not verify or its chain
// is broken (the strongest sign of tampering), so a cron job or CI step can
// alert on it; an hour without a digest yet is no failure.
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
	// Pages are printed as they come: an audit of a week of an
	// organization's accounts is thousands of hours.
	out := newAuditPrinter(g, *format)
	for _, c := range targets {
		if err := b.AuditDigests(ctx, c.ID, *from, *to, out.page); err != nil {
			return fmt.Errorf("audit %s: %w", c.Name, err)
		}
	}
	if err := out.end(); err != nil {
		return err
	}
	if out.bad > 0 || out.tampered > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("audit: %s missing or altered, %s tampered with (a signature that does not verify or a broken chain)",
			app.Plural(out.bad, "log file"), app.Plural(out.tampered, "digest"))}
	}
	return nil
}

// auditPrinter prints audit results page by page: a JSON array, or a
// table with a summary line.
type auditPrinter struct {
	g      *globals
	json   bool
	tw     *tabwriter.Writer
	n      int
	counts map[string]int
	bad    int // files missing or altered
	// tampered counts hours whose digest's signature does not verify or
	// whose chain is broken.
	tampered int
}

func newAuditPrinter(g *globals, format string) *auditPrinter {
	p := &auditPrinter{g: g, json: format == "json", counts: map[string]int{}}
	if !p.json {
		p.tw = g.table()
		fmt.Fprintln(p.tw, "CONNECTOR\tACCOUNT\tREGION\tHOUR (UTC)\tSTATUS\tFILES\tDETAIL")
	}
	return p
}

func (p *auditPrinter) page(rs []app.AuditResult) error {
	for _, r := range rs {
		p.counts[r.Status]++
		p.bad += len(r.Missing) + r.MissingMore + len(r.Altered) + r.AlteredMore
		if audit.Tampered(r.Kind) {
			p.tampered++
		}
		if p.json {
			sep := ",\n"
			if p.n == 0 {
				sep = "[\n"
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetIndent("  ", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(r); err != nil {
				return err
			}
			if _, err := fmt.Fprintf(p.g.stdout, "%s  %s", sep, bytes.TrimRight(b.Bytes(), "\n")); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(p.tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Connector, oneLine(r.Account), oneLine(r.Region), r.Hour.Format("2006-01-02 15:04"), r.Status, r.Files, oneLine(auditDetail(r)))
		}
		p.n++
	}
	return nil
}

func (p *auditPrinter) end() error {
	if p.json {
		closing := "\n]\n"
		if p.n == 0 {
			closing = "[]\n"
		}
		_, err := fmt.Fprint(p.g.stdout, closing)
		return err
	}
	p.tw.Flush()
	_, err := fmt.Fprintf(p.g.stdout, "%s: %d verified, %d missing, %d altered, %d unlisted, %d unverifiable\n", app.Plural(p.n, "hour"),
		p.counts["verified"], p.counts["missing"], p.counts["altered"], p.counts["unlisted"], p.counts["unverifiable"])
	return err
}

// auditDetail is a result's keys and reason, with the count of the keys
// its lists leave out.
func auditDetail(r app.AuditResult) string {
	var detail []string
	for _, k := range r.Missing {
		detail = append(detail, "missing "+k)
	}
	if r.MissingMore > 0 {
		detail = append(detail, fmt.Sprintf("and %d more missing", r.MissingMore))
	}
	for _, k := range r.Altered {
		detail = append(detail, "altered "+k)
	}
	if r.AlteredMore > 0 {
		detail = append(detail, fmt.Sprintf("and %d more altered", r.AlteredMore))
	}
	if n := len(r.Unlisted) + r.UnlistedMore; n > 0 {
		detail = append(detail, app.Plural(n, "collected file")+" in no digest")
	}
	if r.Reason != "" {
		detail = append(detail, r.Reason)
	}
	return strings.Join(detail, "; ")
}
