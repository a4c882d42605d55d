package detect

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
)

// Bound is a rule bound to one index's schema, ready to evaluate records
// in memory (the same query.Eval the log filters use).
type Bound struct {
	Rule   *Rule
	schema *interflow.Schema
	expr   query.Expr
	group  int // field index of Count.GroupBy, -1 for none
	field  int // field index of Count.Field, -1 for none
}

// Bind binds the rule's query to an index.
func (r *Rule) Bind(s *interflow.Schema, now time.Time) (*Bound, error) {
	e, err := query.Bind(r.Query, s, now)
	if err != nil {
		return nil, fmt.Errorf("rule %q on %s: %w", r.Title, s.Index, err)
	}
	b := &Bound{Rule: r, schema: s, expr: query.Simplify(e), group: -1, field: -1}
	if c := r.Count; c != nil {
		for _, f := range []struct {
			name string
			at   *int
		}{{c.GroupBy, &b.group}, {c.Field, &b.field}} {
			if f.name == "" {
				continue
			}
			i, ok := s.Lookup(f.name)
			if !ok {
				return nil, fmt.Errorf("rule %q: %s has no field %s", r.Title, s.Index, f.name)
			}
			*f.at = i
		}
	}
	return b, nil
}

// Match reports whether one record matches the rule's query.
func (b *Bound) Match(v interflow.Values) bool { return query.Eval(b.expr, v) }

// Group is one group of a count rule's window that passed its threshold.
type Group struct {
	Key     string // the group-by field's value ("" without by)
	Count   int64  // events, or distinct values of the counted field
	Records []int  // indexes of the matching records of the group
}

// Groups evaluates a count rule over the records of one window: the groups
// whose count passes the threshold, sorted by key. Records without the
// group-by field belong to no group.
func (b *Bound) Groups(recs []interflow.Values) []Group {
	type acc struct {
		n        int64
		distinct map[string]bool
		recs     []int
	}
	groups := map[string]*acc{}
	for i, v := range recs {
		if !b.Match(v) {
			continue
		}
		key := ""
		if b.group >= 0 {
			k, ok := text(v, b.group)
			if !ok {
				continue
			}
			key = k
		}
		a := groups[key]
		if a == nil {
			a = &acc{distinct: map[string]bool{}}
			groups[key] = a
		}
		a.recs = append(a.recs, i)
		if b.field >= 0 {
			if val, ok := text(v, b.field); ok {
				a.distinct[val] = true
			}
		} else {
			a.n++
		}
	}
	var out []Group
	for key, a := range groups {
		n := a.n
		if b.field >= 0 {
			n = int64(len(a.distinct))
		}
		if compare(n, b.Rule.Count.Op, b.Rule.Count.Threshold) {
			out = append(out, Group{Key: key, Count: n, Records: a.recs})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func text(v interflow.Values, i int) (string, bool) {
	if s, ok := v.Str(i); ok {
		return s, true
	}
	if n, ok := v.Int(i); ok {
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

func compare(n int64, op string, t int64) bool {
	switch op {
	case ">":
		return n > t
	case ">=":
		return n >= t
	case "<":
		return n < t
	case "<=":
		return n <= t
	}
	return n == t
}
