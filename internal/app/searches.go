package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/lake"
)

// SavedSearch is a hunt kept by name in a tenant: what the console's URL
// holds (query, index, time range, columns), so opening it reproduces the
// hunt.
type SavedSearch struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Name      string    `json:"name"`
	Query     string    `json:"query"`
	Index     string    `json:"index,omitempty"`
	Range     string    `json:"range,omitempty"` // relative: -24h, -7d
	From      string    `json:"from,omitempty"`  // absolute, RFC 3339
	To        string    `json:"to,omitempty"`
	Columns   []string  `json:"columns,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

type savedSpec struct {
	Query   string   `json:"query"`
	Index   string   `json:"index,omitempty"`
	Range   string   `json:"range,omitempty"`
	From    string   `json:"from,omitempty"`
	To      string   `json:"to,omitempty"`
	Columns []string `json:"columns,omitempty"`
}

// validate reports every problem of a saved search at once.
func (s *SavedSearch) validate() error {
	var ps []connector.Problem
	add := func(f, m string) { ps = append(ps, connector.Problem{Field: f, Message: m}) }
	if s.Name = strings.TrimSpace(s.Name); s.Name == "" || len(s.Name) > 200 || strings.IndexFunc(s.Name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		add("name", "give a name of 1 to 200 printable characters")
	}
	if err := lake.Validate(s.Query); err != nil {
		add("query", err.Error())
	}
	if s.Index != "" && s.Index != interflow.IndexEvents && s.Index != interflow.IndexTraffic {
		add("index", "aws_events, traffic or empty (both)")
	}
	now := time.Now()
	for f, v := range map[string]string{"range": s.Range, "from": s.From, "to": s.To} {
		if v != "" {
			if _, err := lake.ParseTime(v, now); err != nil {
				add(f, err.Error())
			}
		}
	}
	if len(ps) > 0 {
		return &connector.ValidationError{Problems: ps}
	}
	return nil
}

// SaveSearch keeps a hunt in the caller's tenant (a root token names the
// tenant, or keeps it for root alone with none).
func (a *App) SaveSearch(ctx context.Context, sc Scope, in SavedSearch) (*SavedSearch, error) {
	if !sc.Root {
		in.Tenant = sc.Tenant
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	spec, err := json.Marshal(savedSpec{Query: in.Query, Index: in.Index, Range: in.Range, From: in.From, To: in.To, Columns: in.Columns})
	if err != nil {
		return nil, err
	}
	in.ID, in.CreatedAt = newID(), time.Now().UTC()
	if err := a.lake.SaveSearch(ctx, lake.SavedSearch{ID: in.ID, Tenant: in.Tenant, Name: in.Name, Spec: string(spec), CreatedAt: in.CreatedAt}); err != nil {
		return nil, err
	}
	return &in, nil
}

// SavedSearches lists the saved searches the caller sees.
func (a *App) SavedSearches(ctx context.Context, sc Scope) ([]SavedSearch, error) {
	var tenants []string
	if !sc.Root {
		tenants = []string{sc.Tenant}
	}
	rows, err := a.lake.SavedSearches(ctx, tenants)
	if err != nil {
		return nil, err
	}
	out := make([]SavedSearch, 0, len(rows))
	for _, r := range rows {
		s, err := fromLake(r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// DeleteSavedSearch removes a saved search the caller sees (another
// tenant's is not found).
func (a *App) DeleteSavedSearch(ctx context.Context, sc Scope, id string) error {
	r, err := a.lake.SavedSearch(ctx, id)
	if err != nil {
		return err
	}
	if !sc.Root && r.Tenant != sc.Tenant {
		return fmt.Errorf("saved search %s: %w", id, ErrNotFound)
	}
	return a.lake.DeleteSavedSearch(ctx, id)
}

func fromLake(r lake.SavedSearch) (SavedSearch, error) {
	var sp savedSpec
	if err := json.Unmarshal([]byte(r.Spec), &sp); err != nil {
		return SavedSearch{}, fmt.Errorf("saved search %s: %w", r.ID, err)
	}
	return SavedSearch{ID: r.ID, Tenant: r.Tenant, Name: r.Name, Query: sp.Query, Index: sp.Index, Range: sp.Range,
		From: sp.From, To: sp.To, Columns: sp.Columns, CreatedAt: r.CreatedAt}, nil
}
