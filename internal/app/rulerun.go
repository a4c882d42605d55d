package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/detect"
	"github.com/trawlhq/trawl/internal/query"
)

// RuleRun is what a run of a rule over a past period did.
type RuleRun = apiv1.RuleRun

// maxRunPeriod bounds one run of a rule: a longer period is run in parts
// (the CLI and the console do, a day at a time, showing progress).
const maxRunPeriod = 31 * 24 * time.Hour

// RunRule evaluates a tenant's rule, single-event or count, over [from,
// to) as the schedule would, in the schedule's windows, and stores its
// alerts as the schedule does: an alert already stored (same rule, window
// and group) takes in new records, so running twice adds nothing. The
// rule's schedule mark does not move. A rule switched off runs too: this
// is the analyst asking.
func (a *App) RunRule(ctx context.Context, sc Scope, tenant, id string, from, to time.Time) (*RuleRun, error) {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return nil, err
	}
	now := a.now().UTC()
	if to.IsZero() || to.After(now) {
		to = now
	}
	switch {
	case from.IsZero():
		return nil, ruleProblem("from", "a rule runs over a period: give its start (from)")
	case !from.Before(to):
		return nil, ruleProblem("from", fmt.Sprintf("from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339)))
	case to.Sub(from) > maxRunPeriod:
		return nil, ruleProblem("to", fmt.Sprintf("a run covers at most %d days; run longer periods in parts (trawl rules run does, a day at a time)", int(maxRunPeriod.Hours()/24)))
	}
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	r, err := a.tenantRule(ctx, t, id)
	if err != nil {
		return nil, err
	}
	if err := a.checkRule(ctx, r, now); err != nil {
		return nil, err
	}
	step := eventStep
	if r.Count != nil {
		step = r.Timeframe
	}
	// The schedule's windows (aligned on the step), so a run and the
	// schedule find the same alerts under the same ids.
	start, end := from.Truncate(step), to.Truncate(step)
	if end.Before(to) {
		end = end.Add(step)
	}
	run := &RuleRun{Rule: r.ID, Tenant: t, From: start, To: end}
	if err := a.runWindows(ctx, t, r, now, start, end, step, run); err != nil {
		return nil, err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, t, "rule.run", r.ID, fmt.Sprintf("%s to %s: %d windows, %d new alerts",
		start.Format(time.RFC3339), end.Format(time.RFC3339), run.Windows, run.Alerts))
	return run, nil
}

// runWindows evaluates [start, end) a span of ruleMaxWindows windows at a
// time (one search when its matches fit, else window by window) and
// stores each span's alerts.
func (a *App) runWindows(ctx context.Context, tenant string, r *detect.Rule, now, start, end time.Time, step time.Duration, run *RuleRun) error {
	s := ruleIndex(r)
	b, err := r.Bind(s, now)
	if err != nil {
		return err
	}
	for from := start; from.Before(end); {
		to := from.Add(ruleMaxWindows * step)
		if to.After(end) {
			to = end
		}
		alerts, ok, err := a.evaluateSpan(ctx, tenant, r, b, s, from, to, step)
		if err != nil {
			return err
		}
		if !ok {
			alerts = nil
			for w := from; w.Before(to); w = w.Add(step) {
				as, err := a.evaluateWindow(ctx, tenant, r, s, w, w.Add(step))
				if err != nil {
					return err
				}
				alerts = append(alerts, as...)
			}
		}
		added, err := a.lake.MergeAlerts(ctx, alerts)
		if err != nil {
			return err
		}
		run.Windows += int(to.Sub(from) / step)
		run.Alerts += added
		run.Found += len(alerts)
		from = to
	}
	return nil
}

// tenantRule is one of a tenant's rules (with its exceptions applied).
func (a *App) tenantRule(ctx context.Context, tenant, id string) (*detect.Rule, error) {
	rules, _, _, err := a.tenantRules(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, fmt.Errorf("rule %s of tenant %s: %w", id, tenant, ErrNotFound)
}

// RuleException is a tenant's exclusion from a rule.
type RuleException = apiv1.RuleException

// maxExceptions bounds a rule's exceptions per tenant (each one is a
// term of every evaluation's query).
const maxExceptions = 50

// AddRuleException excludes what query matches from a tenant's rule, at
// every evaluation from now on (the schedule's, the detector's, a run's);
// alerts already raised stay. The query is the search language's, checked
// against the rule's index.
func (a *App) AddRuleException(ctx context.Context, sc Scope, tenant, ruleID, q, reason string) (*RuleException, error) {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return nil, err
	}
	r, err := a.tenantRule(ctx, t, ruleID)
	if err != nil {
		return nil, err
	}
	if err := a.checkException(ctx, r, q, reason); err != nil {
		return nil, err
	}
	have, err := a.lake.RuleExceptions(ctx, t)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, e := range have {
		if e.RuleID == ruleID {
			n++
		}
	}
	if n >= maxExceptions {
		return nil, ruleProblem("query", fmt.Sprintf("rule %s has %d exceptions, the most it takes: fold some into one query (a OR b)", ruleID, n))
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	e := catalog.RuleException{ID: "exc-" + hex.EncodeToString(b[:]), Tenant: t, RuleID: ruleID, Query: strings.TrimSpace(q),
		Reason: strings.TrimSpace(reason), Author: sc.Actor, Created: a.now().UTC()}
	if err := a.lake.AddRuleException(ctx, e); err != nil {
		return nil, err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, t, "rule.except", ruleID, e.ID+": "+e.Query)
	out := publicException(e)
	return &out, nil
}

// checkException refuses an exception that would not evaluate, or has no
// reason: an exclusion nobody can explain later is how detections rot.
func (a *App) checkException(ctx context.Context, r *detect.Rule, q, reason string) error {
	n, err := query.Parse(strings.TrimSpace(q))
	if strings.TrimSpace(q) == "" {
		return ruleProblem("query", "an exception is a query of what to exclude, e.g. user.name:\"ci-deployer\"")
	}
	if err != nil {
		return ruleProblem("query", err.Error())
	}
	if msg := textProblem(reason, maxNoteBytes, true); msg != "" || strings.TrimSpace(reason) == "" {
		if msg == "" {
			msg = "say why the exclusion is safe (who reviewed it, which system it is)"
		}
		return ruleProblem("reason", msg)
	}
	for _, f := range fieldsOf(n) {
		if f == "tenant" || f == "index" {
			return ruleProblem("query", fmt.Sprintf("an exception applies within its tenant and the rule's index already: drop %s: from it", f))
		}
	}
	x := *r
	x.Query = query.And{L: r.Query, R: query.Not{X: n}}
	// Run as evaluation runs it (the engine reads it), so an exception
	// that would stop the rule is refused here, not found failing later.
	if err := a.checkRule(ctx, &x, a.now()); err != nil {
		return ruleProblem("query", fmt.Sprintf("the rule with this exception does not evaluate: %v", err))
	}
	return nil
}

// fieldsOf are the fields a query names.
func fieldsOf(n query.Node) []string {
	switch x := n.(type) {
	case query.And:
		return append(fieldsOf(x.L), fieldsOf(x.R)...)
	case query.Or:
		return append(fieldsOf(x.L), fieldsOf(x.R)...)
	case query.Not:
		return fieldsOf(x.X)
	case query.Term:
		return []string{x.Field}
	case query.Range:
		return []string{x.Field}
	case query.Exists:
		return []string{x.Field}
	}
	return nil
}

// DeleteRuleException removes an exception; later evaluations alert on
// what it excluded.
func (a *App) DeleteRuleException(ctx context.Context, sc Scope, tenant, ruleID, id string) error {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return err
	}
	if err := a.lake.DeleteRuleException(ctx, t, ruleID, id); err != nil {
		return err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, t, "rule.unexcept", ruleID, id)
	return nil
}

// withExceptions returns the rules with each one's exceptions of the
// tenant folded into its query (rule AND NOT exception...), so every
// evaluation and the rule's hunt exclude them alike; the rules given are
// not changed.
func (a *App) withExceptions(ctx context.Context, tenant string, rules []*detect.Rule) ([]*detect.Rule, map[string][]RuleException, error) {
	es, err := a.lake.RuleExceptions(ctx, tenant)
	if err != nil || len(es) == 0 {
		return rules, nil, err
	}
	by := map[string][]RuleException{}
	for _, e := range es {
		by[e.RuleID] = append(by[e.RuleID], publicException(e))
	}
	out := make([]*detect.Rule, len(rules))
	for i, r := range rules {
		out[i] = r
		for _, e := range by[r.ID] {
			n, err := query.Parse(e.Query)
			if err != nil {
				// Checked when added; a query the language no longer
				// parses excludes nothing rather than stopping the rule.
				a.log.Warn("a rule exception no longer parses; it is not applied", "tenant", tenant, "rule", r.ID, "exception", e.ID, "err", err)
				continue
			}
			if out[i] == r {
				c := *r
				out[i] = &c
			}
			out[i].Query = query.And{L: out[i].Query, R: query.Not{X: n}}
		}
	}
	return out, by, nil
}

func publicException(e catalog.RuleException) RuleException {
	return RuleException{ID: e.ID, RuleID: e.RuleID, Tenant: e.Tenant, Query: e.Query, Reason: e.Reason, Author: e.Author, Created: e.Created}
}
