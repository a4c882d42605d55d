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

// rawPath matches a value inside the raw JSON. The JSON functions run only
// on raw text that is JSON (they fail on anything else), and give the
// texts query.Eval gives (see query.RawPath): a scalar's, an object's JSON
// text, each element's of a list.
func (c *compiled) rawPath(b *strings.Builder, x query.RawPath) {
	p := x.JSONPath()
	if x.Has {
		b.WriteString("coalesce(CASE WHEN json_valid(raw) THEN json_type(raw, " + c.arg(p) + ") <> 'NULL' END, FALSE)")
		return
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
	if frag := verbatimFragment(x); frag != "" {
		// A record the term matches holds frag in its raw text (see
		// verbatimFragment), so a record without it is rejected before
		// its JSON is parsed (twice: valid, extract). The JSON term
		// still decides; this only spares it most records.
		b.WriteString("((contains(raw, '\\') OR contains(" + lower("raw", x.Fold) + ", " + c.arg(frag) + ")) AND ")
		defer b.WriteString(")")
	}
	// The path is extracted once per record and bound to j (a one-element
	// list's lambda): the record's JSON is parsed twice per term (valid,
	// extract), not once per json_type and extract of each branch, which
	// made the built-in CloudTrail rules most of a collection's time. The
	// JSON functions read validJSON, never raw: they fail on text that is
	// not JSON. Each placeholder takes its own argument, in the order
	// written.
	b.WriteString("list_transform([json_extract(" + validJSON + ", " + c.arg(p) + ")], lambda j: CASE WHEN json_type(j) IN " + jsonScalars + " THEN ")
	b.WriteString(match("json_extract_string(j, '$')"))
	b.WriteString(" WHEN json_type(j) = 'OBJECT' THEN ")
	b.WriteString(match("CAST(j AS VARCHAR)"))
	b.WriteString(" WHEN json_type(j) = 'ARRAY' THEN len(list_filter(json_extract(j, '$[*]'), lambda e: ")
	elem := "(CASE WHEN json_type(e) IN ('OBJECT', 'ARRAY') THEN CAST(e AS VARCHAR) WHEN json_type(e) IN " + jsonScalars + " THEN json_extract_string(e, '$') END)"
	b.WriteString(match(elem) + ")) > 0 END)[1]")
}

// verbatimFragment is a text that must appear in a record's raw JSON for
// the term to match it, or "" when there is none to rely on: the longest
// literal run of the value or pattern (not a regular expression), of
// ASCII letters, digits and . _ - / @ only, with a character no JSON
// number has. In JSON without a backslash (the escape hatch the SQL
// adds) every string, key and literal is written as its text, so a value
// holding the run, or an object's or list's text holding it, puts it in
// the raw text as is; a run of those characters never spans tokens (no
// quote, colon, comma or space), and one with a letter other than e is no
// number's (numbers are the one token an engine may re-format). With
// Fold the run is already lower-case and is looked for in lower(raw).
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
// raw path's scalar or object text (a list has none, as in query.Eval).
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
