package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/detect"
	"github.com/trawlhq/trawl/internal/lake"
)

// RuleInfo is a detection rule as a tenant sees it: a built-in one (which
// it may switch off) or its own.
type RuleInfo struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Level   string `json:"level"`
	Service string `json:"service"`
	Tenant  string `json:"tenant"`
	Builtin bool   `json:"builtin"`
	Enabled bool   `json:"enabled"`
	Hunt    string `json:"query"`
}

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
		return "", &connector.ValidationError{Problems: []connector.Problem{{Field: "tenant", Message: "rules belong to a tenant: name it"}}}
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
	return rules, enabled, builtin, nil
}

// Rules lists a tenant's rules.
func (a *App) Rules(ctx context.Context, sc Scope, tenant string) ([]RuleInfo, error) {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return nil, err
	}
	rules, enabled, builtin, err := a.tenantRules(ctx, t)
	if err != nil {
		return nil, err
	}
	out := make([]RuleInfo, 0, len(rules))
	for _, r := range rules {
		out = append(out, RuleInfo{ID: r.ID, Title: r.Title, Level: r.Level, Service: r.Logsource.Service, Tenant: t,
			Builtin: builtin[r.ID], Enabled: enabled[r.ID], Hunt: r.Hunt()})
	}
	return out, nil
}

// AddRule compiles a Sigma rule and stores it as the tenant's (replacing
// its rule of the same id). A rule that does not compile is refused with
// its line; a built-in's id cannot be taken.
func (a *App) AddRule(ctx context.Context, sc Scope, tenant string, yaml []byte) (*RuleInfo, error) {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return nil, err
	}
	r, err := detect.Parse(yaml)
	if err != nil {
		var re *detect.Error
		if errors.As(err, &re) {
			return nil, &connector.ValidationError{Problems: []connector.Problem{{Field: "rule", Message: err.Error()}}}
		}
		return nil, err
	}
	if r.ID == "" {
		h := sha256.Sum256(yaml)
		r.ID = "tenant-" + hex.EncodeToString(h[:6])
	}
	if strings.HasPrefix(r.ID, "trawl-") {
		return nil, &connector.ValidationError{Problems: []connector.Problem{{Field: "id", Message: fmt.Sprintf("%q: ids starting with trawl- are the built-in rules'; choose another", r.ID)}}}
	}
	if err := a.lake.PutRule(ctx, lake.StoredRule{Tenant: t, ID: r.ID, YAML: string(yaml), Enabled: true}); err != nil {
		return nil, err
	}
	_ = a.lake.Audit(ctx, sc.Actor, t, "rule.add", r.ID, r.Title)
	return &RuleInfo{ID: r.ID, Title: r.Title, Level: r.Level, Service: r.Logsource.Service, Tenant: t, Enabled: true, Hunt: r.Hunt()}, nil
}

// SetRuleEnabled switches a tenant's rule, or a built-in rule for that
// tenant, on or off.
func (a *App) SetRuleEnabled(ctx context.Context, sc Scope, tenant, id string, on bool) error {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return err
	}
	rules, _, builtin, err := a.tenantRules(ctx, t)
	if err != nil {
		return err
	}
	for _, r := range rules {
		if r.ID != id {
			continue
		}
		// A built-in rule is stored only as a tenant's switch; a tenant's
		// own rule keeps its YAML.
		if builtin[id] {
			err = a.lake.PutRule(ctx, lake.StoredRule{Tenant: t, ID: id, Enabled: on, Builtin: true})
		} else {
			err = a.lake.EnableRule(ctx, t, id, on)
		}
		if err != nil {
			return err
		}
		_ = a.lake.Audit(ctx, sc.Actor, t, map[bool]string{true: "rule.enable", false: "rule.disable"}[on], id, r.Title)
		return nil
	}
	return fmt.Errorf("rule %q of tenant %s: %w", id, t, ErrNotFound)
}

// DeleteRule deletes a tenant's own rule (built-ins are switched off).
func (a *App) DeleteRule(ctx context.Context, sc Scope, tenant, id string) error {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return err
	}
	if strings.HasPrefix(id, "trawl-") {
		return &connector.ValidationError{Problems: []connector.Problem{{Field: "id", Message: "a built-in rule is not deleted: disable it for the tenant"}}}
	}
	ok, err := a.lake.DeleteRule(ctx, t, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("rule %q of tenant %s: %w", id, t, ErrNotFound)
	}
	_ = a.lake.Audit(ctx, sc.Actor, t, "rule.delete", id, "")
	return nil
}
