package lake

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
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
}

// FieldError is a query naming a field no index has.
type FieldError struct {
	Pos   int
	Field string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("query: at position %d: unknown field %q (see docs/interflow.md for field names)", e.Pos, e.Field)
}

// ValueError is a value that does not fit its field's type.
type ValueError struct {
	Pos int
	Msg string
}

func (e *ValueError) Error() string { return fmt.Sprintf("query: at position %d: %s", e.Pos, e.Msg) }

func knownAnywhere(field string) bool {
	for _, s := range interflow.Schemas() {
		if _, ok := s.Lookup(field); ok {
			return true
		}
	}
	return false
}

// Validate parses a query and checks its field names and values, returning a
// positioned error for the first problem.
func Validate(q string) error {
	n, err := query.Parse(q)
	if err != nil {
		return err
	}
	for _, s := range interflow.Schemas() {
		if _, err := compile(n, s); err != nil {
			return err
		}
	}
	return nil
}

func compile(n query.Node, s *interflow.Schema) (compiled, error) {
	var c compiled
	var b strings.Builder
	if err := c.node(&b, n, s); err != nil {
		return c, err
	}
	c.where = b.String()
	return c, nil
}

func (c *compiled) node(b *strings.Builder, n query.Node, s *interflow.Schema) error {
	switch x := n.(type) {
	case query.MatchAll:
		b.WriteString("TRUE")
	case query.And:
		b.WriteString("(")
		if err := c.node(b, x.L, s); err != nil {
			return err
		}
		b.WriteString(" AND ")
		if err := c.node(b, x.R, s); err != nil {
			return err
		}
		b.WriteString(")")
	case query.Or:
		b.WriteString("(")
		if err := c.node(b, x.L, s); err != nil {
			return err
		}
		b.WriteString(" OR ")
		if err := c.node(b, x.R, s); err != nil {
			return err
		}
		b.WriteString(")")
	case query.Not:
		// Absent values do not match a term, so NOT must treat NULL as false.
		b.WriteString("(NOT coalesce(")
		if err := c.node(b, x.X, s); err != nil {
			return err
		}
		b.WriteString(", FALSE))")
	case query.Exists:
		f, ok, err := field(s, x.Field, x.Pos)
		if err != nil {
			return err
		}
		if !ok {
			b.WriteString("FALSE")
			return nil
		}
		if f.Type == interflow.Strings {
			b.WriteString("len(" + quoteIdent(f.Name) + ") > 0")
			return nil
		}
		b.WriteString(quoteIdent(f.Name) + " IS NOT NULL")
	case query.Range:
		return c.rangeExpr(b, x, s)
	case query.Term:
		return c.term(b, x, s)
	default:
		return fmt.Errorf("query: unsupported node %T", n)
	}
	return nil
}

func field(s *interflow.Schema, name string, pos int) (interflow.Field, bool, error) {
	if name == "index" || name == "_index" {
		name = "index"
	}
	if i, ok := s.Lookup(name); ok {
		return s.Fields[i], true, nil
	}
	if !knownAnywhere(name) {
		return interflow.Field{}, false, &FieldError{Pos: pos, Field: name}
	}
	return interflow.Field{}, false, nil
}

func (c *compiled) arg(v any) string {
	c.args = append(c.args, v)
	return "?"
}

func (c *compiled) term(b *strings.Builder, t query.Term, s *interflow.Schema) error {
	if t.Field == "" {
		// Free text: case-insensitive substring of the raw record.
		v := strings.ToLower(query.Literal(t.Value))
		if t.Wildcard {
			b.WriteString("lower(raw) LIKE " + c.arg("%"+strings.ToLower(query.Pattern(t.Value))+"%") + ` ESCAPE '\'`)
			return nil
		}
		b.WriteString("contains(lower(raw), " + c.arg(v) + ")")
		return nil
	}
	f, ok, err := field(s, t.Field, t.Pos)
	if err != nil {
		return err
	}
	col := quoteIdent(f.Name)
	if !ok {
		// Validate the value against the index that has the field, so a
		// type error is reported even when searching one index.
		b.WriteString("FALSE")
		return nil
	}
	if f.Type == interflow.Strings {
		if t.Op != "=" {
			return &ValueError{Pos: t.Pos, Msg: f.Name + " is a list of names: match one with " + f.Name + ":value or " + f.Name + ":prefix*"}
		}
		if t.Wildcard {
			b.WriteString("len(list_filter(" + col + ", x -> x LIKE " + c.arg(query.Pattern(t.Value)) + ` ESCAPE '\')) > 0`)
			return nil
		}
		b.WriteString("list_contains(" + col + ", " + c.arg(t.Value) + ")")
		return nil
	}
	if t.Wildcard {
		if f.Type != interflow.String && f.Type != interflow.IP {
			return &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("wildcards work on text fields; %s is %s: use a range such as %s:[1 TO 1024]", f.Name, f.Type, f.Name)}
		}
		b.WriteString(col + " LIKE " + c.arg(query.Pattern(t.Value)) + ` ESCAPE '\'`)
		return nil
	}
	op := t.Op
	switch f.Type {
	case interflow.IP:
		if strings.Contains(t.Value, "/") && op == "=" {
			p, err := netip.ParsePrefix(t.Value)
			if err != nil {
				return &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%q is not a CIDR block such as 10.0.0.0/8", t.Value)}
			}
			lo, hi := prefixKeys(p)
			k := quoteIdent(ipKeyColumn(f.Name))
			b.WriteString(k + " BETWEEN " + c.arg(lo) + " AND " + c.arg(hi))
			return nil
		}
		if a, err := netip.ParseAddr(t.Value); err == nil && op == "=" {
			b.WriteString(col + " = " + c.arg(a.Unmap().String()))
			return nil
		}
		if op != "=" {
			return &ValueError{Pos: t.Pos, Msg: "IP fields take an address or CIDR block, not a comparison"}
		}
		b.WriteString(col + " = " + c.arg(t.Value))
	case interflow.Int:
		v, err := strconv.ParseInt(t.Value, 10, 64)
		if err != nil {
			return &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s is a number; %q is not", f.Name, t.Value)}
		}
		b.WriteString(col + " " + op + " " + c.arg(v))
	case interflow.Bool:
		v, err := strconv.ParseBool(t.Value)
		if err != nil || op != "=" {
			return &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s is true or false", f.Name)}
		}
		b.WriteString(col + " = " + c.arg(v))
	case interflow.Time:
		v, err := ParseTime(t.Value, time.Now())
		if err != nil {
			return &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s: %v", f.Name, err)}
		}
		b.WriteString(col + " " + op + " " + c.arg(v))
	default:
		b.WriteString(col + " " + op + " " + c.arg(t.Value))
	}
	return nil
}

func (c *compiled) rangeExpr(b *strings.Builder, r query.Range, s *interflow.Schema) error {
	f, ok, err := field(s, r.Field, r.Pos)
	if err != nil {
		return err
	}
	if !ok {
		b.WriteString("FALSE")
		return nil
	}
	col := quoteIdent(f.Name)
	conv := func(v string) (any, error) {
		switch f.Type {
		case interflow.Int:
			return strconv.ParseInt(v, 10, 64)
		case interflow.Time:
			return ParseTime(v, time.Now())
		case interflow.Bool, interflow.Strings:
			return nil, fmt.Errorf("ranges do not apply to %s fields", f.Type)
		case interflow.IP:
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, err
			}
			col = quoteIdent(ipKeyColumn(f.Name))
			return interflow.IPKey(a.String()), nil
		}
		return v, nil
	}
	var parts []string
	if r.Lo != "*" {
		v, err := conv(r.Lo)
		if err != nil {
			return &ValueError{Pos: r.Pos, Msg: fmt.Sprintf("range start %q does not fit %s (%s): %v", r.Lo, f.Name, f.Type, err)}
		}
		op := ">"
		if r.IncLo {
			op = ">="
		}
		parts = append(parts, col+" "+op+" "+c.arg(v))
	}
	if r.Hi != "*" {
		v, err := conv(r.Hi)
		if err != nil {
			return &ValueError{Pos: r.Pos, Msg: fmt.Sprintf("range end %q does not fit %s (%s): %v", r.Hi, f.Name, f.Type, err)}
		}
		op := "<"
		if r.IncHi {
			op = "<="
		}
		parts = append(parts, col+" "+op+" "+c.arg(v))
	}
	if len(parts) == 0 {
		b.WriteString(col + " IS NOT NULL")
		return nil
	}
	b.WriteString("(" + strings.Join(parts, " AND ") + ")")
	return nil
}

func prefixKeys(p netip.Prefix) (string, string) {
	p = p.Masked()
	a := p.Addr()
	bits := p.Bits()
	if a.Is4() {
		bits += 96
		a = netip.AddrFrom16(a.As16())
	}
	lo := a.As16()
	hi := lo
	for i := bits; i < 128; i++ {
		hi[i/8] |= 1 << (7 - uint(i%8))
	}
	return interflow.IPKey(netip.AddrFrom16(lo).String()), interflow.IPKey(netip.AddrFrom16(hi).String())
}

// ParseTime reads RFC 3339, a date (2006-01-02), "now", or a duration back
// from now such as -24h or -7d.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "now" {
		return now.UTC(), nil
	}
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		body := s[1:]
		var d time.Duration
		if strings.HasSuffix(body, "d") {
			n, err := strconv.Atoi(strings.TrimSuffix(body, "d"))
			if err != nil {
				return time.Time{}, fmt.Errorf("%q is not a duration such as -24h or -7d", s)
			}
			d = time.Duration(n) * 24 * time.Hour
		} else {
			v, err := time.ParseDuration(body)
			if err != nil {
				return time.Time{}, fmt.Errorf("%q is not a duration such as -24h or -7d", s)
			}
			d = v
		}
		if s[0] == '-' {
			d = -d
		}
		return now.Add(d).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2024-05-01T10:00:00Z), a date (2024-05-01) or a duration back from now (-24h)", s)
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
	var cs []compiled
	for _, s := range schemas {
		c, err := compile(ast, s)
		if err != nil {
			return nil, nil, err
		}
		// Bind the scope first so its placeholders come first.
		sc := compiled{}
		where := scope(req, &sc) + " AND " + c.where
		sc.args = append(sc.args, c.args...)
		sc.where = where
		cs = append(cs, sc)
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
	if !knownAnywhere(fieldName) {
		return nil, &FieldError{Field: fieldName}
	}
	if n <= 0 || n > 1000 {
		n = 10
	}
	agg := map[string]*TopValue{}
	for i, s := range schemas {
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
