package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/detect"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
	"github.com/trawlhq/trawl/internal/segment"
)

// ruleTenant is the tenant a rule operation acts on: a tenant token's own;
// root must name one.
func ruleTenant(sc Scope, tenant string) (string, error) {
	if !sc.Root {
		if tenant != "" && tenant != sc.Tenant {
			return "", fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
		}
		return sc.Tenant, nil
	}
	if tenant == "" {
		return "", ruleProblem("tenant", "rules belong to a tenant: name it (--tenant T, or ?tenant=T in the API)")
	}
	return tenant, nil
}

// tenantRules is every rule of a tenant with whether it is enabled:
// built-ins (on unless switched off) and the tenant's own.
func (a *App) tenantRules(ctx context.Context, tenant string) ([]*detect.Rule, map[string]bool, map[string]bool, error) {
	builtins, err := detect.Builtin()
	if err != nil {
		return nil, nil, nil, err
	}
	stored, err := a.lake.Rules(ctx, tenant)
	if err != nil {
		return nil, nil, nil, err
	}
	enabled, builtin := map[string]bool{}, map[string]bool{}
	for _, r := range builtins {
		enabled[r.ID], builtin[r.ID] = true, true
	}
	rules := builtins
	for _, s := range stored {
		if s.Builtin {
			if builtin[s.ID] {
				enabled[s.ID] = s.Enabled
			}
			continue
		}
		r, err := detect.Parse([]byte(s.YAML))
		if err != nil {
			a.log.Warn("a stored rule no longer compiles; it is skipped", "tenant", tenant, "rule", s.ID, "err", err)
			continue
		}
		r.ID = s.ID
		rules = append(rules, r)
		enabled[s.ID] = s.Enabled
	}
	rules, _, err = a.withExceptions(ctx, tenant, rules)
	return rules, enabled, builtin, err
}

// Rules lists a tenant's rules, each with why its evaluation failed if it did.
func (a *App) Rules(ctx context.Context, sc Scope, tenant string) ([]RuleInfo, error) {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return nil, err
	}
	rules, enabled, builtin, err := a.tenantRules(ctx, t)
	if err != nil {
		return nil, err
	}
	fails, err := a.lake.RuleFailures(ctx, t)
	if err != nil {
		return nil, err
	}
	failed := map[string]catalog.RuleFailure{}
	for _, f := range fails {
		failed[f.RuleID] = f
	}
	excs, err := a.lake.RuleExceptions(ctx, t)
	if err != nil {
		return nil, err
	}
	excepted := map[string][]RuleException{}
	for _, e := range excs {
		excepted[e.RuleID] = append(excepted[e.RuleID], publicException(e))
	}
	out := make([]RuleInfo, 0, len(rules))
	for _, r := range rules {
		info := RuleInfo{ID: r.ID, Title: r.Title, Level: r.Level, Service: r.Logsource.Service, Tenant: t,
			Builtin: builtin[r.ID], Enabled: enabled[r.ID], Hunt: r.Hunt(), Exceptions: excepted[r.ID]}
		if f, ok := failed[r.ID]; ok {
			at := f.At
			info.Failed, info.FailedAt = f.Reason, &at
		}
		out = append(out, info)
	}
	broken, err := a.brokenRules(ctx, t, rules)
	return append(out, broken...), err
}

// brokenRules are a tenant's stored rules that no longer compile (stored
// before Trawl refused what they use): skipped by evaluation, so shown
// failed, with why, rather than vanishing from the list.
func (a *App) brokenRules(ctx context.Context, tenant string, compiled []*detect.Rule) ([]RuleInfo, error) {
	stored, err := a.lake.Rules(ctx, tenant)
	if err != nil {
		return nil, err
	}
	ok := make(map[string]bool, len(compiled))
	for _, r := range compiled {
		ok[r.ID] = true
	}
	var out []RuleInfo
	for _, s := range stored {
		if s.Builtin || ok[s.ID] {
			continue
		}
		_, perr := detect.Parse([]byte(s.YAML))
		out = append(out, RuleInfo{ID: s.ID, Tenant: tenant, Enabled: s.Enabled,
			Failed: fmt.Sprintf("it no longer compiles, so it is not evaluated: %v; add it again in a form Trawl honours", perr)})
	}
	return out, nil
}

// AddRule compiles a Sigma rule and stores it as the tenant's (replacing
// its rule of the same id). A rule is refused, naming the field and what
// to write, when it does not compile (with its line), when its id is not
// valid or is a built-in's, when Trawl holds no logs of its logsource, and
// when its query would fail where evaluation compiles it (too many terms,
// a regular expression too long): a rule stored is a rule that evaluates.
func (a *App) AddRule(ctx context.Context, sc Scope, tenant string, yaml []byte) (*RuleInfo, error) {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return nil, err
	}
	r, err := detect.Parse(yaml)
	if err != nil {
		var re *detect.Error
		if errors.As(err, &re) {
			return nil, ruleProblem("rule", err.Error())
		}
		return nil, err
	}
	if r.ID == "" {
		h := sha256.Sum256(yaml)
		r.ID = "tenant-" + hex.EncodeToString(h[:6])
	}
	if err := detect.CheckID(r.ID); err != nil {
		return nil, ruleProblem("id", err.Error())
	}
	if detect.Reserved(r.ID) {
		return nil, ruleProblem("id", fmt.Sprintf("%q: ids starting with %s (in any case) are the built-in rules'; choose another", r.ID, detect.BuiltinPrefix))
	}
	if err := r.CheckLogsource(); err != nil {
		return nil, ruleProblem("logsource", err.Error())
	}
	if err := a.checkRuleRoom(ctx, t, r); err != nil {
		return nil, err
	}
	if err := a.checkRule(ctx, r, time.Now()); err != nil {
		return nil, ruleProblem("detection", fmt.Sprintf("Trawl evaluates the rule as the search %.200q, which fails: %v; change the rule so that it compiles (fewer values or selections per rule, shorter expressions)", r.Hunt(), err))
	}
	if err := a.lake.PutRule(ctx, catalog.StoredRule{Tenant: t, ID: r.ID, YAML: string(yaml), Enabled: true}); err != nil {
		return nil, err
	}
	// A replaced rule starts afresh: its old failure is not the new one's,
	// and its first evaluation looks back over what the old one read.
	if err := a.lake.ClearRuleFailure(ctx, t, r.ID); err != nil {
		return nil, err
	}
	if err := a.lake.ResetRuleMark(ctx, t, r.ID); err != nil {
		return nil, err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, t, "rule.add", r.ID, r.Title)
	return &RuleInfo{ID: r.ID, Title: r.Title, Level: r.Level, Service: r.Logsource.Service, Tenant: t, Enabled: true, Hunt: r.Hunt()}, nil
}

// checkRule is checkEvaluable, then the rule's query run by the search
// engine over no records: what evaluation would refuse is refused here.
func (a *App) checkRule(ctx context.Context, r *detect.Rule, now time.Time) error {
	if err := checkEvaluable(r, now); err != nil {
		return err
	}
	return a.lake.RunRuleQuery(ctx, r.Hunt(), ruleIndex(r).Index)
}

// checkEvaluable compiles the rule's query exactly as its evaluation does
// (bound in memory for the detector, the hunt and each alert's narrowed
// query as lake searches), reading nothing.
func checkEvaluable(r *detect.Rule, now time.Time) error {
	s := ruleIndex(r)
	if _, err := r.Bind(s, now); err != nil {
		return err
	}
	var cr *segment.CountRule
	if c := r.Count; c != nil {
		cr = &segment.CountRule{GroupBy: c.GroupBy, Field: c.Field, Op: c.Op, Threshold: c.Threshold}
	}
	if err := segment.CheckRuleQuery(r.Hunt(), s.Index, cr); err != nil {
		return err
	}
	if c := r.Count; c != nil && c.GroupBy != "" {
		// A count alert's query narrows the hunt to its group: one term
		// more, with a value of the group's type.
		sample := "group"
		if i, ok := s.Lookup(c.GroupBy); ok {
			switch s.Fields[i].Type {
			case interflow.IP:
				sample = "192.0.2.1"
			case interflow.Int:
				sample = "0"
			}
		}
		return segment.CheckRuleQuery(groupQuery(r, sample), s.Index, nil)
	}
	return nil
}

// SetRuleEnabled switches a tenant's rule, or a built-in rule for that
// tenant, on or off.
func (a *App) SetRuleEnabled(ctx context.Context, sc Scope, tenant, id string, on bool) error {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return err
	}
	rules, enabled, builtin, err := a.tenantRules(ctx, t)
	if err != nil {
		return err
	}
	for _, r := range rules {
		if r.ID != id {
			continue
		}
		// Enabled again, the rule's next evaluation looks back as a first
		// one does (the README's promise): records collected while it was
		// off in windows before its mark are read.
		if on && !enabled[id] {
			if err := a.lake.ResetRuleMark(ctx, t, id); err != nil {
				return err
			}
		}
		// A built-in rule is stored only as a tenant's switch; a tenant's
		// own rule keeps its YAML.
		if builtin[id] {
			err = a.lake.PutRule(ctx, catalog.StoredRule{Tenant: t, ID: id, Enabled: on, Builtin: true})
		} else {
			err = a.lake.EnableRule(ctx, t, id, on)
		}
		if err != nil {
			return err
		}
		_ = a.lake.LogAction(ctx, sc.Actor, t, map[bool]string{true: "rule.enable", false: "rule.disable"}[on], id, r.Title)
		return nil
	}
	return unknownRule(t, id)
}

// unknownRule is the error for an id no rule of the tenant has: the id's
// own problem when it is not a valid id (rules stored before ids were
// checked are still found by theirs), else not found.
func unknownRule(tenant, id string) error {
	if err := detect.CheckID(id); err != nil {
		return ruleProblem("id", err.Error())
	}
	return fmt.Errorf("rule %q of tenant %s: %w", id, tenant, ErrNotFound)
}

// DeleteRule deletes a tenant's own rule (built-ins are switched off).
func (a *App) DeleteRule(ctx context.Context, sc Scope, tenant, id string) error {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return err
	}
	builtins, err := detect.Builtin()
	if err != nil {
		return err
	}
	for _, r := range builtins {
		if r.ID == id {
			return ruleProblem("id", "a built-in rule is not deleted: disable it for the tenant")
		}
	}
	ok, err := a.lake.DeleteRule(ctx, t, id)
	if err != nil {
		return err
	}
	if !ok {
		return unknownRule(t, id)
	}
	if err := a.lake.ClearRuleFailure(ctx, t, id); err != nil {
		return err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, t, "rule.delete", id, "")
	return nil
}

// RuleFailure is a rule marked failed, as /metrics shows it.
type RuleFailure struct {
	Tenant, RuleID, Reason string
	At                     time.Time
}

// FailedRules lists the rules marked failed (root: every tenant's; a
// tenant: its own).
func (a *App) FailedRules(ctx context.Context, sc Scope) ([]RuleFailure, error) {
	tenant := ""
	if !sc.Root {
		tenant = sc.Tenant
	}
	fs, err := a.lake.RuleFailures(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]RuleFailure, len(fs))
	for i, f := range fs {
		out[i] = RuleFailure(f)
	}
	return out, nil
}

// DefaultMaxTenantRules is how many rules a tenant may add: far more than
// SigmaHQ's CloudTrail rules (about 150), few enough that one tenant's
// rules cannot make its collections crawl (each rule is evaluated on every
// record stored).
const DefaultMaxTenantRules = 1000

// DefaultMaxTenantTerms bounds the terms of all of a tenant's own rules together
// (a rule has at most query.MaxTerms): what evaluating them costs per
// record stored. SigmaHQ's CloudTrail rules hold about 3,000 together; a
// tenant's 1,000 rules of 1,000 values each made its collections take
// minutes a record and held the server's collection slots.
const DefaultMaxTenantTerms = 10000

// checkRuleRoom refuses a new rule (not a replaced one) past the tenant's
// limits, of rules and of their terms together, saying what to do.
func (a *App) checkRuleRoom(ctx context.Context, tenant string, r *detect.Rule) error {
	limit := a.opt.MaxTenantRules
	if limit <= 0 {
		limit = DefaultMaxTenantRules
	}
	stored, err := a.lake.Rules(ctx, tenant)
	if err != nil {
		return err
	}
	maxTerms := a.opt.MaxTenantTerms
	if maxTerms <= 0 {
		maxTerms = DefaultMaxTenantTerms
	}
	n, terms, replaced := 0, query.Terms(r.Query), false
	for _, s := range stored {
		if s.Builtin {
			continue
		}
		if s.ID == r.ID {
			replaced = true
			continue // a replacement takes the room of what it replaces
		}
		n++
		if old, err := detect.Parse([]byte(s.YAML)); err == nil {
			terms += query.Terms(old.Query)
		}
	}
	if !replaced && n >= limit {
		return ruleProblem("rule", fmt.Sprintf("tenant %s already has %d rules, the most a tenant may add (each is evaluated on every record stored): delete rules it no longer needs (trawl rules delete ID) before adding more", tenant, n))
	}
	if terms > maxTerms {
		return ruleProblem("detection", fmt.Sprintf("with this rule, tenant %s's rules would hold %d terms (values and comparisons) together, more than %d: every term is evaluated on every record stored; use fewer values (a wildcard, a cidr or a regular expression for many), or delete rules it no longer needs", tenant, terms, maxTerms))
	}
	return nil
}
