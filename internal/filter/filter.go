// Package filter applies a connector's log filters to records before they
// are stored. Rules are written in the search language and compiled once,
// by the query package, into the same bound representation the lake turns
// into SQL; here it is evaluated in memory (query.Eval). A filter and a
// search of the same text therefore select the same records, and a rule
// that search would reject is rejected when the connector is saved.
package filter

import (
	"fmt"
	"time"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
)

// rule is one compiled filter, bound to each index.
type rule struct {
	drop  bool
	bound map[*interflow.Schema]query.Expr
}

// Set is a connector's compiled filters.
type Set struct{ rules []rule }

// Compile compiles a connector's filters against every index, reporting
// the first bad one with its position. now anchors relative times.
func Compile(fs []connector.Filter) (*Set, error) { return CompileAt(fs, time.Now()) }

// CompileAt is Compile with an explicit clock.
func CompileAt(fs []connector.Filter, now time.Time) (*Set, error) {
	s := &Set{}
	for i, f := range fs {
		if f.Action != "drop" && f.Action != "keep" {
			return nil, fmt.Errorf("filters[%d]: action %q: use drop or keep", i, f.Action)
		}
		n, err := query.Parse(f.Query)
		if err != nil {
			return nil, fmt.Errorf("filters[%d] %q: %w", i, f.Query, err)
		}
		r := rule{drop: f.Action == "drop", bound: map[*interflow.Schema]query.Expr{}}
		for _, sc := range interflow.Schemas() {
			e, err := query.Bind(n, sc, now)
			if err != nil {
				return nil, fmt.Errorf("filters[%d] %q: %w", i, f.Query, err)
			}
			r.bound[sc] = e
		}
		s.rules = append(s.rules, r)
	}
	return s, nil
}

// Keep reports whether a record of schema sc is stored: a record matching
// any drop rule is dropped; when keep rules exist, a record must match one
// of them.
func (s *Set) Keep(sc *interflow.Schema, v interflow.Values) bool {
	if s == nil {
		return true
	}
	hasKeep, kept := false, false
	for _, r := range s.rules {
		if r.drop {
			if query.Eval(r.bound[sc], v) {
				return false
			}
			continue
		}
		hasKeep = true
		if !kept && query.Eval(r.bound[sc], v) {
			kept = true
		}
	}
	return !hasKeep || kept
}

// KeepRecord is Keep for a record that carries its schema.
func (s *Set) KeepRecord(r *interflow.Record) bool { return s.Keep(r.Schema, r) }

// Empty reports whether there are no rules.
func (s *Set) Empty() bool { return s == nil || len(s.rules) == 0 }
