package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/detect"
	"github.com/trawlhq/trawl/internal/query"
)

// cmdAlerts lists the alerts the detection rules raised; --evaluate first
// evaluates the rules over the windows that closed (the server does it
// every minute).
func cmdAlerts(ctx context.Context, g *globals, args []string) error {
	if len(args) > 0 && args[0] == "update" {
		return cmdAlertsUpdate(ctx, g, args[1:])
	}
	fs := newFlags(g, "alerts")
	since := fs.String("since", "-24h", "windows from this time (RFC 3339, a date, or -24h, -7d)")
	level := fs.String("level", "", "only this level: informational, low, medium, high or critical")
	tenant := fs.String("tenant", "", "only this tenant (root)")
	rule := fs.String("rule", "", "only this rule id")
	status := fs.String("status", "", "only alerts in this status: open, acknowledged or closed")
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
	if *level != "" && !slices.Contains(apiv1.AlertLevels(), *level) {
		return usageErr("--level is informational, low, medium, high or critical")
	}
	if *status != "" && !slices.Contains(apiv1.AlertStatuses(), *status) {
		return usageErr("--status is %s", strings.Join(apiv1.AlertStatuses(), ", "))
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
	as, err := b.Alerts(ctx, app.AlertFilter{Tenant: *tenant, Level: *level, RuleID: *rule, Status: *status}, *since)
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
	fmt.Fprintln(tw, "ID\tWINDOW\tLEVEL\tSTATUS\tASSIGNEE\tTENANT\tRULE\tGROUP\tCOUNT\tQUERY")
	for _, a := range as {
		st := a.Status
		if a.CloseReason != "" {
			st += " (" + a.CloseReason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.ID, a.WindowStart.UTC().Format(time.RFC3339), strings.ToUpper(a.Level), st, oneLine(a.Assignee),
			a.Tenant, oneLine(a.Rule), oneLine(a.Group), a.Count, oneLine(a.Query))
	}
	return tw.Flush()
}

// cmdAlertsUpdate triages alerts: alerts update ID... --status closed
// --reason false-positive --assignee NAME --note TEXT. Each alert is
// changed on its own (one refused does not stop the others) and the
// command fails if any was refused.
func cmdAlertsUpdate(ctx context.Context, g *globals, args []string) error {
	fs := newFlags(g, "alerts update")
	status := fs.String("status", "", "open, acknowledged or closed (closed needs --reason)")
	reason := fs.String("reason", "", "with --status closed: true-positive, false-positive or benign")
	assignee := fs.String("assignee", "", "who works the alert")
	unassign := fs.Bool("unassign", false, "remove the assignee")
	note := fs.String("note", "", "a note to append (who and when are recorded)")
	format := fs.String("format", "table", "table or json")
	ids, err := parse(g, fs, args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return usageErr("alerts update ID... [--status open|acknowledged|closed] [--reason R] [--assignee NAME|--unassign] [--note TEXT]")
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids))) // an id given twice is changed once
	var in app.AlertUpdate
	set := (&flagSet{fs}).set()
	if *unassign && set["assignee"] {
		return usageErr("--unassign and --assignee contradict each other: give one")
	}
	if set["status"] {
		in.Status = status
	}
	if set["reason"] {
		in.Reason = reason
	}
	if set["assignee"] {
		in.Assignee = assignee
	}
	if *unassign {
		empty := ""
		in.Assignee = &empty
	}
	in.Note = *note
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	var failed int
	var out []*app.Alert
	for _, id := range ids {
		a, err := b.UpdateAlert(ctx, id, in)
		if err != nil {
			if len(ids) == 1 {
				return err
			}
			failed++
			fmt.Fprintf(g.stderr, "trawl: alert %s: %v\n", oneLine(id), err)
			continue
		}
		out = append(out, a)
	}
	if *format == "json" {
		if err := json.NewEncoder(g.stdout).Encode(out); err != nil {
			return err
		}
	} else {
		for _, a := range out {
			st := a.Status
			if a.CloseReason != "" {
				st += " (" + a.CloseReason + ")"
			}
			fmt.Fprintf(g.stdout, "alert %s: %s, assignee %s, %d notes\n", a.ID, st, orNone(oneLine(a.Assignee)), len(a.Notes))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d alerts were not changed (above)", failed, len(ids))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

const rulesHelp = `trawl rules: a tenant's Sigma detection rules (docs/detections.md)

  trawl rules list [--tenant T] [--format table|json]
  trawl rules add FILE.yml [--tenant T]          a tenant's own rule (refused, naming the line, if it would not evaluate)
  trawl rules enable|disable|delete ID [--tenant T]
  trawl rules run ID --from T [--to now] [--tenant T]
                                                 evaluate the rule over a past period (stored once however often run)
  trawl rules except ID --query Q --reason WHY [--tenant T]
  trawl rules unexcept ID EXCEPTION-ID [--tenant T]
  trawl rules webhook [URL [--status-changes] | --clear] [--tenant T]

A verb's flags: trawl rules VERB --help.
`

// cmdRules manages a tenant's detection rules: list, add FILE.yml,
// enable|disable|delete ID, and the alert webhook.
func cmdRules(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 {
		return usageErr("rules list|add FILE.yml|enable ID|disable ID|delete ID|webhook [URL|--clear] [--tenant T]")
	}
	verb := args[0]
	if verb == "-h" || verb == "--help" || verb == "help" {
		fmt.Fprint(g.stdout, rulesHelp)
		return nil
	}
	fs := newFlags(g, "rules "+verb)
	tenant := fs.String("tenant", "", "the tenant (a tenant token's own by default; root names one)")
	format := fs.String("format", "table", "list: table or json")
	clear := fs.Bool("clear", false, "webhook: remove the tenant's webhook")
	statusChanges := fs.Bool("status-changes", false, "webhook: also post each alert again when its triage changes (status, assignee, notes)")
	from := fs.String("from", "", "run: the start of the period (RFC 3339, a date, or -30d)")
	to := fs.String("to", "now", "run: the end of the period")
	q := fs.String("query", "", "except: what to exclude, in the search language (user.name:\"ci-deployer\")")
	reason := fs.String("reason", "", "except: why the exclusion is safe")
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
		return addRule(ctx, g, b, *tenant, pos)
	case "run":
		if len(pos) != 1 || *from == "" {
			return usageErr("rules run ID --from T [--to now] [--tenant T]")
		}
		return runRule(ctx, g, b, *tenant, pos[0], *from, *to)
	case "except":
		if len(pos) != 1 || *q == "" || *reason == "" {
			return usageErr("rules except ID --query Q --reason WHY [--tenant T]")
		}
		e, err := b.AddRuleException(ctx, *tenant, pos[0], *q, *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "exception %s added to rule %s for tenant %s: %s\n", e.ID, e.RuleID, e.Tenant, oneLine(e.Query))
		return nil
	case "unexcept":
		if len(pos) != 2 {
			return usageErr("rules unexcept ID EXCEPTION-ID [--tenant T]")
		}
		return b.DeleteRuleException(ctx, *tenant, pos[0], pos[1])
	case "webhook":
		return ruleWebhook(ctx, g, b, *tenant, pos, *clear, (&flagSet{fs}).set()["status-changes"], *statusChanges)
	case "enable", "disable", "delete":
		if len(pos) != 1 {
			return usageErr("rules %s ID [--tenant T]", verb)
		}
		// A bad id is refused here, before it reaches a URL (".." would
		// name another endpoint).
		if err := detect.CheckID(pos[0]); err != nil {
			return usageErr("invalid rule: id: %v (docs/detections.md)", err)
		}
		var err error
		if verb == "delete" {
			err = b.DeleteRule(ctx, *tenant, pos[0])
		} else {
			err = b.SetRuleEnabled(ctx, *tenant, pos[0], verb == "enable")
		}
		if err != nil {
			return err
		}
		// Said, so a script's log and an operator see what changed.
		fmt.Fprintf(g.stdout, "rule %s %sd%s\n", pos[0], verb, forTenant(*tenant))
		return nil
	}
	return usageErr("rules list|add FILE.yml|enable ID|disable ID|delete ID|run ID --from T|except ID --query Q --reason R|unexcept ID EXC [--tenant T]")
}

// addRule adds a tenant's Sigma rule from a file.
func addRule(ctx context.Context, g *globals, b backend, tenant string, pos []string) error {
	if len(pos) != 1 {
		return usageErr("rules add FILE.yml [--tenant T]")
	}
	src, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	r, err := b.AddRule(ctx, tenant, src)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	fmt.Fprintf(g.stdout, "added rule %s (%s, %s) for tenant %s; its hunt: %s\n", oneLine(r.ID), oneLine(r.Title), oneLine(r.Level), oneLine(r.Tenant), oneLine(r.Hunt))
	fmt.Fprintf(g.stdout, "its first evaluation looks back as far as the server's --rule-lookback (24 hours by default); to run it over older data: trawl rules run %s --from -30d%s\n", oneLine(r.ID), tenantFlag(tenant))
	return nil
}

// ruleWebhook shows, sets or clears a tenant's alert webhook.
func ruleWebhook(ctx context.Context, g *globals, b backend, tenant string, pos []string, clear, setStatus, statusChanges bool) error {
	switch {
	case clear:
		return b.SetWebhook(ctx, tenant, "")
	case len(pos) == 1 && setStatus:
		if err := b.SetWebhookWithStatusChanges(ctx, tenant, pos[0], statusChanges); err != nil {
			return err
		}
		what := "new alerts"
		if statusChanges {
			what = "new alerts and triage changes"
		}
		fmt.Fprintf(g.stdout, "%s will be posted to %s\n", what, pos[0])
		return nil
	case len(pos) == 1:
		if err := b.SetWebhook(ctx, tenant, pos[0]); err != nil {
			return err
		}
		on, err := b.WebhookStatusChanges(ctx, tenant)
		if err != nil {
			return err
		}
		what := "new alerts"
		if on {
			what = "new alerts and triage changes (kept from before; --status-changes=false stops them)"
		}
		fmt.Fprintf(g.stdout, "%s will be posted to %s\n", what, pos[0])
		return nil
	}
	u, err := b.GetWebhook(ctx, tenant)
	if err != nil {
		return err
	}
	on, err := b.WebhookStatusChanges(ctx, tenant)
	if err != nil {
		return err
	}
	switch {
	case u == "":
		u = "(none)"
	case on:
		u += " (new alerts and triage changes)"
	}
	fmt.Fprintln(g.stdout, u)
	return nil
}

// count is "1 alert", "2 alerts".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func tenantFlag(t string) string {
	if t == "" {
		return ""
	}
	return " --tenant " + t
}

// runDay is the part of a period one request runs: a day of windows, so
// a long period shows progress and an interrupted one has stored its
// finished days.
const runDay = 24 * time.Hour

// maxRunDays bounds one `rules run` (a request per day; each is in the
// actor log).
const maxRunDays = 400

// runRule runs a rule over [from, to) a day at a time, with progress on
// stderr, and prints what it found.
func runRule(ctx context.Context, g *globals, b backend, tenant, id, fromText, toText string) error {
	if err := detect.CheckID(id); err != nil {
		return usageErr("invalid rule: id: %v (docs/detections.md)", err)
	}
	now := time.Now()
	from, err := query.ParseTime(fromText, now)
	if err != nil {
		return usageErr("--from: %v", err)
	}
	to, err := query.ParseTime(toText, now)
	if err != nil {
		return usageErr("--to: %v", err)
	}
	if to.IsZero() || to.After(now) {
		to = now // the future holds no records yet
	}
	if to.Sub(from) > maxRunDays*runDay {
		return usageErr("--from %s: a run covers at most %d days; start later, or run older periods in parts", from.UTC().Format(time.RFC3339), maxRunDays)
	}
	if !from.Before(to) {
		return usageErr("--from %s is not before --to %s", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	total := max(1, int((to.Sub(from)+runDay-1)/runDay))
	progress := stderrIsTerminal(g)
	var sum apiv1.RuleRun
	// Each part starts where the last ended: the server widens a part to
	// the rule's windows, so parts never evaluate a window twice.
	for i, start := 0, from; start.Before(to); i++ {
		end := start.Add(runDay)
		if end.After(to) {
			end = to
		}
		run, err := b.RunRule(ctx, tenant, id, start, end)
		if err != nil {
			return fmt.Errorf("rule %s over %s to %s: %w", id, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), err)
		}
		if i == 0 {
			sum.From, sum.Rule, sum.Tenant = run.From, run.Rule, run.Tenant
		}
		sum.To = run.To
		sum.Windows += run.Windows
		sum.Found += run.Found
		sum.Alerts += run.Alerts
		if total > 1 && progress {
			fmt.Fprintf(g.stderr, "\rrule %s: %d of about %d days, %s (%d new)", id, i+1, total, count(sum.Found, "alert"), sum.Alerts)
		}
		if !run.To.After(start) {
			return fmt.Errorf("rule %s: the server ran %s to %s for a part starting at %s: it does not move forward", id, run.From, run.To, start)
		}
		start = run.To
	}
	if total > 1 && progress {
		fmt.Fprintln(g.stderr)
	}
	fmt.Fprintf(g.stdout, "rule %s of tenant %s over %s to %s: %s, %s found (%d new)\n",
		sum.Rule, sum.Tenant, sum.From.UTC().Format(time.RFC3339), sum.To.UTC().Format(time.RFC3339), count(sum.Windows, "window"), count(sum.Found, "alert"), sum.Alerts)
	return nil
}

// printRules prints a tenant's rules as JSON or a table, with why each
// failed rule is skipped under the table.
func printRules(g *globals, rs []app.RuleInfo, format string) error {
	if format == "json" {
		return json.NewEncoder(g.stdout).Encode(rs)
	}
	tw := g.table()
	fmt.Fprintln(tw, "ID\tLEVEL\tSERVICE\tENABLED\tBUILT-IN\tSTATUS\tEXCEPTIONS\tTITLE")
	var failed []app.RuleInfo
	for _, r := range rs {
		status := "ok"
		if r.Failed != "" {
			status, failed = "FAILED", append(failed, r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%s\t%d\t%s\n", oneLine(r.ID), oneLine(r.Level), r.Service, r.Enabled, r.Builtin, status, len(r.Exceptions), oneLine(r.Title))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range failed {
		since := ""
		if r.FailedAt != nil {
			since = " (since " + r.FailedAt.UTC().Format(time.RFC3339) + ")"
		}
		fmt.Fprintf(g.stdout, "rule %s failed%s: %s\n", oneLine(r.ID), since, oneLine(r.Failed))
	}
	for _, r := range rs {
		for _, e := range r.Exceptions {
			fmt.Fprintf(g.stdout, "rule %s excepts %s: %s (%s, by %s on %s)\n", oneLine(r.ID), e.ID, oneLine(e.Query), oneLine(e.Reason), oneLine(e.Author), e.Created.UTC().Format("2006-01-02"))
		}
	}
	return nil
}

// forTenant is " for tenant T", or "" for a tenant token's own.
func forTenant(tenant string) string {
	if tenant == "" {
		return ""
	}
	return " for tenant " + tenant
}
