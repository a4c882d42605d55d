package detect

import (
	"fmt"
	"time"

	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
)

// Ingest is a tenant's single-event rules of one index, bound for
// evaluation on each record as it is stored, with query.Eval: the
// semantics of the SQL the detector and the schedule run (the lake's
// equivalence tests hold the two to that), so a record matched here is
// the record a search of the rule's hunt finds. Shared by a run's
// workers; each evaluates through its own Matcher.
type Ingest struct {
	set   *ingest.RuleSet
	bound []*Bound
}

// NewIngest binds rules (single-event, of schema s) for evaluation at
// ingest, alerts counted in windows of step. A rule that does not bind
// is left out and returned with its error, for the caller to mark failed.
func NewIngest(rules []*Rule, s *interflow.Schema, step time.Duration, now time.Time) (*Ingest, map[*Rule]error) {
	in := &Ingest{set: &ingest.RuleSet{Step: step}}
	var failed map[*Rule]error
	for _, r := range rules {
		if r.Count != nil {
			continue // count rules are the schedule's: they need a whole window
		}
		b, err := r.Bind(s, now)
		if err != nil {
			if failed == nil {
				failed = map[*Rule]error{}
			}
			failed[r] = fmt.Errorf("rule %s: %w", r.ID, err)
			continue
		}
		in.bound = append(in.bound, b)
		in.set.Rules = append(in.set.Rules, ingest.DetectRule{ID: r.ID, Title: r.Title, Level: r.Level, Query: r.Hunt()})
	}
	return in, failed
}

// Rules are the rules the batches evaluated here carry to their commit.
func (in *Ingest) Rules() *ingest.RuleSet { return in.set }

// Matcher is one worker's evaluator: the record's raw JSON is parsed at
// most once for all the rules' raw.<path> terms.
type Matcher struct {
	in  *Ingest
	doc query.Doc
}

// NewMatcher returns an evaluator for one goroutine.
func (in *Ingest) NewMatcher() *Matcher { return &Matcher{in: in} }

// Match calls hit with the index (in Rules().Rules) of each rule the
// record matches.
func (m *Matcher) Match(v interflow.Values, hit func(rule int)) {
	m.doc.Reset(v)
	for i, b := range m.in.bound {
		if query.Eval(b.expr, &m.doc) {
			hit(i)
		}
	}
}

// Rules are the rules this matcher applies.
func (m *Matcher) Rules() *ingest.RuleSet { return m.in.set }
