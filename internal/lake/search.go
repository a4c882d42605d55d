package lake

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
)

// SearchRequest is one search. Tenants is the tenant scope and must be
// given by the caller from the authenticated identity; empty means all
// tenants and is only passed for root scope.
type SearchRequest struct {
	Indices []string
	Tenants []string
	From    time.Time
	To      time.Time
	Query   string
	Limit   int
	// Before is a keyset cursor: return records older than it.
	Before *Cursor
}

// Cursor is a position in newest-first order.
type Cursor struct {
	Timestamp time.Time `json:"t"`
	ID        string    `json:"id"`
}

// Row is one record: its non-NULL fields by Interflow name.
type Row map[string]any

// SearchResult holds the newest rows and, when asked, the total count.
type SearchResult struct {
	Rows  []Row   `json:"rows"`
	Next  *Cursor `json:"next,omitempty"`
	Total *int64  `json:"total,omitempty"`
}

// compiled is a query compiled for one index.
type compiled struct {
	where string
	args  []any
	none  bool // the query cannot match in this index
}

// FieldError and ValueError are the query package's positioned errors.
type (
	FieldError = query.FieldError
	ValueError = query.ValueError
)

// ParseTime reads RFC 3339, a date, "now" or a duration back from now.
func ParseTime(s string, now time.Time) (time.Time, error) { return query.ParseTime(s, now) }

// Validate parses a query and checks its field names and values against
// every index, returning a positioned error for the first problem.
func Validate(q string) error { return query.Validate(q) }

func (c *compiled) arg(v any) string {
	c.args = append(c.args, v)
	return "?"
}

// sql writes the SQL of a bound query. It is the only translation of
// query.Expr to SQL; query.Eval is the in-memory one.
func (c *compiled) sql(b *strings.Builder, e query.Expr, s *interflow.Schema) {
	col := func(i int) string { return quoteIdent(s.Fields[i].Name) }
	switch x := e.(type) {
	case query.Const:
		if x {
			b.WriteString("TRUE")
		} else {
			b.WriteString("FALSE")
		}
	case query.AllOf:
		c.list(b, x, " AND ", s)
	case query.AnyOf:
		c.list(b, x, " OR ", s)
	case query.Negate:
		// Absent values match no term, so NOT must treat NULL as false.
		b.WriteString("(NOT coalesce(")
		c.sql(b, x.X, s)
		b.WriteString(", FALSE))")
	case query.HasValue:
		if s.Fields[x.Field].Type == interflow.Strings {
			b.WriteString("coalesce(len(" + col(x.Field) + ") > 0, FALSE)")
		} else {
			b.WriteString(col(x.Field) + " IS NOT NULL")
		}
	case query.StrCmp:
		b.WriteString(col(x.Field) + " " + x.Op.String() + " " + c.arg(x.V))
	case query.Like:
		if s.Fields[x.Field].Type == interflow.Strings {
			b.WriteString("len(list_filter(" + col(x.Field) + ", x -> " + c.like("x", x.Pattern, false) + ")) > 0")
		} else {
			b.WriteString(c.like(col(x.Field), x.Pattern, false))
		}
	case query.ListHas:
		b.WriteString("list_contains(" + col(x.Field) + ", " + c.arg(x.V) + ")")
	case query.IntCmp:
		b.WriteString(col(x.Field) + " " + x.Op.String() + " " + c.arg(x.V))
	case query.BoolEq:
		b.WriteString(col(x.Field) + " = " + c.arg(x.V))
	case query.TimeCmp:
		b.WriteString(col(x.Field) + " " + x.Op.String() + " " + c.arg(time.UnixMicro(x.V).UTC()))
	case query.IPRange:
		k := quoteIdent(ipKeyColumn(s.Fields[x.Field].Name))
		b.WriteString(k + " BETWEEN " + c.arg(interflow.IPKey(x.Lo.String())) + " AND " + c.arg(interflow.IPKey(x.Hi.String())))
	case query.Text:
		// The substring test is cheap and selective; the boundary test
		// (RE2, linear) runs only on what it lets through.
		b.WriteString("(contains(lower(raw), " + c.arg(x.Needle) + ")")
		if re := query.WordsRegexp(x.Needle); re != "" {
			b.WriteString(" AND regexp_matches(lower(raw), " + c.arg(re) + ")")
		}
		b.WriteString(")")
	case query.TextLike:
		b.WriteString(c.like("lower(raw)", x.Pattern, true))
	default:
		panic(fmt.Sprintf("lake: query node %T has no SQL", e))
	}
}

// like matches an expression against a wildcard pattern (anywhere in it
// when partial): LIKE for simple patterns, where DuckDB is fastest, and an
// RE2 regular expression beyond two wildcards, where LIKE's backtracking
// grows without bound on long values.
func (c *compiled) like(expr string, w query.Wildcard, partial bool) string {
	if w.Stars() <= 2 {
		p := w.Pattern()
		if partial {
			p = "%" + p + "%"
		}
		return expr + " LIKE " + c.arg(p) + ` ESCAPE '\'`
	}
	if partial {
		return "regexp_matches(" + expr + ", " + c.arg(w.Regexp()) + ")"
	}
	return "regexp_full_match(" + expr + ", " + c.arg(w.Regexp()) + ")"
}

func (c *compiled) list(b *strings.Builder, list []query.Expr, sep string, s *interflow.Schema) {
	b.WriteString("(")
	for i, op := range list {
		if i > 0 {
			b.WriteString(sep)
		}
		c.sql(b, op, s)
	}
	b.WriteString(")")
}

func indices(req *SearchRequest) ([]*interflow.Schema, error) {
	if len(req.Indices) == 0 {
		return interflow.Schemas(), nil
	}
	var out []*interflow.Schema
	for _, name := range req.Indices {
		s := interflow.SchemaFor(name)
		if s == nil {
			return nil, fmt.Errorf("unknown index %q: use aws_events or traffic", name)
		}
		out = append(out, s)
	}
	return out, nil
}

// scope is the tenant and time restriction every query gets.
func scope(req *SearchRequest, c *compiled) string {
	var parts []string
	if len(req.Tenants) > 0 {
		ph := make([]string, len(req.Tenants))
		for i, t := range req.Tenants {
			ph[i] = c.arg(t)
		}
		parts = append(parts, "tenant IN ("+strings.Join(ph, ",")+")")
	}
	parts = append(parts, `"timestamp" >= `+c.arg(req.From.UTC()), `"timestamp" < `+c.arg(req.To.UTC()))
	return strings.Join(parts, " AND ")
}

func (l *Lake) prepare(req *SearchRequest) ([]*interflow.Schema, []compiled, error) {
	if req.To.IsZero() {
		req.To = time.Now().UTC()
	}
	if !req.From.Before(req.To) {
		return nil, nil, fmt.Errorf("the time range is empty: from %s is not before to %s", req.From.Format(time.RFC3339), req.To.Format(time.RFC3339))
	}
	ast, err := query.Parse(req.Query)
	if err != nil {
		return nil, nil, err
	}
	schemas, err := indices(req)
	if err != nil {
		return nil, nil, err
	}
	// Bind against every index first, so a query is rejected the same way
	// whichever indices are searched.
	now := time.Now()
	for _, s := range interflow.Schemas() {
		if _, err := query.Bind(ast, s, now); err != nil {
			return nil, nil, err
		}
	}
	var cs []compiled
	for _, s := range schemas {
		e, err := query.Bind(ast, s, now)
		if err != nil {
			return nil, nil, err
		}
		// The scope first, so its placeholders come first.
		c := compiled{}
		var b strings.Builder
		b.WriteString(scope(req, &c) + " AND ")
		c.sql(&b, e, s)
		c.where = b.String()
		c.none = e == query.Const(false)
		cs = append(cs, c)
	}
	return schemas, cs, nil
}

// Count returns the number of matching records.
func (l *Lake) Count(ctx context.Context, req SearchRequest) (int64, error) {
	schemas, cs, err := l.prepare(&req)
	if err != nil {
		return 0, err
	}
	var total int64
	for i, s := range schemas {
		if cs[i].none {
			continue
		}
		var n int64
		if err := l.db.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(s.Index)+" WHERE "+cs[i].where, cs[i].args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("lake: count %s: %w", s.Index, err)
		}
		total += n
	}
	return total, nil
}

// Search returns the newest matching records.
func (l *Lake) Search(ctx context.Context, req SearchRequest) (*SearchResult, error) {
	if req.Limit <= 0 {
		req.Limit = 100
	}
	if req.Limit > 10000 {
		req.Limit = 10000
	}
	schemas, cs, err := l.prepare(&req)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for i, s := range schemas {
		if cs[i].none {
			continue
		}
		c := cs[i]
		where := c.where
		args := append([]any(nil), c.args...)
		if req.Before != nil {
			where += ` AND ("timestamp" < ? OR ("timestamp" = ? AND id < ?))`
			args = append(args, req.Before.Timestamp.UTC(), req.Before.Timestamp.UTC(), req.Before.ID)
		}
		q := "SELECT " + selectList(s) + " FROM " + quoteIdent(s.Index) + " WHERE " + where +
			` ORDER BY "timestamp" DESC, id DESC LIMIT ?`
		args = append(args, req.Limit+1)
		got, err := l.scanRows(ctx, s, q, args)
		if err != nil {
			return nil, err
		}
		rows = append(rows, got...)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		ti, tj := rows[i]["timestamp"].(time.Time), rows[j]["timestamp"].(time.Time)
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return rows[i]["id"].(string) > rows[j]["id"].(string)
	})
	res := &SearchResult{}
	if len(rows) > req.Limit {
		rows = rows[:req.Limit]
		last := rows[len(rows)-1]
		res.Next = &Cursor{Timestamp: last["timestamp"].(time.Time), ID: last["id"].(string)}
	}
	res.Rows = rows
	if res.Rows == nil {
		res.Rows = []Row{}
	}
	return res, nil
}

func selectList(s *interflow.Schema) string {
	cols := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		cols[i] = quoteIdent(f.Name)
	}
	return strings.Join(cols, ", ")
}

func (l *Lake) scanRows(ctx context.Context, s *interflow.Schema, q string, args []any) ([]Row, error) {
	rs, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("lake: search %s: %w", s.Index, err)
	}
	defer rs.Close()
	var out []Row
	vals := make([]any, len(s.Fields))
	ptrs := make([]any, len(s.Fields))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("lake: search %s: %w", s.Index, err)
		}
		r := make(Row, 24)
		for i, v := range vals {
			if v == nil {
				continue
			}
			if t, ok := v.(time.Time); ok {
				v = t.UTC()
			}
			r[s.Fields[i].Name] = v
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// Bucket is one histogram bar.
type Bucket struct {
	Start time.Time `json:"start"`
	Count int64     `json:"count"`
}

// Histogram counts matching records per interval.
func (l *Lake) Histogram(ctx context.Context, req SearchRequest, interval time.Duration) ([]Bucket, error) {
	schemas, cs, err := l.prepare(&req)
	if err != nil {
		return nil, err
	}
	if interval < time.Second {
		interval = time.Second
	}
	secs := int64(interval / time.Second)
	counts := map[int64]int64{}
	for i, s := range schemas {
		if cs[i].none {
			continue
		}
		q := `SELECT (epoch("timestamp")::BIGINT // ?) * ? AS b, count(*) FROM ` + quoteIdent(s.Index) + " WHERE " + cs[i].where + " GROUP BY b"
		args := append([]any{secs, secs}, cs[i].args...)
		rs, err := l.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("lake: histogram %s: %w", s.Index, err)
		}
		for rs.Next() {
			var b, n int64
			if err := rs.Scan(&b, &n); err != nil {
				rs.Close()
				return nil, err
			}
			counts[b] += n
		}
		rs.Close()
	}
	start := req.From.Unix() / secs * secs
	var out []Bucket
	for t := start; t < req.To.Unix(); t += secs {
		out = append(out, Bucket{Start: time.Unix(t, 0).UTC(), Count: counts[t]})
		if len(out) > 10000 {
			break
		}
	}
	return out, nil
}

// TopValue is one value of a field with its count.
type TopValue struct {
	Value any   `json:"value"`
	Count int64 `json:"count"`
}

// Top returns the most frequent values of a field among matching records.
func (l *Lake) Top(ctx context.Context, req SearchRequest, fieldName string, n int) ([]TopValue, error) {
	schemas, cs, err := l.prepare(&req)
	if err != nil {
		return nil, err
	}
	if !interflow.Known(fieldName) {
		return nil, &FieldError{Field: fieldName}
	}
	if n <= 0 || n > 1000 {
		n = 10
	}
	agg := map[string]*TopValue{}
	for i, s := range schemas {
		if cs[i].none {
			continue
		}
		if _, ok := s.Lookup(fieldName); !ok {
			continue
		}
		col := quoteIdent(fieldName)
		q := "SELECT " + col + ", count(*) AS n FROM " + quoteIdent(s.Index) + " WHERE " + cs[i].where + " AND " + col +
			" IS NOT NULL GROUP BY 1 ORDER BY n DESC LIMIT ?"
		rs, err := l.db.QueryContext(ctx, q, append(cs[i].args, n)...)
		if err != nil {
			return nil, fmt.Errorf("lake: top %s: %w", fieldName, err)
		}
		for rs.Next() {
			var v any
			var c int64
			if err := rs.Scan(&v, &c); err != nil {
				rs.Close()
				return nil, err
			}
			k := fmt.Sprint(v)
			if agg[k] == nil {
				agg[k] = &TopValue{Value: v}
			}
			agg[k].Count += c
		}
		rs.Close()
	}
	out := make([]TopValue, 0, len(agg))
	for _, v := range agg {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return fmt.Sprint(out[i].Value) < fmt.Sprint(out[j].Value)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// Duplicates counts record IDs stored more than once, across both indices:
// the invariant the reliability tests check.
func (l *Lake) Duplicates(ctx context.Context) (int64, error) {
	var n int64
	err := l.db.QueryRowContext(ctx, `SELECT coalesce(sum(c - 1), 0) FROM (
 SELECT id, count(*) c FROM (SELECT id FROM aws_events UNION ALL SELECT id FROM traffic) GROUP BY id HAVING count(*) > 1)`).Scan(&n)
	return n, err
}

// Integrity summarises an index for consistency checks: rows, distinct
// record IDs and distinct CloudTrail event IDs.
type Integrity struct {
	Rows             int64 `json:"rows"`
	DistinctIDs      int64 `json:"distinct_ids"`
	DistinctEventIDs int64 `json:"distinct_event_ids"`
}

// CheckIntegrity computes Integrity for the aws_events index, or the
// traffic index when index is "traffic".
func (l *Lake) CheckIntegrity(ctx context.Context, index string) (Integrity, error) {
	var it Integrity
	s := interflow.SchemaFor(index)
	if s == nil {
		return it, fmt.Errorf("unknown index %q", index)
	}
	ev := "NULL"
	if _, ok := s.Lookup("event_id"); ok {
		ev = "event_id"
	}
	err := l.db.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT id), count(DISTINCT "+ev+") FROM "+quoteIdent(s.Index)).
		Scan(&it.Rows, &it.DistinctIDs, &it.DistinctEventIDs)
	return it, err
}
