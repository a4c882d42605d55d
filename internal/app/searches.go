package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
	"github.com/trawlhq/trawl/internal/segment"
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

// Limits of saved searches: every one is listed to the console whole, so
// a tenant's list must stay small (a hunt's query is a few hundred bytes,
// its columns a dozen).
const (
	MaxSavedSearches  = 200      // per tenant
	maxSearchName     = 200      // bytes
	maxSavedQuery     = 16 << 10 // bytes
	maxSearchColumns  = 64
	maxSearchColumnSz = 256 // bytes of one column name
)

// LimitError is a request over one of the server's size limits (413): it
// names the field and the limit.
type LimitError struct {
	Field string
	Msg   string
}

func (e *LimitError) Error() string { return e.Field + ": " + e.Msg }

// limits checks a saved search's sizes before anything is parsed.
func (s *SavedSearch) limits() error {
	switch {
	case len(s.Name) > maxSearchName:
		return &LimitError{"name", fmt.Sprintf("the name is %d bytes; the limit is %d: shorten it", len(s.Name), maxSearchName)}
	case len(s.Query) > maxSavedQuery:
		return &LimitError{"query", fmt.Sprintf("the query is %d bytes; the limit is %d (16 KB): narrow it", len(s.Query), maxSavedQuery)}
	case len(s.Columns) > maxSearchColumns:
		return &LimitError{"columns", fmt.Sprintf("%d columns; the limit is %d: keep the ones you read", len(s.Columns), maxSearchColumns)}
	}
	return nil
}

// validColumn reports whether a column is one the console shows: a field
// of either index, or raw.<path> (a value of the raw record).
func validColumn(c string) bool {
	if len(c) > maxSearchColumnSz {
		return false
	}
	for _, sch := range interflow.Schemas() {
		if _, ok := sch.Lookup(c); ok {
			return true
		}
	}
	path, ok := strings.CutPrefix(c, query.RawPrefix)
	if !ok {
		return false
	}
	for _, k := range strings.Split(path, ".") {
		if k == "" || strings.IndexFunc(k, func(r rune) bool { return r == ',' || unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
			return false
		}
	}
	return true
}

// validate reports every problem of a saved search at once.
func (s *SavedSearch) validate() error {
	if err := s.limits(); err != nil {
		return err
	}
	var ps []connector.Problem
	add := func(f, m string) { ps = append(ps, connector.Problem{Field: f, Message: m}) }
	if s.Name = strings.TrimSpace(s.Name); s.Name == "" || strings.IndexFunc(s.Name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		add("name", "give a name of 1 to 200 printable characters")
	}
	if err := segment.Validate(s.Query); err != nil {
		add("query", err.Error())
	}
	for i, c := range s.Columns {
		if !validColumn(c) {
			add(fmt.Sprintf("columns[%d]", i), fmt.Sprintf("%.80q is not a field (see GET /api/v1/fields) or raw.<path> (raw.requestParameters.bucketName)", c))
			break // one is enough to say what a column must be
		}
	}
	if s.Index != "" && s.Index != interflow.IndexEvents && s.Index != interflow.IndexTraffic {
		add("index", "aws_events, traffic or empty (both)")
	}
	now := time.Now()
	for f, v := range map[string]string{"range": s.Range, "from": s.From, "to": s.To} {
		if v != "" {
			if _, err := query.ParseTime(v, now); err != nil {
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
	have, err := a.lake.SavedSearches(ctx, []string{in.Tenant})
	if err != nil {
		return nil, err
	}
	if len(have) >= MaxSavedSearches {
		return nil, &LimitError{"tenant", fmt.Sprintf("the tenant has %d saved searches, the limit: delete one it no longer needs first", len(have))}
	}
	spec, err := json.Marshal(savedSpec{Query: in.Query, Index: in.Index, Range: in.Range, From: in.From, To: in.To, Columns: in.Columns})
	if err != nil {
		return nil, err
	}
	in.ID, in.CreatedAt = newID(), time.Now().UTC()
	if err := a.lake.SaveSearch(ctx, catalog.SavedSearch{ID: in.ID, Tenant: in.Tenant, Name: in.Name, Spec: string(spec), CreatedAt: in.CreatedAt}); err != nil {
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

func fromLake(r catalog.SavedSearch) (SavedSearch, error) {
	var sp savedSpec
	if err := json.Unmarshal([]byte(r.Spec), &sp); err != nil {
		return SavedSearch{}, fmt.Errorf("saved search %s: %w", r.ID, err)
	}
	return SavedSearch{ID: r.ID, Tenant: r.Tenant, Name: r.Name, Query: sp.Query, Index: sp.Index, Range: sp.Range,
		From: sp.From, To: sp.To, Columns: sp.Columns, CreatedAt: r.CreatedAt}, nil
}
