package segment

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
)

// Detection at ingest: a commit registers its segments as not yet read by
// the detector (the segments row's detected flag, so queuing costs the
// commit no statement: a separate queue table's insert made the commit
// stage of VPC flow ingest 60% slower), and a detector reads those
// segments in the background, evaluates the single-event rules over them,
// and stores the alerts and marks the segments read in one transaction. A
// compaction that merges an unread segment registers the merged one
// unread, so a record is evaluated at least once whatever compaction does,
// and merging alerts by record id (mergeAlerts) makes evaluating it twice
// harmless.

// Pending is a group of segments the detector has not read, of one index
// and tenant.
type Pending struct {
	Index, Tenant string
	Segments      []Segment
}

// RuleHits is what one rule matched in one window of some segments.
type RuleHits struct {
	Rule        int // index into the queries MatchSegments was given
	WindowStart time.Time
	Count       int64    // matching records in these segments
	Records     []string // their ids, newest first, at most maxIDs
}

// MatchSegments evaluates queries (each in the search language, bound to
// the pending group's index) over the group's segments in one scan, and
// returns, per query and window of the given width (aligned on the Unix
// epoch), how many records matched and the ids of the newest maxIDs. A
// query that does not bind to the index (a field it lacks) is an error
// naming it.
func (l *Engine) MatchSegments(ctx context.Context, p Pending, queries []string, window time.Duration, maxIDs int) ([]RuleHits, error) {
	s := interflow.SchemaFor(p.Index)
	if s == nil || len(p.Segments) == 0 || len(queries) == 0 {
		return nil, nil
	}
	// The catalog's list may name segments another node wrote, or the
	// cache evicted: they are fetched first.
	if err := l.cacheSegments(ctx, p.Segments); err != nil {
		return nil, err
	}
	// The whole span of the segments, so none is read with a time condition.
	from, to := span(p.Segments)
	pl := &plan{schema: s, from: from, to: to.Add(time.Microsecond)}
	src, ok, err := l.source(pl, p.Segments)
	if err != nil || !ok {
		return nil, err
	}
	// One filtered scan per query, not one scan computing every query per
	// row: as a filter, a query's cheap typed terms spare its JSON terms
	// (raw.<path>) the rows they reject, and DuckDB ran out of memory
	// computing a dozen JSON conditions for every row.
	c := compiled{}
	var parts []string
	now := time.Now()
	for i, q := range queries {
		ast, err := query.Parse(q)
		if err != nil {
			return nil, fmt.Errorf("lake: rule query %q: %w", q, err)
		}
		e, err := query.Bind(ast, s, now)
		if err != nil {
			return nil, fmt.Errorf("lake: rule query %q on %s: %w", q, p.Index, err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, `SELECT %d AS k, id, "timestamp" AS ts FROM %s WHERE tenant = %s AND (`, i, src, c.arg(p.Tenant))
		c.sql(&b, query.Simplify(e), s)
		b.WriteString(")")
		parts = append(parts, b.String())
	}
	width := window.Microseconds()
	// Ids by a window function, not an ordered list aggregate: DuckDB
	// keeps a sort per group for the latter.
	q := `SELECT k, w, n, id FROM (
 SELECT k, w, id, row_number() OVER (PARTITION BY k, w ORDER BY ts DESC, id DESC) AS rn, count(*) OVER (PARTITION BY k, w) AS n FROM (
  SELECT k, id, ts, epoch_us(ts) // ` + fmt.Sprint(width) + ` AS w FROM (` + strings.Join(parts, "\n UNION ALL ") + `)
 )
) WHERE rn <= ` + fmt.Sprint(maxIDs) + ` ORDER BY k, w, rn`
	rows, err := l.q.QueryContext(ctx, q, c.args...)
	if err != nil {
		return nil, fmt.Errorf("lake: evaluate rules over %d segments of %s/%s: %w", len(p.Segments), p.Index, p.Tenant, err)
	}
	defer rows.Close()
	var out []RuleHits
	for rows.Next() {
		var k int
		var w, n int64
		var id string
		if err := rows.Scan(&k, &w, &n, &id); err != nil {
			return nil, fmt.Errorf("lake: evaluate rules: %w", err)
		}
		start := time.UnixMicro(w * width).UTC()
		if len(out) == 0 || out[len(out)-1].Rule != k || !out[len(out)-1].WindowStart.Equal(start) {
			out = append(out, RuleHits{Rule: k, WindowStart: start, Count: n})
		}
		h := &out[len(out)-1]
		h.Records = append(h.Records, id)
	}
	return out, rows.Err()
}

// GroupCount is one group of a count aggregation that passed its
// threshold.
type GroupCount struct {
	// Window is the start of the group's window (CountRule.Window); zero
	// without windows.
	Window  time.Time
	Key     string   // the group-by value ("" without one)
	Count   int64    // matching records, or distinct values of the counted field
	Records []string // ids of the group's records, newest first, at most maxIDs
}

// CountRule is a count aggregation: count(Field) by GroupBy Op Threshold.
// Field "" counts records; a field counts its distinct values. Only text,
// integer and IP fields group or count; a record whose group-by value is
// absent belongs to no group.
type CountRule struct {
	GroupBy, Field string
	Op             string // >, >=, <, <=, ==
	Threshold      int64
	// Window, when set, counts each window of that width from Origin
	// apart (a count rule's timeframes over a span, in one scan): the
	// groups that pass are per window, as a search of each window alone
	// would find them.
	Window time.Duration
	Origin time.Time
}

// CountGroups evaluates a count aggregation over the records of one index
// that req selects, in the lake: however many records match, every one is
// counted (not the newest few thousand), and the groups that pass the
// threshold come back sorted by key.
func (l *Engine) CountGroups(ctx context.Context, req SearchRequest, cr CountRule, maxIDs int) ([]GroupCount, error) {
	if len(req.Indices) != 1 {
		return nil, fmt.Errorf("lake: count groups over %d indices: name one", len(req.Indices))
	}
	plans, err := l.prepare(ctx, &req)
	if err != nil || len(plans) == 0 {
		return nil, err
	}
	p := plans[0]
	text := func(name string) (string, error) {
		i, ok := p.schema.Lookup(name)
		if !ok {
			return "", &query.FieldError{Field: name}
		}
		switch p.schema.Fields[i].Type {
		case interflow.String, interflow.Int, interflow.IP:
			return "CAST(" + quoteIdent(ColumnName(name)) + " AS VARCHAR)", nil
		}
		return "", fmt.Errorf("lake: %s is not a text, integer or IP field: it cannot group or be counted", name)
	}
	key, n := "''", "count(*)"
	if cr.GroupBy != "" {
		if key, err = text(cr.GroupBy); err != nil {
			return nil, err
		}
	}
	if cr.Field != "" {
		f, err := text(cr.Field)
		if err != nil {
			return nil, err
		}
		n = "count(DISTINCT " + f + ")"
	}
	op := map[string]string{">": ">", ">=": ">=", "<": "<", "<=": "<=", "==": "="}[cr.Op]
	if op == "" {
		return nil, fmt.Errorf("lake: count comparison %q: use >, >=, <, <= or ==", cr.Op)
	}
	src, ok, err := l.source(p, p.segs)
	if err != nil || !ok {
		return nil, err
	}
	// The window of a row: 0 without windows, else its number from Origin.
	win := "0"
	if cr.Window > 0 {
		win = fmt.Sprintf(`(epoch_us("timestamp") - %d) // %d`, cr.Origin.UnixMicro(), cr.Window.Microseconds())
	}
	// The groups that pass, then the newest ids of each by a window
	// function (see MatchSegments) over their rows only: joined before
	// the window function, so it sorts the few passing groups' rows, not
	// every matching row (a port-scan rule over a window of VPC flow
	// REJECTs sorted them all).
	q := `SELECT w, k, n, id FROM (
 SELECT t.w, t.k, g.n, t.id, row_number() OVER (PARTITION BY t.w, t.k ORDER BY t.ts DESC, t.id DESC) AS rn FROM (
  SELECT ` + win + ` AS w, ` + key + ` AS k, id, "timestamp" AS ts FROM ` + src + ` WHERE ` + p.where + `
 ) t JOIN (
  SELECT w, k, n FROM (SELECT ` + win + ` AS w, ` + key + ` AS k, ` + n + ` AS n FROM ` + src + ` WHERE ` + p.where + ` GROUP BY 1, 2) WHERE k IS NOT NULL AND n ` + op + ` ?
 ) g ON t.w = g.w AND t.k = g.k
) WHERE rn <= ` + fmt.Sprint(maxIDs) + ` ORDER BY w, k, rn`
	args := append(append(append([]any(nil), p.args...), p.args...), cr.Threshold)
	rows, err := l.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("lake: count groups of %s: %w", p.schema.Index, err)
	}
	defer rows.Close()
	var out []GroupCount
	for rows.Next() {
		var k, id string
		var w, n int64
		if err := rows.Scan(&w, &k, &n, &id); err != nil {
			return nil, fmt.Errorf("lake: count groups: %w", err)
		}
		var start time.Time
		if cr.Window > 0 {
			start = cr.Origin.Add(time.Duration(w) * cr.Window).UTC()
		}
		if len(out) == 0 || out[len(out)-1].Key != k || !out[len(out)-1].Window.Equal(start) {
			out = append(out, GroupCount{Window: start, Key: k, Count: n})
		}
		g := &out[len(out)-1]
		g.Records = append(g.Records, id)
	}
	return out, rows.Err()
}

// CheckRuleQuery compiles a rule's query as its evaluation does (a search
// of the index: parsed, bound to every index, turned into SQL; a count's
// fields looked up and typed) without reading anything, so a rule that
// would fail when evaluated is refused when it is saved.
func CheckRuleQuery(q, index string, cr *CountRule) error {
	s := interflow.SchemaFor(index)
	if s == nil {
		return fmt.Errorf("unknown index %q: use aws_events or traffic", index)
	}
	ast, err := query.Parse(q)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, x := range interflow.Schemas() {
		if _, err := query.Bind(ast, x, now); err != nil {
			return err
		}
	}
	e, err := query.Bind(ast, s, now)
	if err != nil {
		return err
	}
	var b strings.Builder
	c := compiled{}
	c.sql(&b, query.Simplify(e), s)
	if cr == nil {
		return nil
	}
	for _, name := range []string{cr.GroupBy, cr.Field} {
		if name == "" {
			continue
		}
		i, ok := s.Lookup(name)
		if !ok {
			return &query.FieldError{Field: name}
		}
		switch s.Fields[i].Type {
		case interflow.String, interflow.Int, interflow.IP:
		default:
			return fmt.Errorf("%s is not a text, integer or IP field: it cannot group or be counted", name)
		}
	}
	return nil
}

// EngineError is a query Trawl's own checks pass but the search engine
// refuses (DuckDB's RE2 does not read every syntax Go's does: (?<name>…)).
type EngineError struct{ Err error }

func (e *EngineError) Error() string { return "the search engine refuses the query: " + e.Err.Error() }
func (e *EngineError) Unwrap() error { return e.Err }

// RunRuleQuery runs a rule query's SQL, as a search of the index builds
// it, over the index's layout without rows: what the engine refuses
// (an expression it cannot compile) is found without reading a record.
func (l *Engine) RunRuleQuery(ctx context.Context, q, index string) error {
	s := interflow.SchemaFor(index)
	if s == nil {
		return fmt.Errorf("unknown index %q: use aws_events or traffic", index)
	}
	ast, err := query.Parse(q)
	if err != nil {
		return err
	}
	e, err := query.Bind(ast, s, time.Now())
	if err != nil {
		return err
	}
	var b strings.Builder
	c := compiled{}
	b.WriteString("SELECT count(*) FROM read_parquet(" + quoteString(l.schemaFiles[index]) + ", hive_partitioning = false) WHERE ")
	c.sql(&b, query.Simplify(e), s)
	var n int64
	if err := l.q.QueryRowContext(ctx, b.String(), c.args...).Scan(&n); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &EngineError{Err: err}
	}
	return nil
}
