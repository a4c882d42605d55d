package segment

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
)

// compiled is the SQL of a bound query with its parameters.
type compiled struct {
	args []any
}

func (c *compiled) arg(v any) string {
	c.args = append(c.args, v)
	return "?"
}

// sql writes the SQL of a bound query over a segment's columns. It is the
// only translation of query.Expr to SQL; query.Eval is the in-memory one,
// and the equivalence test holds them to one meaning.
func (c *compiled) sql(b *strings.Builder, e query.Expr, s *interflow.Schema) {
	col := func(i int) string { return quoteIdent(ColumnName(s.Fields[i].Name)) }
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
		b.WriteString(lower(col(x.Field), x.Fold) + " " + x.Op.String() + " " + c.arg(x.V))
	case query.Like:
		if s.Fields[x.Field].Type == interflow.Strings {
			b.WriteString("len(list_filter(" + col(x.Field) + ", lambda x: " + c.like(lower("x", x.Fold), x.Pattern, false) + ")) > 0")
		} else {
			b.WriteString(c.like(lower(col(x.Field), x.Fold), x.Pattern, false))
		}
	case query.ListHas:
		if x.Fold {
			b.WriteString("len(list_filter(" + col(x.Field) + ", lambda x: lower(x) = " + c.arg(x.V) + ")) > 0")
		} else {
			b.WriteString("list_contains(" + col(x.Field) + ", " + c.arg(x.V) + ")")
		}
	case query.FieldEq:
		l, r := c.operand(x.L, s), c.operand(x.R, s)
		b.WriteString("(" + lower(l, x.Fold) + " = " + lower(r, x.Fold) + ")")
	case query.IntCmp:
		b.WriteString(col(x.Field) + " " + x.Op.String() + " " + c.arg(x.V))
	case query.FloatCmp:
		b.WriteString(col(x.Field) + " " + x.Op.String() + " " + c.arg(x.V))
	case query.BoolEq:
		b.WriteString(col(x.Field) + " = " + c.arg(x.V))
	case query.TimeCmp:
		b.WriteString(col(x.Field) + " " + x.Op.String() + " " + c.arg(time.UnixMicro(x.V).UTC()))
	case query.IPRange:
		c.ipRange(b, s.Fields[x.Field].Name, x.Lo, x.Hi)
	case query.Text:
		// The substring test is cheap and selective; the boundary test
		// (RE2, linear) runs only on what it lets through.
		b.WriteString("(contains(lower(raw), " + c.arg(x.Needle) + ")")
		if re := query.WordsRegexp(x.Needle); re != "" {
			b.WriteString(" AND regexp_matches(lower(raw), " + c.arg(re) + ")")
		}
		b.WriteString(")")
	case query.RawPath:
		c.rawPath(b, x)
	case query.Regex:
		if s.Fields[x.Field].Type == interflow.Strings {
			b.WriteString("len(list_filter(" + col(x.Field) + ", lambda x: regexp_matches(x, " + c.arg(x.RE.String()) + "))) > 0")
		} else {
			b.WriteString("regexp_matches(" + col(x.Field) + ", " + c.arg(x.RE.String()) + ")")
		}
	case query.TextLike:
		b.WriteString(c.like("lower(raw)", x.Pattern, true))
	default:
		panic(fmt.Sprintf("lake: query node %T has no SQL", e))
	}
}

// rawPath matches a value inside the raw JSON, giving the texts
// query.Eval gives (see query.RawPath): a scalar's, an object's JSON
// text, each element's of a list, of any value the path reaches. The JSON
// functions run only in the THEN of json_valid(raw) (they fail on text
// that is not JSON, as VPC flow lines are).
//
// The plain JSONPath reaches a value only through objects, and does
// whenever the path meets no list, which is nearly always: that value is
// matched as before. A path of two keys or more is read with probes (one
// parse, as before) which also tell whether it stopped at a list; only
// then is the list extracted and walked (listCases), so a path that meets
// no list costs what it did (see docs/benchmarks.md).
func (c *compiled) rawPath(b *strings.Builder, x query.RawPath) {
	n := len(x.Path)
	if x.Has {
		if n == 1 {
			// The record is an object: a top-level key meets no list.
			b.WriteString("coalesce(CASE WHEN json_valid(raw) THEN json_type(raw, " + c.arg(x.JSONPath()) + ") <> 'NULL' END, FALSE)")
			return
		}
		b.WriteString("coalesce(CASE WHEN json_valid(raw) THEN list_transform([json_type(raw, " + probes(x.Path) + ")], lambda t: CASE")
		b.WriteString(" WHEN t[1] IS NOT NULL THEN t[1] <> 'NULL'" + c.listCases(x, "t") + " END)[1] END, FALSE)")
		return
	}
	if frag := verbatimFragment(x); frag != "" {
		// A record the term matches holds frag in its raw text (see
		// verbatimFragment), so a record without it is rejected before
		// its JSON is parsed (twice: valid, extract). The JSON term
		// still decides; this only spares it most records.
		b.WriteString("((contains(raw, '\\') OR contains(" + lower("raw", x.Fold) + ", " + c.arg(frag) + ")) AND ")
		defer b.WriteString(")")
	}
	// The path is extracted once per record and bound to a one-element
	// list's lambda: the record's JSON is parsed twice per term (valid,
	// extract), not once per json_type and extract of each branch, which
	// made the built-in CloudTrail rules most of a collection's time. Each
	// placeholder takes its own argument, in the order written.
	b.WriteString("CASE WHEN json_valid(raw) THEN ")
	if n == 1 {
		b.WriteString("list_transform([json_extract(raw, " + c.arg(x.JSONPath()) + ")], lambda j: " + c.valueMatch(x, "j") + ")[1] END")
		return
	}
	b.WriteString("list_transform([json_extract(raw, " + probes(x.Path) + ")], lambda p: CASE")
	b.WriteString(" WHEN p[1] IS NOT NULL THEN " + c.valueMatch(x, "p[1]") + c.listCases(x, "p") + " END)[1] END")
}

// probes is a literal list of JSONPaths that one parse reads together
// (json_extract and json_type take a list; it must be constant, so not a
// parameter): the plain path, then each proper prefix's first element
// ($."a"[0], $."a"."b"[0], ...). A prefix's is not NULL exactly when the
// prefix is a list that is not empty, and then the plain path stopped
// there: at most one is, and only when the plain path reaches nothing. A
// prefix that is an object gives NULL, and nothing is written for it.
func probes(path []string) string {
	ps := []string{quoteString(query.JSONPath(path))}
	for m := 1; m < len(path); m++ {
		ps = append(ps, quoteString(query.JSONPath(path[:m])+"[0]"))
	}
	return "[" + strings.Join(ps, ", ") + "]"
}

// listCases are the WHEN branches, over probed (the probes' results), that
// match the values the path reaches through the list the plain path
// stopped at: that list is extracted (a second parse, for these records
// only) and the rest of the path walked through it (walk); the term
// matches when any value reached does. An empty list reaches nothing.
func (c *compiled) listCases(x query.RawPath, probed string) string {
	var b strings.Builder
	for m := len(x.Path) - 1; m >= 1; m-- {
		from := "[json_extract(raw, " + quoteString(query.JSONPath(x.Path[:m])) + ")]"
		b.WriteString(fmt.Sprintf(" WHEN %s[%d] IS NOT NULL THEN len(list_filter(", probed, m+1))
		b.WriteString(walk(from, x.Path[m:]) + ", lambda v: " + c.valueMatch(x, "v") + ")) > 0")
	}
	return b.String()
}

// valueMatch is whether one JSON value v matches the term: Has, not
// null; otherwise by its texts (RawPath's). It is NULL when v is SQL NULL
// (nothing reached), FALSE for JSON null.
func (c *compiled) valueMatch(x query.RawPath, v string) string {
	if x.Has {
		return "json_type(" + v + ") <> 'NULL'"
	}
	match := func(text string) string {
		text = lower(text, x.Fold)
		switch {
		case x.RE != nil:
			return "regexp_matches(" + text + ", " + c.arg(x.RE.String()) + ")"
		case x.Like:
			return c.like(text, x.Pattern, false)
		}
		return text + " = " + c.arg(x.V)
	}
	var b strings.Builder
	b.WriteString("CASE WHEN json_type(" + v + ") IN " + jsonScalars + " THEN ")
	b.WriteString(match("json_extract_string(" + v + ", '$')"))
	b.WriteString(" WHEN json_type(" + v + ") = 'OBJECT' THEN ")
	b.WriteString(match("CAST(" + v + " AS VARCHAR)"))
	b.WriteString(" WHEN json_type(" + v + ") = 'ARRAY' THEN len(list_filter(json_extract(" + v + ", '$[*]'), lambda e: ")
	elem := "(CASE WHEN json_type(e) IN ('OBJECT', 'ARRAY') THEN CAST(e AS VARCHAR) WHEN json_type(e) IN " + jsonScalars + " THEN json_extract_string(e, '$') END)"
	b.WriteString(match(elem) + ")) > 0 WHEN json_type(" + v + ") = 'NULL' THEN FALSE END")
	return b.String()
}

// walk is the list of JSON values keys reach from the values in from (a
// JSON list), query.Eval's reach one key at a time: an object gives its
// value at the key (SQL NULL when it has none), a list the values at the
// key of the objects in it ($[*]."k": a wildcard path gives a list, empty
// when nothing matches) and of those in lists in it, ListDepth lists
// deep ($[*][*]."k", ...; parsed only when the list holds a list), and
// anything else nothing. Wildcard paths must be literals: DuckDB takes a
// bound parameter for a path that is not constant, and refuses wildcards
// in those.
func walk(from string, keys []string) string {
	for _, k := range keys {
		key := query.JSONPath([]string{k})[1:]
		var b strings.Builder
		b.WriteString("flatten(list_transform(" + from + ", lambda s: CASE json_type(s) WHEN 'OBJECT' THEN [json_extract(s, " + quoteString("$"+key) + ")]")
		b.WriteString(" WHEN 'ARRAY' THEN flatten([json_extract(s, " + quoteString("$[*]"+key) + ")")
		if query.ListDepth > 1 {
			b.WriteString(", CASE WHEN list_contains(json_type(s, '$[*]'), 'ARRAY') THEN flatten([")
			for d := 2; d <= query.ListDepth; d++ {
				if d > 2 {
					b.WriteString(", ")
				}
				b.WriteString("json_extract(s, " + quoteString("$"+strings.Repeat("[*]", d)+key) + ")")
			}
			b.WriteString("]) END")
		}
		b.WriteString("]) END))")
		from = b.String()
	}
	return from
}

// verbatimFragment is a text that must appear in a record's raw JSON for
// the term to match it, or "" when there is none to rely on: the longest
// literal run of the value or pattern (not a regular expression), of
// ASCII letters, digits and . _ - / @ only, with a character no JSON
// number has. In JSON without a backslash (the escape hatch the SQL
// adds) every string, key and literal is written as its text, so a value
// holding the run, or an object's or list's text holding it, puts it in
// the raw text as is, wherever the path reaches it (through lists too);
// a run of those characters never spans tokens (no quote, colon, comma or
// space), and one with a letter other than e is no number's (numbers are
// the one token an engine may re-format). With Fold the run is already
// lower-case and is looked for in lower(raw).
func verbatimFragment(x query.RawPath) string {
	var lit string
	switch {
	case x.RE != nil:
		return ""
	case x.Like:
		lit = string(x.Pattern)
	default:
		lit = x.V
	}
	best := ""
	run := func(r string) {
		if len(r) > len(best) && strings.ContainsFunc(r, func(c rune) bool { return !strings.ContainsRune("0123456789.+-eE", c) }) {
			best = r
		}
	}
	start := 0
	for i := 0; i <= len(lit); i++ {
		if i < len(lit) && verbatimByte(lit[i]) {
			continue
		}
		run(lit[start:i])
		if i < len(lit) && lit[i] == 0 && i+1 < len(lit) {
			i++ // a wildcard's marker and its * or ?
		}
		start = i + 1
	}
	return best
}

func verbatimByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-/@", c) >= 0
}

// validJSON is the raw text when it is JSON, else NULL (VPC flow lines).
const validJSON = "(CASE WHEN json_valid(raw) THEN raw END)"

// jsonScalars are the JSON types whose text query.Eval's scalarText gives.
const jsonScalars = "('VARCHAR', 'BOOLEAN', 'BIGINT', 'UBIGINT', 'DOUBLE')"

// lower lower-cases a text expression for a case-insensitive comparison.
func lower(expr string, fold bool) string {
	if fold {
		return "lower(" + expr + ")"
	}
	return expr
}

// operand is the text of one side of a field reference: a column, or a
// raw path's scalar or object text. A list has none, and neither has a
// path through a list (the plain JSONPath reaches nothing there), as in
// query.Eval: a reference compares one value, and a list holds many.
func (c *compiled) operand(o query.Operand, s *interflow.Schema) string {
	if o.Field >= 0 {
		return quoteIdent(ColumnName(s.Fields[o.Field].Name))
	}
	p := query.RawPath{Path: o.Path}.JSONPath()
	var b strings.Builder
	b.WriteString("(CASE WHEN json_type(" + validJSON + ", " + c.arg(p) + ") IN " + jsonScalars)
	b.WriteString(" THEN json_extract_string(" + validJSON + ", " + c.arg(p) + ")")
	b.WriteString(" WHEN json_type(" + validJSON + ", " + c.arg(p) + ") = 'OBJECT' THEN CAST(json_extract(" + validJSON + ", " + c.arg(p) + ") AS VARCHAR) END)")
	return b.String()
}

var (
	v4Lo = netip.MustParseAddr("::ffff:0.0.0.0")
	v4Hi = netip.MustParseAddr("::ffff:255.255.255.255")
)

// ipRange compares an IP field's keys: the IPv4 part of the range against
// the 32-bit key, the rest against the 16-byte key. Both are ranges that
// row-group statistics prune.
func (c *compiled) ipRange(b *strings.Builder, field string, lo, hi netip.Addr) {
	var parts []string
	if !hi.Less(v4Lo) && !v4Hi.Less(lo) {
		a, z := lo, hi
		if a.Less(v4Lo) {
			a = v4Lo
		}
		if v4Hi.Less(z) {
			z = v4Hi
		}
		parts = append(parts, quoteIdent(v4Column(field))+" BETWEEN "+c.arg(v4Key(a))+" AND "+c.arg(v4Key(z)))
	}
	if lo.Less(v4Lo) || v4Hi.Less(hi) {
		l16, h16 := lo.As16(), hi.As16()
		parts = append(parts, quoteIdent(v6Column(field))+" BETWEEN "+c.arg(l16[:])+" AND "+c.arg(h16[:]))
	}
	if len(parts) == 0 {
		b.WriteString("FALSE")
		return
	}
	b.WriteString("(" + strings.Join(parts, " OR ") + ")")
}

func v4Key(a netip.Addr) uint32 {
	b := a.Unmap().As4()
	return binary.BigEndian.Uint32(b[:])
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
