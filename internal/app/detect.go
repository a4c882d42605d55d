package app

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/detect"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
	"github.com/trawlhq/trawl/internal/segment"
)

// Detection evaluation runs on schedule over the lake, window by window
// of event time (five minutes for a single-event rule, the timeframe for a
// count rule), each window once it ended ruleLateness ago (CloudTrail
// delivers within that) and once only: a mark per tenant and rule in the
// catalog moves, compare-and-set, in the transaction that stores the
// window's alerts. A record delivered later than ruleLateness after its
// event is not evaluated (the search still finds it).
const (
	eventStep      = 5 * time.Minute
	ruleLateness   = 15 * time.Minute
	ruleFirstLook  = 24 * time.Hour // by default, a rule's first evaluation looks this far back (Options.RuleLookback)
	ruleMaxWindows = 300            // per rule and tenant per evaluation (a day of five-minute windows)
	windowRecords  = 10000          // matches one search of many windows reads (more: window by window, counted in the lake)
)

// EvaluateRules evaluates the built-in detection rules for every tenant
// over the windows that closed since their marks (root only; the server
// does it every minute). A rule that fails is marked failed with its
// reason and the evaluation goes on with the others: one tenant's rule
// never stops another's.
func (a *App) EvaluateRules(ctx context.Context, sc Scope) (*EvaluationReport, error) {
	if !sc.Root {
		return nil, fmt.Errorf("evaluating the rules is the server's: %w", ErrForbidden)
	}
	// Registered work, so Close waits for it rather than closing the lake
	// under it.
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	// New alerts go to the tenants' webhooks after the evaluation, in the
	// background, outside evalMu (deferred first, so it runs after the
	// unlock); a delivery that fails is tried again next time.
	defer a.deliverAlerts(ctx)
	// One evaluation at a time in this process (the minute's and an
	// operator's): a second waits and then finds the windows done.
	a.evalMu.Lock()
	defer a.evalMu.Unlock()
	tenants, err := a.lake.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	rep := &EvaluationReport{}
	// What commits left unread first: the detector's alerts come before the
	// schedule's windows, which then find them raised.
	// A failure of either (the lake's: a rule's is marked and skipped)
	// stops nothing else; it is reported at the end.
	began := time.Now()
	det, err := a.detectQueued(ctx)
	a.log.Debug("detector read the committed segments", "segments", det.Segments, "alerts", det.Alerts, "took", time.Since(began))
	// The report counts the alerts commits raised at ingest since the
	// last one too: a collection without a server tells them that way.
	rep.Alerts += det.Alerts + int(a.lake.ingestAlerts.Swap(0))
	errs := []error{err}
	now := a.now().UTC()
	for _, tenant := range tenants {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if err := a.evaluateTenant(ctx, tenant, now, rep); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
		}
	}
	return rep, errors.Join(errs...)
}

// evaluateTenant evaluates a tenant's enabled rules one by one: a rule
// that fails is marked failed, one that evaluates again loses its mark.
// Only the end of ctx stops it.
func (a *App) evaluateTenant(ctx context.Context, tenant string, now time.Time, rep *EvaluationReport) error {
	rules, enabled, _, err := a.tenantRules(ctx, tenant)
	if err != nil {
		return err
	}
	failed, err := a.failedRules(ctx, tenant)
	if err != nil {
		return err
	}
	covered, err := a.coverRules(ctx, tenant, rules, enabled, failed, now, rep)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Each rule then takes the longer road below.
		a.log.Warn("moving the marks of the rules ingest evaluated failed; evaluating them one by one", "tenant", tenant, "err", err)
	}
	for _, r := range rules {
		if !enabled[r.ID] {
			continue
		}
		rep.Rules++
		if covered[r.ID] {
			continue
		}
		began := time.Now()
		err := a.evaluateRule(ctx, tenant, r, now, rep)
		a.log.Debug("rule evaluated over its closed windows", "tenant", tenant, "rule", r.ID, "took", time.Since(began), "err", err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case err != nil:
			rep.Failed++
			a.ruleFailed(ctx, tenant, r, err, failed)
		case failed[r.ID] != "":
			if err := a.lake.ClearRuleFailure(ctx, tenant, r.ID); err != nil {
				return err
			}
			a.log.Info("a detection rule that had failed evaluates again", "tenant", tenant, "rule", r.ID)
		}
	}
	return nil
}

// closedSpan is where a rule's evaluation begins (its mark, else the
// lookback) and the end of the last of its windows of step that closed
// (ended ruleLateness ago); closed says whether there is one.
func (a *App) closedSpan(now, mark time.Time, marked bool, step time.Duration) (from, last time.Time, closed bool) {
	from = now.Add(-a.ruleLookback()).Truncate(step)
	if marked {
		from = mark
	}
	end := now.Add(-ruleLateness).Truncate(step)
	if !from.Add(step).After(end) {
		return from, from.Add(end.Sub(from) / step * step), true
	}
	return from, from, false
}

// coverRules moves, without a search, the marks of a tenant's enabled
// single-event rules whose closed windows were read whole with the rule
// (at ingest, or by the detector), all of them with a query per index
// and one transaction (Catalog.CoveredSpans), and says which need no
// more: those, and those with no window closed yet. The others (a rule
// marked failed, one added or changed since the records were read, a
// count rule) are evaluated one by one. One by one, each rule cost a
// few statements a minute per tenant even with nothing to search.
func (a *App) coverRules(ctx context.Context, tenant string, rules []*detect.Rule, enabled map[string]bool, failed map[string]string, now time.Time, rep *EvaluationReport) (map[string]bool, error) {
	marks, err := a.lake.RuleMarks(ctx, tenant)
	if err != nil {
		return nil, err
	}
	covered := map[string]bool{}
	spans := map[string][]catalog.RuleSpan{}
	for _, r := range rules {
		if !enabled[r.ID] || r.Count != nil || failed[r.ID] != "" {
			continue
		}
		prev, ok := marks[r.ID]
		if from, last, closed := a.closedSpan(now, prev, ok, eventStep); closed {
			idx := ruleIndex(r).Index
			spans[idx] = append(spans[idx], catalog.RuleSpan{RuleID: r.ID, Hunt: r.Hunt(), Prev: prev, From: from, Last: last})
		} else {
			covered[r.ID] = true // no window has closed since its mark
		}
	}
	for idx, sp := range spans {
		moved, err := a.lake.CoveredSpans(ctx, tenant, idx, sp)
		if err != nil {
			return covered, err
		}
		for _, s := range sp {
			if moved[s.RuleID] {
				covered[s.RuleID] = true
				w := int(s.Last.Sub(s.From) / eventStep)
				rep.Windows += w
				rep.Covered += w
			}
		}
	}
	return covered, nil
}

// failedRules are a tenant's rules marked failed, with their reasons.
func (a *App) failedRules(ctx context.Context, tenant string) (map[string]string, error) {
	fs, err := a.lake.RuleFailures(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(fs))
	for _, f := range fs {
		out[f.RuleID] = f.Reason
	}
	return out, nil
}

// ruleFailed marks a tenant's rule failed with the reason (stored once per
// reason: known holds the marks already stored, and is updated).
func (a *App) ruleFailed(ctx context.Context, tenant string, r *detect.Rule, err error, known map[string]string) {
	reason, specific := failureReason(r, err)
	a.log.Warn("a detection rule failed to evaluate; it is skipped until fixed, the other rules go on", "tenant", tenant, "rule", r.ID, "err", err)
	if known[r.ID] == reason || (known[r.ID] != "" && !specific) {
		return // (a reason that says what to change is not replaced by one that does not)
	}
	if err := a.lake.SetRuleFailure(ctx, catalog.RuleFailure{Tenant: tenant, RuleID: r.ID, Reason: reason, At: time.Now()}); err != nil {
		a.log.Warn("recording a rule's failure failed", "tenant", tenant, "rule", r.ID, "err", err)
		return
	}
	known[r.ID] = reason
}

// ruleLookback is how far back a rule's first scheduled evaluation looks.
func (a *App) ruleLookback() time.Duration {
	if a.opt.RuleLookback > 0 {
		return a.opt.RuleLookback
	}
	return ruleFirstLook
}

// failureReason is what the rule's tenant is shown: a query's error says
// what to change (specific); anything else (the lake's, which may name
// files) is in the server's log.
func failureReason(r *detect.Rule, err error) (reason string, specific bool) {
	var qe *query.Error
	var ve *query.ValueError
	var fe *query.FieldError
	var ee *segment.EngineError
	if errors.As(err, &qe) || errors.As(err, &ve) || errors.As(err, &fe) || errors.As(err, &ee) {
		return fmt.Sprintf("its query fails: %v; fix the rule and add it again", err), true
	}
	return fmt.Sprintf("its evaluation failed (the server's log has the error, rule %s); fix or disable the rule", r.ID), false
}

func ruleIndex(r *detect.Rule) *interflow.Schema {
	if r.Logsource.Service == "vpcflow" {
		return interflow.Traffic()
	}
	return interflow.Events()
}

func (a *App) evaluateRule(ctx context.Context, tenant string, r *detect.Rule, now time.Time, rep *EvaluationReport) error {
	step := eventStep
	if r.Count != nil {
		step = r.Timeframe
	}
	s := ruleIndex(r)
	if err := a.checkRule(ctx, r, now); err != nil {
		return err
	}
	b, err := r.Bind(s, now)
	if err != nil {
		return err
	}
	mark, ok, err := a.lake.RuleMark(ctx, tenant, r.ID)
	if err != nil {
		return err
	}
	var prev time.Time // the mark as stored: the compare-and-set's old value
	if ok {
		prev = mark
	}
	from, last, closed := a.closedSpan(now, mark, ok, step)
	end := now.Add(-ruleLateness).Truncate(step)
	if closed {
		// All the windows that closed, with one search when they fit.
		if done, err := a.coveredByDetector(ctx, tenant, r, s, prev, from, last, rep); done || err != nil {
			return err
		}
		var alerts []catalog.Alert
		var ok bool
		if r.Count != nil {
			alerts, err = a.evaluateCountSpan(ctx, tenant, r, s, from, last, step)
			ok = err == nil
		} else {
			alerts, ok, err = a.evaluateSpan(ctx, tenant, r, b, s, from, last, step)
		}
		if err != nil && ctx.Err() == nil {
			// One search over the span may need more memory than the
			// lake's engine has (DuckDB ran out on a rule's JSON terms over
			// 80,000 CloudTrail records): the windows one by one read
			// less each. A window that fails too fails the rule.
			a.log.Debug("a rule's search over its windows failed; evaluating them one by one", "tenant", tenant, "rule", r.ID, "err", err)
			ok, err = false, nil
		}
		if err != nil {
			return err
		}
		if ok {
			added, err := a.lake.SaveAlerts(ctx, tenant, r.ID, alerts, prev, last)
			if errors.Is(err, catalog.ErrConflict) {
				return nil // another node evaluated this rule meanwhile
			}
			if err != nil {
				return err
			}
			rep.Windows += int(last.Sub(from) / step)
			rep.Alerts += added
			return nil
		}
	}
	for n := 0; n < ruleMaxWindows && !from.Add(step).After(end); n++ {
		to := from.Add(step)
		alerts, err := a.evaluateWindow(ctx, tenant, r, s, from, to)
		if err != nil {
			return err
		}
		added, err := a.lake.SaveAlerts(ctx, tenant, r.ID, alerts, prev, to)
		if errors.Is(err, catalog.ErrConflict) {
			return nil // another node evaluated this rule meanwhile
		}
		if err != nil {
			return err
		}
		rep.Windows++
		rep.Alerts += added
		from, prev = to, to
	}
	return nil
}

// coveredByDetector moves a single-event rule's mark over [from, last)
// without a search when the detector read every segment of those windows
// with the rule (Catalog.UncoveredSegments): its alerts there are
// raised, and searching again (as the schedule did, every rule over every
// new record) doubled the rules' cost of ingest. A count rule, or windows
// with a segment the rule has not read, are evaluated as before.
func (a *App) coveredByDetector(ctx context.Context, tenant string, r *detect.Rule, s *interflow.Schema, prev, from, last time.Time, rep *EvaluationReport) (bool, error) {
	if r.Count != nil {
		return false, nil
	}
	n, err := a.lake.UncoveredSegments(ctx, tenant, s.Index, r.ID, r.Hunt(), from, last)
	if err != nil || n > 0 {
		return false, err
	}
	if _, err := a.lake.SaveAlerts(ctx, tenant, r.ID, nil, prev, last); err != nil && !errors.Is(err, catalog.ErrConflict) {
		return false, err
	}
	w := int(last.Sub(from) / eventStep)
	rep.Windows += w
	rep.Covered += w
	return true, nil
}

// evaluateWindow evaluates the rule over one window in the lake: the
// search the alert links to, counted whole (a count rule's groups by an
// aggregation, however many records match).
func (a *App) evaluateWindow(ctx context.Context, tenant string, r *detect.Rule, s *interflow.Schema, from, to time.Time) ([]catalog.Alert, error) {
	req := segment.SearchRequest{Indices: []string{s.Index}, Tenants: []string{tenant}, From: from, To: to, Query: r.Hunt()}
	base := catalog.Alert{Tenant: tenant, RuleID: r.ID, Rule: r.Title, Level: r.Level, WindowStart: from, WindowEnd: to, Query: r.Hunt()}
	if c := r.Count; c != nil {
		groups, err := a.lake.CountGroups(ctx, req, segment.CountRule{GroupBy: c.GroupBy, Field: c.Field, Op: c.Op, Threshold: c.Threshold}, catalog.AlertRecordIDs)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		return groupAlerts(base, r, groups, to.Sub(from)), nil
	}
	n, err := a.lake.Count(ctx, req)
	if err != nil || n == 0 {
		return nil, err
	}
	req.Limit = catalog.AlertRecordIDs
	res, err := a.lake.Search(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", r.ID, err)
	}
	al := base
	al.Count = n
	for _, row := range res.Rows {
		if id, ok := row["id"].(string); ok {
			al.Records = append(al.Records, id)
		}
	}
	return []catalog.Alert{al}, nil
}

// evaluateCountSpan evaluates a count rule over every window of
// [from, end) (each step wide, from from) with one aggregation in the
// lake, each window's groups as evaluateWindow finds them: a rule whose
// span held 10,000 matches or more was evaluated window by window, up to
// 300 searches (WAF's SQL-injection rule: 3.4 s of a collection's 6).
func (a *App) evaluateCountSpan(ctx context.Context, tenant string, r *detect.Rule, s *interflow.Schema, from, end time.Time, step time.Duration) ([]catalog.Alert, error) {
	c := r.Count
	req := segment.SearchRequest{Indices: []string{s.Index}, Tenants: []string{tenant}, From: from, To: end, Query: r.Hunt()}
	groups, err := a.lake.CountGroups(ctx, req, segment.CountRule{GroupBy: c.GroupBy, Field: c.Field, Op: c.Op, Threshold: c.Threshold,
		Window: step, Origin: from}, catalog.AlertRecordIDs)
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", r.ID, err)
	}
	base := catalog.Alert{Tenant: tenant, RuleID: r.ID, Rule: r.Title, Level: r.Level, WindowStart: from, WindowEnd: from.Add(step), Query: r.Hunt()}
	return groupAlerts(base, r, groups, step), nil
}

// groupAlerts are the alerts of a count rule's passing groups: each of its
// window (base's when the group has none), narrowed to its group.
func groupAlerts(base catalog.Alert, r *detect.Rule, groups []segment.GroupCount, step time.Duration) []catalog.Alert {
	out := make([]catalog.Alert, 0, len(groups))
	for _, g := range groups {
		al := base
		if !g.Window.IsZero() {
			al.WindowStart, al.WindowEnd = g.Window, g.Window.Add(step)
		}
		al.Group, al.Count, al.Records = g.Key, g.Count, g.Records
		if g.Key != "" && r.Count.GroupBy != "" {
			al.Query = groupQuery(r, g.Key)
		}
		out = append(out, al)
	}
	return out
}

// groupQuery is a count rule's hunting query narrowed to one group.
func groupQuery(r *detect.Rule, key string) string {
	return "(" + r.Hunt() + ") AND " + r.Count.GroupBy + ":" + query.Quote(key)
}

// windowAlerts turns one window's matching rows into its alerts.
func windowAlerts(tenant string, r *detect.Rule, b *detect.Bound, s *interflow.Schema, from, to time.Time, rows []segment.Row) []catalog.Alert {
	if len(rows) == 0 {
		return nil
	}
	alert := func(group string, count int64, rows []segment.Row) catalog.Alert {
		al := catalog.Alert{Tenant: tenant, RuleID: r.ID, Rule: r.Title, Level: r.Level, WindowStart: from, WindowEnd: to,
			Group: group, Count: count, Query: r.Hunt()}
		for _, row := range rows {
			if len(al.Records) == catalog.AlertRecordIDs {
				break
			}
			if id, ok := row["id"].(string); ok {
				al.Records = append(al.Records, id)
			}
		}
		return al
	}
	if r.Count == nil {
		return []catalog.Alert{alert("", int64(len(rows)), rows)}
	}
	vals := make([]interflow.Values, len(rows))
	for i, row := range rows {
		vals[i] = rowValues{s: s, row: row}
	}
	var out []catalog.Alert
	for _, g := range b.Groups(vals) {
		grp := make([]segment.Row, len(g.Records))
		for i, k := range g.Records {
			grp[i] = rows[k]
		}
		al := alert(g.Key, g.Count, grp)
		if g.Key != "" && r.Count.GroupBy != "" {
			al.Query = groupQuery(r, g.Key)
		}
		out = append(out, al)
	}
	return out
}

// evaluateSpan evaluates every window of [from, end) with one search when
// their matches fit in windowRecords (the usual case: most windows match
// nothing), grouping the rows by window. ok is false when they do not
// fit: the caller then searches window by window.
func (a *App) evaluateSpan(ctx context.Context, tenant string, r *detect.Rule, b *detect.Bound, s *interflow.Schema, from, end time.Time, step time.Duration) ([]catalog.Alert, bool, error) {
	req := segment.SearchRequest{Indices: []string{s.Index}, Tenants: []string{tenant}, From: from, To: end, Query: r.Hunt(), Limit: windowRecords}
	// Counted first: fetching windowRecords whole rows only to learn
	// there are more (VPC flow REJECTs for the port-scan rule) cost more
	// than the windows' own searches.
	n, err := a.lake.Count(ctx, segment.SearchRequest{Indices: req.Indices, Tenants: req.Tenants, From: from, To: end, Query: req.Query})
	if err != nil {
		return nil, false, fmt.Errorf("rule %s: %w", r.ID, err)
	}
	if n >= windowRecords {
		return nil, false, nil
	}
	res, err := a.lake.Search(ctx, req)
	if err != nil {
		return nil, false, fmt.Errorf("rule %s: %w", r.ID, err)
	}
	if len(res.Rows) >= windowRecords {
		return nil, false, nil
	}
	byWindow := map[time.Time][]segment.Row{}
	for _, row := range res.Rows {
		ts, ok := row["timestamp"].(time.Time)
		if !ok {
			continue
		}
		w := from.Add(ts.Sub(from) / step * step) // windows are aligned on from
		byWindow[w] = append(byWindow[w], row)
	}
	starts := make([]time.Time, 0, len(byWindow))
	for w := range byWindow {
		starts = append(starts, w)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	var out []catalog.Alert
	for _, w := range starts {
		rows := byWindow[w] // newest first, as the search returned them
		out = append(out, windowAlerts(tenant, r, b, s, w, w.Add(step), rows)...)
	}
	return out, true, nil
}

// rowValues lets a search row be evaluated like a record.
type rowValues struct {
	s   *interflow.Schema
	row segment.Row
}

func (v rowValues) get(i int) any { return v.row[v.s.Fields[i].Name] }

func (v rowValues) Str(i int) (string, bool) { s, ok := v.get(i).(string); return s, ok }
func (v rowValues) Int(i int) (int64, bool) {
	switch n := v.get(i).(type) {
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case int:
		return int64(n), true
	}
	return 0, false
}
func (v rowValues) Float(i int) (float64, bool)  { f, ok := v.get(i).(float64); return f, ok }
func (v rowValues) Bool(i int) (bool, bool)      { b, ok := v.get(i).(bool); return b, ok }
func (v rowValues) Time(i int) (time.Time, bool) { t, ok := v.get(i).(time.Time); return t, ok }
func (v rowValues) List(i int) ([]string, bool) {
	switch l := v.get(i).(type) {
	case []string:
		return l, true
	case []any:
		out := make([]string, 0, len(l))
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out, true
	}
	return nil, false
}

// Alerts returns the stored alerts within the scope, newest window first.
func (a *App) Alerts(ctx context.Context, sc Scope, f AlertFilter) ([]Alert, error) {
	// Another tenant's alerts answer 404, as its other objects do.
	ts, err := sc.tenants(f.Tenant)
	if err != nil {
		return nil, err
	}
	as, err := a.lake.Alerts(ctx, catalog.AlertQuery{Since: f.Since, Level: f.Level, RuleID: f.RuleID, Status: f.Status, Limit: f.Limit, Tenants: ts})
	if err != nil {
		return nil, err
	}
	out := make([]Alert, 0, len(as))
	for _, x := range as {
		out = append(out, publicAlert(x))
	}
	return out, nil
}

// publicAlert is a stored alert as users see it (records never null).
func publicAlert(x catalog.Alert) Alert {
	recs := x.Records
	if recs == nil {
		recs = []string{}
	}
	out := Alert{ID: x.ID, Rule: x.Rule, RuleID: x.RuleID, Level: x.Level, Tenant: x.Tenant, Time: x.Time,
		WindowStart: x.WindowStart, WindowEnd: x.WindowEnd, Group: x.Group, Count: x.Count, Records: recs, Query: x.Query,
		Status: x.Status, CloseReason: x.CloseReason, Assignee: x.Assignee, UpdatedBy: x.UpdatedBy, Notes: make([]apiv1.Note, 0, len(x.Notes))}
	if out.Status == "" {
		out.Status = apiv1.AlertOpen
	}
	if !x.UpdatedAt.IsZero() {
		t := x.UpdatedAt
		out.UpdatedAt = &t
	}
	for _, n := range x.Notes {
		out.Notes = append(out.Notes, apiv1.Note{Author: n.Author, At: n.At, Text: n.Text})
	}
	return out
}

// AlertCount is how many alerts a rule raised for a tenant, by level.
type AlertCount struct {
	Tenant string `json:"tenant"`
	RuleID string `json:"rule_id"`
	Level  string `json:"level"`
	Count  int64  `json:"count"`
}

// AlertCounts counts the stored alerts per tenant, rule and level (root:
// every tenant; a tenant: its own).
func (a *App) AlertCounts(ctx context.Context, sc Scope) ([]AlertCount, error) {
	cs, err := a.lake.AlertCounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []AlertCount
	for _, c := range cs {
		if sc.Root || c.Tenant == sc.Tenant {
			out = append(out, AlertCount{Tenant: c.Tenant, RuleID: c.RuleID, Level: c.Level, Count: c.N})
		}
	}
	return out, nil
}

// Detection at ingest: every commit registers its segments unread, and the detector
// evaluates the single-event rules over them within seconds, in the
// background (a commit never waits for it). It reaches records whatever
// their event time, so a record delivered hours late still raises its
// alert; the schedule above re-evaluates each closed window too, which
// changes nothing for what the detector already raised (alerts merge by
// record id) and is the safety net for rules added or enabled later.
const (
	detectSegments = 256              // unread segments per pass of the detector
	detectPause    = time.Second      // between passes: commits arriving meanwhile make one pass
	detectPoll     = 15 * time.Second // other nodes' commits signal nothing here
)

// DetectReport says what a pass of the detector did.
type DetectReport struct {
	Segments int
	Alerts   int // new ones
}

// RunDetector evaluates unread segments as commits signal them (and every
// detectPoll for the other nodes' commits) until ctx ends.
func (a *App) RunDetector(ctx context.Context) {
	t := time.NewTicker(detectPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.lake.Committed():
		case <-t.C:
		}
		rep, err := a.Detect(ctx)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("evaluating detection rules at ingest failed; the segments stay unread and are tried again", "err", err)
		} else if rep.Alerts > 0 {
			a.log.Info("detection rules raised alerts at ingest", "alerts", rep.Alerts, "segments", rep.Segments)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(detectPause):
		}
	}
}

// Detect evaluates the single-event rules over every segment left unread by a
// commit, then delivers new alerts to the webhooks (in the background).
func (a *App) Detect(ctx context.Context) (DetectReport, error) {
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return DetectReport{}, err
	}
	defer done()
	a.evalMu.Lock()
	rep, err := a.detectQueued(ctx)
	a.evalMu.Unlock()
	// Commits raise their alerts at ingest: they go to the webhooks now
	// too, not at the next minute's evaluation.
	if raised := a.lake.alertsRaised.Swap(false); rep.Alerts > 0 || raised {
		a.deliverAlerts(ctx)
	}
	return rep, err
}

// tenantDetection is what the detector knows of a tenant for one call: its
// enabled single-event rules and its rules marked failed.
type tenantDetection struct {
	rules  []*detect.Rule
	failed map[string]string
}

// detectQueued runs passes until no segment is unread (or a bounded number
// of passes: commits may keep coming). A group whose evaluation fails
// (the lake's error, not a rule's: those are marked and skipped) stays
// unread and is tried again; the other groups go on. The caller holds
// evalMu.
func (a *App) detectQueued(ctx context.Context) (DetectReport, error) {
	var rep DetectReport
	tenants := map[string]*tenantDetection{} // for the whole call
	for pass := 0; pass < 64; pass++ {
		pending, err := a.lake.PendingDetection(ctx, detectSegments)
		if err != nil || len(pending) == 0 {
			return rep, err
		}
		var errs []error
		for _, p := range pending {
			td, ok := tenants[p.Tenant]
			if !ok {
				if td, err = a.tenantDetection(ctx, p.Tenant); err != nil {
					return rep, err
				}
				tenants[p.Tenant] = td
			}
			n, err := a.detectGroup(ctx, p, td)
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("segments of tenant %s in %s: %w", p.Tenant, p.Index, err))
				continue
			}
			rep.Segments += len(p.Segments)
			rep.Alerts += n
		}
		if len(errs) > 0 {
			// The failed groups are still the oldest unread: another pass
			// now would only meet them again.
			return rep, errors.Join(errs...)
		}
	}
	return rep, nil
}

// DetectionBacklog is how many committed segments the detector has not
// read yet (root only).
func (a *App) DetectionBacklog(ctx context.Context, sc Scope) (int64, error) {
	if !sc.Root {
		return 0, fmt.Errorf("the detection backlog is the server's: %w", ErrForbidden)
	}
	return a.lake.DetectionBacklog(ctx)
}

// tenantDetection reads a tenant's enabled single-event rules and failures.
func (a *App) tenantDetection(ctx context.Context, tenant string) (*tenantDetection, error) {
	all, enabled, _, err := a.tenantRules(ctx, tenant)
	if err != nil {
		return nil, err
	}
	td := &tenantDetection{}
	for _, r := range all {
		if enabled[r.ID] && r.Count == nil {
			td.rules = append(td.rules, r)
		}
	}
	if td.failed, err = a.failedRules(ctx, tenant); err != nil {
		return nil, err
	}
	return td, nil
}

// detectGroup evaluates the rules of one index over a group of unread
// segments of one tenant, stores the alerts and marks the segments read.
// A rule whose query does not compile as evaluation compiles it, or that
// alone fails where others evaluate, is marked failed and skipped; one
// already marked is skipped.
func (a *App) detectGroup(ctx context.Context, p catalog.Pending, td *tenantDetection) (int, error) {
	s := interflow.SchemaFor(p.Index)
	now := time.Now()
	var rs []*detect.Rule
	var queries []string
	for _, r := range td.rules {
		// A rule marked failed is left to the schedule, which evaluates it
		// every minute (its windows too) and lifts the mark once it works.
		if ruleIndex(r) != s || td.failed[r.ID] != "" {
			continue
		}
		if err := checkEvaluable(r, now); err != nil {
			a.ruleFailed(ctx, p.Tenant, r, err, td.failed)
			continue
		}
		rs, queries = append(rs, r), append(queries, r.Hunt())
	}
	failedHere := map[int]bool{}
	hits, err := a.lake.MatchSegments(ctx, segment.Pending(p), queries, eventStep, catalog.AlertRecordIDs)
	if err != nil && ctx.Err() == nil {
		hits, failedHere, err = a.matchEach(ctx, p, rs, queries, td)
	}
	if err != nil {
		return 0, err
	}
	cov := catalog.Coverage{Tenant: p.Tenant, Index: p.Index, Applied: map[string]string{}}
	for i, r := range rs {
		if !failedHere[i] {
			cov.Applied[r.ID] = queries[i]
		}
	}
	alerts, err := a.hitAlerts(ctx, p, s, rs, queries, hits)
	if err != nil {
		return 0, err
	}
	return a.lake.DoneDetection(ctx, p.Segments, alerts, cov)
}

// hitAlerts turns the detector's hits into alerts, each with its window's
// count in the lake: other segments may hold more of its records than
// these (ids are kept up to catalog.AlertRecordIDs only). Only a window
// another registered segment may hold records of is counted again in the
// lake; the hits' own count is the window's when these segments alone
// cover it (a count per hit was most of the detector's time over a
// collection's new days).
func (a *App) hitAlerts(ctx context.Context, p catalog.Pending, s *interflow.Schema, rs []*detect.Rule, queries []string, hits []segment.RuleHits) ([]catalog.Alert, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	from, to := hits[0].WindowStart, hits[0].WindowStart.Add(eventStep)
	for _, h := range hits {
		from, to = minTime(from, h.WindowStart), maxTime(to, h.WindowStart.Add(eventStep))
	}
	near, err := a.lake.SegmentsIn(ctx, s.Index, []string{p.Tenant}, from, to)
	if err != nil {
		return nil, err
	}
	mine := map[string]bool{}
	for _, sg := range p.Segments {
		mine[sg.ID] = true
	}
	var others []catalog.Segment
	for _, sg := range near {
		if !mine[sg.ID] {
			others = append(others, sg)
		}
	}
	alerts := make([]catalog.Alert, 0, len(hits))
	for _, h := range hits {
		r := rs[h.Rule]
		al := catalog.Alert{Tenant: p.Tenant, RuleID: r.ID, Rule: r.Title, Level: r.Level, WindowStart: h.WindowStart,
			WindowEnd: h.WindowStart.Add(eventStep), Count: h.Count, Records: h.Records, Query: queries[h.Rule]}
		if overlaps(others, al.WindowStart, al.WindowEnd) {
			n, err := a.lake.Count(ctx, segment.SearchRequest{Indices: []string{s.Index}, Tenants: []string{p.Tenant},
				From: al.WindowStart, To: al.WindowEnd, Query: al.Query})
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", r.ID, err)
			}
			al.Count = max(al.Count, n)
		}
		alerts = append(alerts, al)
	}
	return alerts, nil
}

// overlaps reports whether a segment may hold records of [from, to).
func overlaps(segs []catalog.Segment, from, to time.Time) bool {
	for _, sg := range segs {
		if !sg.MaxTS.Before(from) && sg.MinTS.Before(to) {
			return true
		}
	}
	return false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// matchEach evaluates the rules one scan each, after their scan together
// failed: the rules that fail alone are marked failed and the others'
// hits kept. When every one fails, a query that cannot fail (id:*) over
// the same segments tells whose fault it is: the lake's when it fails too
// (its error is returned, the segments stay unread and are tried again),
// else the rules', which are marked failed, so a rule never holds the
// segments back.
func (a *App) matchEach(ctx context.Context, p catalog.Pending, rs []*detect.Rule, queries []string, td *tenantDetection) ([]segment.RuleHits, map[int]bool, error) {
	var hits []segment.RuleHits
	errs := map[int]error{}
	for i, q := range queries {
		hs, err := a.lake.MatchSegments(ctx, segment.Pending(p), []string{q}, eventStep, catalog.AlertRecordIDs)
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if err != nil {
			errs[i] = fmt.Errorf("rule %s: %w", rs[i].ID, err)
			continue
		}
		for _, h := range hs {
			h.Rule = i
			hits = append(hits, h)
		}
	}
	if len(errs) == len(queries) {
		if _, err := a.lake.MatchSegments(ctx, segment.Pending(p), []string{"id:*"}, eventStep, 1); err != nil {
			return nil, nil, errors.Join(err, errs[0])
		}
	}
	failed := map[int]bool{}
	for i, err := range errs {
		a.ruleFailed(ctx, p.Tenant, rs[i], err, td.failed)
		failed[i] = true
	}
	return hits, failed, nil
}

// checkRuleOnce is checkRule, remembered per query once it passed: a
// rule evaluated at ingest must also run as the search its alerts link
// to (a regular expression Go accepts and DuckDB refuses, (?<name>...),
// would raise alerts whose hunt fails), and its query is the same at
// every run.
func (a *App) checkRuleOnce(ctx context.Context, r *detect.Rule, now time.Time) error {
	key := ruleIndex(r).Index + "\x00" + r.Hunt()
	a.engineMu.Lock()
	ok := a.engineOK[key]
	a.engineMu.Unlock()
	if ok {
		return checkEvaluable(r, now)
	}
	if err := a.checkRule(ctx, r, now); err != nil {
		return err
	}
	a.engineMu.Lock()
	defer a.engineMu.Unlock()
	if a.engineOK == nil || len(a.engineOK) >= maxEngineOK {
		a.engineOK = map[string]bool{}
	}
	a.engineOK[key] = true
	return nil
}

// maxEngineOK bounds the rule queries remembered as run by the engine.
const maxEngineOK = 4096

// ingestDetection is the Detect option of a run of c: the tenant's
// enabled single-event rules of c's index, except those marked failed
// (the schedule evaluates them and lifts the mark), bound as the run
// begins. A rule changed while the run goes on reaches the runs after
// it; what this one stored is evaluated again by the schedule, since
// the commits record which rules, with which queries, they applied.
func (a *App) ingestDetection(ctx context.Context, c *connector.Connector) (func() collect.Detection, error) {
	f, ok := collect.FormatFor(c.SubType)
	if !ok {
		return nil, nil
	}
	td, err := a.tenantDetection(ctx, c.Tenant)
	if err != nil {
		return nil, fmt.Errorf("detection rules of tenant %s: %w", c.Tenant, err)
	}
	now := time.Now()
	var rs []*detect.Rule
	for _, r := range td.rules {
		if ruleIndex(r) != f.Schema || td.failed[r.ID] != "" {
			continue
		}
		if err := a.checkRuleOnce(ctx, r, now); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			a.ruleFailed(ctx, c.Tenant, r, err, td.failed)
			continue
		}
		rs = append(rs, r)
	}
	in, failed := detect.NewIngest(rs, f.Schema, eventStep, now)
	for r, err := range failed {
		a.ruleFailed(ctx, c.Tenant, r, err, td.failed)
	}
	return func() collect.Detection { return in.NewMatcher() }, nil
}
