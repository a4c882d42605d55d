// Package filter applies a connector's log filters to records before they
// are stored. Rules are written in the search language, so an analyst tests
// a filter as a search first; they are evaluated in memory with the same
// semantics the lake gives the query (absent fields match no term, strings
// match exactly and case-sensitively, wildcards, CIDR, ranges, comparisons).
package filter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
)

// Rule is one compiled filter.
type Rule struct {
	Drop  bool
	match func(interflow.Record) bool
}

// Set is a connector's compiled filters.
type Set struct{ rules []Rule }

// Compile compiles a connector's filters, reporting the first bad one with
// its position.
func Compile(fs []connector.Filter) (*Set, error) {
	s := &Set{}
	for i, f := range fs {
		n, err := query.Parse(f.Query)
		if err != nil {
			return nil, fmt.Errorf("filters[%d] %q: %w", i, f.Query, err)
		}
		m, err := compile(n)
		if err != nil {
			return nil, fmt.Errorf("filters[%d] %q: %w", i, f.Query, err)
		}
		s.rules = append(s.rules, Rule{Drop: f.Action == "drop", match: m})
	}
	return s, nil
}

// Keep reports whether a record is stored: a record matching any drop rule
// is dropped; when keep rules exist, a record must match one of them.
func (s *Set) Keep(r interflow.Record) bool {
	if s == nil {
		return true
	}
	hasKeep, kept := false, false
	for _, rule := range s.rules {
		if rule.Drop {
			if rule.match(r) {
				return false
			}
			continue
		}
		hasKeep = true
		if !kept && rule.match(r) {
			kept = true
		}
	}
	return !hasKeep || kept
}

// Empty reports whether there are no rules.
func (s *Set) Empty() bool { return s == nil || len(s.rules) == 0 }

func knownField(name string) bool {
	for _, sc := range interflow.Schemas() {
		if _, ok := sc.Lookup(name); ok {
			return true
		}
	}
	return false
}

func compile(n query.Node) (func(interflow.Record) bool, error) {
	switch x := n.(type) {
	case query.MatchAll:
		return func(interflow.Record) bool { return true }, nil
	case query.And:
		l, err := compile(x.L)
		if err != nil {
			return nil, err
		}
		r, err := compile(x.R)
		if err != nil {
			return nil, err
		}
		return func(rec interflow.Record) bool { return l(rec) && r(rec) }, nil
	case query.Or:
		l, err := compile(x.L)
		if err != nil {
			return nil, err
		}
		r, err := compile(x.R)
		if err != nil {
			return nil, err
		}
		return func(rec interflow.Record) bool { return l(rec) || r(rec) }, nil
	case query.Not:
		m, err := compile(x.X)
		if err != nil {
			return nil, err
		}
		return func(rec interflow.Record) bool { return !m(rec) }, nil
	case query.Exists:
		if !knownField(x.Field) {
			return nil, fmt.Errorf("at position %d: unknown field %q", x.Pos, x.Field)
		}
		return func(rec interflow.Record) bool {
			v := rec.Get(x.Field)
			if l, ok := v.([]string); ok {
				return len(l) > 0
			}
			return v != nil
		}, nil
	case query.Range:
		return compileRange(x)
	case query.Term:
		return compileTerm(x)
	}
	return nil, fmt.Errorf("unsupported query node %T", n)
}

func compileTerm(t query.Term) (func(interflow.Record) bool, error) {
	if t.Field == "" {
		needle := strings.ToLower(query.Literal(t.Value))
		if t.Wildcard {
			pat := strings.ToLower(t.Value)
			return func(rec interflow.Record) bool {
				raw, _ := rec.Get("raw").(string)
				return wildMatch("\x00*"+pat+"\x00*", strings.ToLower(raw))
			}, nil
		}
		return func(rec interflow.Record) bool {
			raw, _ := rec.Get("raw").(string)
			return strings.Contains(strings.ToLower(raw), needle)
		}, nil
	}
	if !knownField(t.Field) {
		return nil, fmt.Errorf("at position %d: unknown field %q", t.Pos, t.Field)
	}
	field := t.Field
	if t.Wildcard {
		pat := t.Value
		return func(rec interflow.Record) bool {
			switch v := rec.Get(field).(type) {
			case string:
				return wildMatch(pat, v)
			case []string:
				for _, s := range v {
					if wildMatch(pat, s) {
						return true
					}
				}
			}
			return false
		}, nil
	}
	val := t.Value
	if strings.Contains(val, "/") && t.Op == "=" {
		if p, err := netip.ParsePrefix(val); err == nil {
			p = p.Masked()
			return func(rec interflow.Record) bool {
				s, ok := rec.Get(field).(string)
				if !ok {
					return false
				}
				a, err := netip.ParseAddr(s)
				return err == nil && p.Contains(a.Unmap())
			}, nil
		}
	}
	n, numErr := strconv.ParseInt(val, 10, 64)
	b, boolErr := strconv.ParseBool(val)
	op := t.Op
	return func(rec interflow.Record) bool {
		switch v := rec.Get(field).(type) {
		case string:
			return op == "=" && v == val
		case []string:
			for _, s := range v {
				if op == "=" && s == val {
					return true
				}
			}
		case int64:
			return numErr == nil && cmp(v, n, op)
		case bool:
			return boolErr == nil && op == "=" && v == b
		case time.Time:
			tv, err := parseTime(val)
			return err == nil && cmp(v.Unix(), tv.Unix(), op)
		}
		return false
	}, nil
}

func compileRange(r query.Range) (func(interflow.Record) bool, error) {
	if !knownField(r.Field) {
		return nil, fmt.Errorf("at position %d: unknown field %q", r.Pos, r.Field)
	}
	return func(rec interflow.Record) bool {
		var x, lo, hi int64
		var loErr, hiErr error
		switch v := rec.Get(r.Field).(type) {
		case int64:
			x = v
			lo, loErr = strconv.ParseInt(r.Lo, 10, 64)
			hi, hiErr = strconv.ParseInt(r.Hi, 10, 64)
		case time.Time:
			x = v.UnixNano()
			var lt, ht time.Time
			lt, loErr = parseTime(r.Lo)
			ht, hiErr = parseTime(r.Hi)
			lo, hi = lt.UnixNano(), ht.UnixNano()
		case string:
			return (r.Lo == "*" || v > r.Lo || r.IncLo && v == r.Lo) && (r.Hi == "*" || v < r.Hi || r.IncHi && v == r.Hi)
		default:
			return false
		}
		okLo := r.Lo == "*" || loErr == nil && (x > lo || r.IncLo && x == lo)
		okHi := r.Hi == "*" || hiErr == nil && (x < hi || r.IncHi && x == hi)
		return okLo && okHi
	}, nil
}

func cmp(a, b int64, op string) bool {
	switch op {
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "<":
		return a < b
	case "<=":
		return a <= b
	}
	return a == b
}

func parseTime(s string) (time.Time, error) {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q", s)
}

// wildMatch matches s against a query wildcard value, in which "\x00*"
// stands for any run of characters and "\x00?" for one character (the
// parser marks unescaped wildcards that way).
func wildMatch(pat, s string) bool {
	// Iterative matching with backtracking to the last star.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p+1 < len(pat) && pat[p] == 0 && pat[p+1] == '?':
			p += 2
			i++
		case p+1 < len(pat) && pat[p] == 0 && pat[p+1] == '*':
			star, mark = p, i
			p += 2
		case p < len(pat) && pat[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 2
			mark++
			i = mark
		default:
			return false
		}
	}
	for p+1 < len(pat) && pat[p] == 0 && pat[p+1] == '*' {
		p += 2
	}
	return p == len(pat)
}
