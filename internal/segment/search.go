package segment

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"net/netip"
	"path/filepath"
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

// Validate parses a query and checks its field names and values against
// every index, returning a positioned error for the first problem.
func Validate(q string) error { return query.Validate(q) }

// plan is a query bound to one index, with the segments it must read.
type plan struct {
	schema   *interflow.Schema
	expr     query.Expr
	where    string // tenant and the query, as SQL (time is in the source)
	args     []any
	from, to time.Time
	words    func(tokenFilters, int) bool // may a row group match (free text)?
	segs     []Segment                    // newest first
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

// prepare binds the query to each searched index and finds the segments
// that can hold matches: of the scope's tenants, overlapping the time
// range, and (for free text) with a row group whose token filter holds
// the words.
func (l *Engine) prepare(ctx context.Context, req *SearchRequest) ([]*plan, error) {
	if req.To.IsZero() {
		req.To = time.Now().UTC()
	}
	if !req.From.Before(req.To) {
		return nil, fmt.Errorf("the time range is empty: from %s is not before to %s", req.From.Format(time.RFC3339), req.To.Format(time.RFC3339))
	}
	ast, err := query.Parse(req.Query)
	if err != nil {
		return nil, err
	}
	schemas, err := indices(req)
	if err != nil {
		return nil, err
	}
	// Bind against every index first, so a query is rejected the same way
	// whichever indices are searched.
	now := time.Now()
	for _, s := range interflow.Schemas() {
		if _, err := query.Bind(ast, s, now); err != nil {
			return nil, err
		}
	}
	var plans []*plan
	for _, s := range schemas {
		e, _ := query.Bind(ast, s, now)
		if e == query.Const(false) {
			continue
		}
		p := &plan{schema: s, expr: e, words: mayMatch(e), from: req.From.UTC(), to: req.To.UTC()}
		c := compiled{}
		var b strings.Builder
		// Segments hold one tenant each and are chosen by tenant; the
		// condition stays as a second line of defence.
		if len(req.Tenants) > 0 {
			ph := make([]string, len(req.Tenants))
			for i, t := range req.Tenants {
				ph[i] = c.arg(t)
			}
			b.WriteString("tenant IN (" + strings.Join(ph, ",") + ") AND ")
		}
		c.sql(&b, e, s)
		p.where, p.args = b.String(), c.args
		if p.segs, err = l.segmentsIn(ctx, s.Index, req.Tenants, req.From, req.To); err != nil {
			return nil, err
		}
		if len(p.segs) > 0 {
			plans = append(plans, p)
		}
	}
	return plans, nil
}

// mayMatch returns, for a bound query, whether a row group with a given
// token filter can hold a match: every word of a free-text needle under
// AND must be in the filter. nil means any row group may match.
func mayMatch(e query.Expr) func(tokenFilters, int) bool {
	switch x := e.(type) {
	case query.Text:
		var hs []uint64
		query.Words(x.Needle, func(w string) { hs = append(hs, wordHash(w)) })
		if len(hs) == 0 {
			return nil
		}
		return func(t tokenFilters, rg int) bool { return t.mayHold(rg, hs) }
	case query.AllOf:
		var parts []func(tokenFilters, int) bool
		for _, c := range x {
			if m := mayMatch(c); m != nil {
				parts = append(parts, m)
			}
		}
		if len(parts) == 0 {
			return nil
		}
		return func(t tokenFilters, rg int) bool {
			for _, p := range parts {
				if !p(t, rg) {
					return false
				}
			}
			return true
		}
	case query.AnyOf:
		var parts []func(tokenFilters, int) bool
		for _, c := range x {
			m := mayMatch(c)
			if m == nil {
				return nil // an operand that any row group may match
			}
			parts = append(parts, m)
		}
		return func(t tokenFilters, rg int) bool {
			for _, p := range parts {
				if p(t, rg) {
					return true
				}
			}
			return false
		}
	}
	return nil
}

// source is the FROM clause over some segments. A segment entirely
// inside the time range is read without a time condition (so its
// timestamps need not be decoded); the others with one. For free text,
// segments are restricted to the row groups whose token filters allow a
// match. ok is false when no row group of these segments can match.
func (l *Engine) source(p *plan, segs []Segment) (string, bool, error) {
	return l.sourceOf(p, segs, "")
}

// keyedSource is source with each row's file and row number (filename,
// file_row_number), which the newest-first search fetches rows by. Other
// queries go without: DuckDB fills them per row even when unused.
func (l *Engine) keyedSource(p *plan, segs []Segment) (string, bool, error) {
	return l.sourceOf(p, segs, "filename = true, file_row_number = true, ")
}

// covers reports whether every record of a segment lies in the plan's
// time range, so its rows need no time condition.
func (p *plan) covers(s Segment) bool { return !s.MinTS.Before(p.from) && s.MaxTS.Before(p.to) }

// timeCond is the plan's time range as a condition on rows.
func (p *plan) timeCond() string {
	return `"timestamp" >= ` + timeLiteral(p.from) + ` AND "timestamp" < ` + timeLiteral(p.to)
}

func (l *Engine) sourceOf(p *plan, segs []Segment, keys string) (string, bool, error) {
	schemaFile := "SELECT * FROM read_parquet(" + quoteString(l.schemaFiles[segs[0].Index]) + ", hive_partitioning = false)"
	timeCond, inside := p.timeCond(), p.covers
	parts := []string{schemaFile}
	if p.words == nil {
		var in, edge []string
		for _, s := range segs {
			f := quoteString(filepath.Join(l.root, s.Path))
			if inside(s) {
				in = append(in, f)
			} else {
				edge = append(edge, f)
			}
		}
		if len(in) > 0 {
			parts = append(parts, "SELECT * FROM read_parquet(["+strings.Join(in, ", ")+"], union_by_name = true, "+keys+hiveOptions+")")
		}
		if len(edge) > 0 {
			parts = append(parts, "SELECT * FROM read_parquet(["+strings.Join(edge, ", ")+"], union_by_name = true, "+keys+hiveOptions+") WHERE "+timeCond)
		}
		return "(" + strings.Join(parts, " UNION ALL BY NAME ") + ")", true, nil
	}
	for _, s := range segs {
		full := filepath.Join(l.root, s.Path)
		t, err := l.filters.get(filepath.Join(l.root, tokensRel(s.Path)))
		if err != nil {
			return "", false, fmt.Errorf("lake: token filter of %s: %w", s.Path, err)
		}
		var rgs []string
		for rg := 0; rg < s.RowGroups; rg++ {
			if p.words(t, rg) {
				rgs = append(rgs, fmt.Sprint(rg))
			}
		}
		if len(rgs) == 0 {
			continue
		}
		var conds []string
		if len(rgs) < s.RowGroups {
			conds = append(conds, "rg IN ("+strings.Join(rgs, ",")+")")
		}
		if !inside(s) {
			conds = append(conds, timeCond)
		}
		src := "SELECT * FROM read_parquet(" + quoteString(full) + ", " + keys + hiveOptions + ")"
		if len(conds) > 0 {
			src += " WHERE " + strings.Join(conds, " AND ")
		}
		parts = append(parts, src)
	}
	if len(parts) == 1 {
		return "", false, nil
	}
	return "(" + strings.Join(parts, " UNION ALL BY NAME ") + ")", true, nil
}

// hiveOptions read a segment's index, tenant and day from its folders
// (index=…/tenant=…/day=…), which is where they are stored: the files do
// not repeat them, so Trino, Athena and Spark see them as partition keys.
// Their types are fixed, so a tenant named 2024 stays text.
const hiveOptions = `hive_partitioning = true, hive_types = {'index': VARCHAR, 'tenant': VARCHAR, 'day': DATE}`

func timeLiteral(t time.Time) string {
	return "TIMESTAMP '" + t.UTC().Format("2006-01-02 15:04:05.999999") + "'"
}

// chunks splits segments (newest first) into groups queried together:
// first the newest segment and every one that overlaps it in time (the
// same hours of other tenants or commits), so a newest-first search over a
// long range usually ends there; then groups growing fourfold.
// span is the earliest and the latest record time of segments. Segments
// are ordered by their newest record, so the last one need not hold the
// oldest: a long segment can sit beside short ones inside its span.
func span(segs []Segment) (oldest, newest time.Time) {
	oldest, newest = segs[0].MinTS, segs[0].MaxTS
	for _, s := range segs[1:] {
		if s.MinTS.Before(oldest) {
			oldest = s.MinTS
		}
		if s.MaxTS.After(newest) {
			newest = s.MaxTS
		}
	}
	return oldest, newest
}

func chunks(segs []Segment) [][]Segment {
	if len(segs) == 0 {
		return nil
	}
	n := 1
	for n < len(segs) && segs[n].MaxTS.After(segs[0].MinTS) {
		n++
	}
	out := [][]Segment{segs[:n]}
	segs = segs[n:]
	size := 4
	for len(segs) > 0 {
		n := min(size, len(segs))
		out = append(out, segs[:n])
		segs = segs[n:]
		size *= 4
	}
	return out
}

// Count returns the number of matching records.
func (l *Engine) Count(ctx context.Context, req SearchRequest) (int64, error) {
	plans, err := l.prepare(ctx, &req)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, p := range plans {
		from, ok, err := l.source(p, p.segs)
		if err != nil || !ok {
			if err != nil {
				return 0, err
			}
			continue
		}
		var n int64
		if err := l.q.QueryRowContext(ctx, "SELECT count(*) FROM "+from+" WHERE "+p.where, p.args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("lake: count %s: %w", p.schema.Index, err)
		}
		total += n
	}
	return total, nil
}

// Search returns the newest matching records. Segments are read newest
// first, a few at a time, and reading stops once the next segment can
// hold nothing newer than the last record kept.
func (l *Engine) Search(ctx context.Context, req SearchRequest) (*SearchResult, error) {
	if req.Limit <= 0 {
		req.Limit = 100
	}
	if req.Limit > 10000 {
		req.Limit = 10000
	}
	plans, err := l.prepare(ctx, &req)
	if err != nil {
		return nil, err
	}
	// First the keys of the newest matches (time, id, file and row: few
	// columns to decode), then the whole records of just those rows.
	var keys []hit
	for _, p := range plans {
		got, err := l.newestKeys(ctx, p, req)
		if err != nil {
			return nil, err
		}
		keys = append(keys, got...)
	}
	sortHits(keys)
	res := &SearchResult{}
	if len(keys) > req.Limit {
		keys = keys[:req.Limit]
		last := keys[len(keys)-1]
		res.Next = &Cursor{Timestamp: last.ts, ID: last.id}
	}
	rows, err := l.fetch(ctx, keys)
	if err != nil {
		return nil, err
	}
	res.Rows = rows
	if res.Rows == nil {
		res.Rows = []Row{}
	}
	return res, nil
}

// hit is the key of one matching record.
type hit struct {
	plan *plan
	file string
	row  int64
	rg   int32
	ts   time.Time
	id   string
}

func sortHits(h []hit) {
	sort.Slice(h, func(i, j int) bool {
		if !h[i].ts.Equal(h[j].ts) {
			return h[i].ts.After(h[j].ts)
		}
		return h[i].id > h[j].id
	})
}

// newestKeys finds the keys of the limit+1 newest matches of one index,
// reading segments newest first and stopping once the next ones can hold
// nothing newer than the last key kept.
func (l *Engine) newestKeys(ctx context.Context, p *plan, req SearchRequest) ([]hit, error) {
	where, args := p.where, append([]any(nil), p.args...)
	if req.Before != nil {
		where += ` AND ("timestamp" < ? OR ("timestamp" = ? AND id < ?))`
		args = append(args, req.Before.Timestamp.UTC(), req.Before.Timestamp.UTC(), req.Before.ID)
	}
	var keys []hit
	groups := chunks(p.segs)
	if p.words != nil {
		// Free text: the token filters have already narrowed the reading
		// to a few row groups; one query over all of them beats several
		// newest-first rounds.
		groups = [][]Segment{p.segs}
	}
	for _, chunk := range groups {
		if len(keys) > req.Limit {
			sortHits(keys)
			keys = keys[:req.Limit+1]
			if chunk[0].MaxTS.Before(keys[req.Limit].ts) {
				break // nothing in these or older segments is newer
			}
		}
		if from, _ := span(chunk); req.Before != nil && from.After(req.Before.Timestamp) {
			continue // all newer than the page
		}
		from, ok, err := l.keyedSource(p, chunk)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		q := `SELECT filename, file_row_number, rg, "timestamp", id FROM ` + from + " WHERE " + where +
			` ORDER BY "timestamp" DESC, id DESC LIMIT ?`

		rs, err := l.q.QueryContext(ctx, q, append(append([]any(nil), args...), req.Limit+1)...)
		if err != nil {
			return nil, fmt.Errorf("lake: search %s: %w", p.schema.Index, err)
		}
		for rs.Next() {
			h := hit{plan: p}
			if err := rs.Scan(&h.file, &h.row, &h.rg, &h.ts, &h.id); err != nil {
				rs.Close()
				return nil, err
			}
			h.ts = h.ts.UTC()
			keys = append(keys, h)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// fetch reads the whole records of the keys (newest first), a query per
// segment file, which reads only the row groups holding the rows.
func (l *Engine) fetch(ctx context.Context, keys []hit) ([]Row, error) {
	type fileRows struct {
		p    *plan
		rows []string
		rgs  map[int32]bool
	}
	byFile := map[string]*fileRows{}
	var order []string
	for _, k := range keys {
		f := byFile[k.file]
		if f == nil {
			f = &fileRows{p: k.plan, rgs: map[int32]bool{}}
			byFile[k.file] = f
			order = append(order, k.file)
		}
		f.rows = append(f.rows, fmt.Sprint(k.row))
		f.rgs[k.rg] = true
	}
	// One query per index, a branch per file: each branch reads only the
	// row groups that hold its rows.
	// Records of two connectors reading the same object share an id (it
	// is the object's and the position's): each key takes its own row,
	// not the last one read of that id.
	found := map[string][]Row{}
	byPlan := map[*plan][]string{}
	var plans []*plan
	for _, file := range order {
		f := byFile[file]
		if byPlan[f.p] == nil {
			plans = append(plans, f.p)
			byPlan[f.p] = []string{"SELECT * FROM read_parquet(" + quoteString(l.schemaFiles[f.p.schema.Index]) + ", hive_partitioning = false)"}
		}
		var rgs []string
		for rg := range f.rgs {
			rgs = append(rgs, fmt.Sprint(rg))
		}
		// The row group numbers let DuckDB skip the other row groups by
		// their statistics; the row numbers pick the rows.
		byPlan[f.p] = append(byPlan[f.p], "SELECT * FROM read_parquet("+quoteString(file)+", file_row_number = true, "+hiveOptions+
			") WHERE rg IN ("+strings.Join(rgs, ",")+") AND file_row_number IN ("+strings.Join(f.rows, ",")+")")
	}
	for _, p := range plans {
		q := "SELECT " + selectList(p.schema) + " FROM (" + strings.Join(byPlan[p], " UNION ALL BY NAME ") + ")"
		rows, err := l.scanRows(ctx, p.schema, q, nil)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			id := r["id"].(string)
			found[id] = append(found[id], r)
		}
	}
	out := make([]Row, 0, len(keys))
	for _, k := range keys {
		if rs := found[k.id]; len(rs) > 0 {
			out = append(out, rs[0])
			found[k.id] = rs[1:]
		}
	}
	return out, nil
}

func sortRows(rows []Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		ti, tj := rows[i]["timestamp"].(time.Time), rows[j]["timestamp"].(time.Time)
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return rows[i]["id"].(string) > rows[j]["id"].(string)
	})
}

func selectList(s *interflow.Schema) string {
	cols := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		cols[i] = quoteIdent(ColumnName(f.Name))
	}
	return strings.Join(cols, ", ")
}

func (l *Engine) scanRows(ctx context.Context, s *interflow.Schema, q string, args []any) ([]Row, error) {
	rs, err := l.q.QueryContext(ctx, q, args...)
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
			switch x := v.(type) {
			case time.Time:
				v = x.UTC()
			case []any:
				l := make([]string, 0, len(x))
				for _, e := range x {
					if s, ok := e.(string); ok {
						l = append(l, s)
					}
				}
				v = l
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
func (l *Engine) Histogram(ctx context.Context, req SearchRequest, interval time.Duration) ([]Bucket, error) {
	plans, err := l.prepare(ctx, &req)
	if err != nil {
		return nil, err
	}
	if interval < time.Second {
		interval = time.Second
	}
	secs := int64(interval / time.Second)
	counts := map[int64]int64{}
	for _, p := range plans {
		from, ok, err := l.source(p, p.segs)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		q := `SELECT (epoch("timestamp")::BIGINT // ?) * ? AS b, count(*) FROM ` + from + " WHERE " + p.where + " GROUP BY b"
		rs, err := l.q.QueryContext(ctx, q, append([]any{secs, secs}, p.args...)...)
		if err != nil {
			return nil, fmt.Errorf("lake: histogram %s: %w", p.schema.Index, err)
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
// IP fields are grouped by their integer keys, about four times faster
// than by text.
func (l *Engine) Top(ctx context.Context, req SearchRequest, fieldName string, n int) ([]TopValue, error) {
	plans, err := l.prepare(ctx, &req)
	if err != nil {
		return nil, err
	}
	if !interflow.Known(fieldName) {
		return nil, &query.FieldError{Field: fieldName}
	}
	if n <= 0 || n > 1000 {
		n = 10
	}
	agg := map[string]*TopValue{}
	for _, p := range plans {
		fi, ok := p.schema.Lookup(fieldName)
		if !ok {
			continue
		}
		from, ok, err := l.source(p, p.segs)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		f := p.schema.Fields[fi]
		where := p.where
		groups := map[string]string{quoteIdent(ColumnName(f.Name)): " IS NOT NULL"}
		if f.Type == interflow.IP {
			groups = map[string]string{quoteIdent(v4Column(f.Name)): " IS NOT NULL", quoteIdent(v6Column(f.Name)): " IS NOT NULL"}
			if plain, cond, ok := l.plainSource(p); ok {
				// An error here is a column none of these segments has
				// (written before it existed): the general source binds it.
				if g, err := l.ipGroups(ctx, plain, p.where+cond, p.args, f.Name); err == nil {
					from, where, groups = plain, p.where+cond, g
				}
			}
		}
		for g, cond := range groups {
			q := "SELECT " + g + ", count(*) AS n FROM " + from + " WHERE " + where + " AND " + g + cond +
				" GROUP BY 1 ORDER BY n DESC LIMIT ?"
			if err := l.topRows(ctx, q, append(append([]any(nil), p.args...), n), g, agg); err != nil {
				return nil, fmt.Errorf("lake: top %s: %w", fieldName, err)
			}
		}
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

// denseKeyBits bounds the range of keys DuckDB counts in an array (its
// perfect hash aggregate): 2^20 counters, a few MB per thread.
const denseKeyBits = 20

// ipGroups gives the key columns an IP field's top values are grouped by,
// each with its condition. Grouping one integer column is about four times
// faster than text, and an array of counters another three to four times
// faster than a hash table; DuckDB uses the array when it knows the keys'
// range, which statistics of many files do not tell it. So one scan finds
// the range of the IPv4 keys the query selects and whether it selects any
// IPv6 address; a BETWEEN then gives DuckDB the range (the addresses of a
// VPC or a few /16s: 10M keys of a /14 grouped in 80 ms instead of 280),
// and the IPv6 grouping runs only when there is an IPv6 address.
func (l *Engine) ipGroups(ctx context.Context, from, where string, args []any, field string) (map[string]string, error) {
	v4, v6 := quoteIdent(v4Column(field)), quoteIdent(v6Column(field))
	var lo, hi sql.NullInt64
	var n6 int64
	q := "SELECT min(" + v4 + "), max(" + v4 + "), count(" + v6 + ") FROM " + from + " WHERE " + where
	if err := l.q.QueryRowContext(ctx, q, args...).Scan(&lo, &hi, &n6); err != nil {
		return nil, err
	}
	groups := map[string]string{}
	switch {
	case !lo.Valid:
	case hi.Int64-lo.Int64 < 1<<denseKeyBits:
		groups[v4] = fmt.Sprintf(" BETWEEN %d AND %d", lo.Int64, hi.Int64)
	default:
		groups[v4] = " IS NOT NULL"
	}
	if n6 > 0 {
		groups[v6] = " IS NOT NULL"
	}
	return groups, nil
}

// plainSource is the segments of a plan as one read_parquet, without
// source's schema file (whose UNION hides the keys' range from DuckDB),
// and the time condition its rows need when a segment reaches past the
// plan's range. Not for free text, whose row groups are chosen per
// segment.
func (l *Engine) plainSource(p *plan) (string, string, bool) {
	if p.words != nil || len(p.segs) == 0 {
		return "", "", false
	}
	files := make([]string, len(p.segs))
	cond := ""
	for i, s := range p.segs {
		files[i] = quoteString(filepath.Join(l.root, s.Path))
		if !p.covers(s) {
			cond = " AND " + p.timeCond()
		}
	}
	return "read_parquet([" + strings.Join(files, ", ") + "], union_by_name = true, " + hiveOptions + ")", cond, true
}

func (l *Engine) topRows(ctx context.Context, q string, args []any, group string, agg map[string]*TopValue) error {
	rs, err := l.q.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		var v any
		var c int64
		switch {
		case strings.HasSuffix(group, `_v4"`):
			var v4 sql.NullInt64
			if err := rs.Scan(&v4, &c); err != nil {
				return err
			}
			v = ipText(v4, nil)
		case strings.HasSuffix(group, `_v6"`):
			var v6 []byte
			if err := rs.Scan(&v6, &c); err != nil {
				return err
			}
			v = ipText(sql.NullInt64{}, v6)
		default:
			if err := rs.Scan(&v, &c); err != nil {
				return err
			}
		}
		if v == nil {
			continue
		}
		k := fmt.Sprint(v)
		if agg[k] == nil {
			agg[k] = &TopValue{Value: v}
		}
		agg[k].Count += c
	}
	return rs.Err()
}

// ipText turns an IP field's keys back into its text.
func ipText(v4 sql.NullInt64, v6 []byte) any {
	if v4.Valid {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(v4.Int64))
		return netip.AddrFrom4(b).String()
	}
	if len(v6) == 16 {
		return netip.AddrFrom16([16]byte(v6)).String()
	}
	return nil
}

// Duplicates counts record IDs stored more than once, across both indices:
// the invariant the reliability tests check.
func (l *Engine) Duplicates(ctx context.Context) (int64, error) {
	var total int64
	for _, s := range interflow.Schemas() {
		from, ok, err := l.allOf(ctx, s.Index)
		if err != nil || !ok {
			if err != nil {
				return 0, err
			}
			continue
		}
		var n int64
		if err := l.q.QueryRowContext(ctx, `SELECT coalesce(sum(c - 1), 0) FROM (SELECT id, count(*) c FROM `+from+` GROUP BY id HAVING count(*) > 1)`).Scan(&n); err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// allOf is the FROM clause over every segment of an index.
func (l *Engine) allOf(ctx context.Context, index string) (string, bool, error) {
	segs, err := l.segmentsOf(ctx, index)
	if err != nil || len(segs) == 0 {
		return "", false, err
	}
	return l.source(&plan{to: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, segs)
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
func (l *Engine) CheckIntegrity(ctx context.Context, index string) (Integrity, error) {
	var it Integrity
	s := interflow.SchemaFor(index)
	if s == nil {
		return it, fmt.Errorf("unknown index %q", index)
	}
	from, ok, err := l.allOf(ctx, index)
	if err != nil || !ok {
		return it, err
	}
	ev := "NULL"
	if _, ok := s.Lookup("event_id"); ok {
		ev = "event_id"
	}
	err = l.q.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT id), count(DISTINCT "+ev+") FROM "+from).
		Scan(&it.Rows, &it.DistinctIDs, &it.DistinctEventIDs)
	return it, err
}
