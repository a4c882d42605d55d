package catalog

import (
	"context"
	"fmt"
	"time"
)

// SavedSearch is a hunt kept by name in a tenant; Spec is its JSON (the
// query, index, range and columns), which the app defines.
type SavedSearch struct {
	ID        string
	Tenant    string
	Name      string
	Spec      string
	CreatedAt time.Time
}

// SaveSearch stores a saved search.
func (l *Catalog) SaveSearch(ctx context.Context, s SavedSearch) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO saved_searches VALUES (?,?,?,?,?)`, s.ID, s.Tenant, s.Name, s.Spec, s.CreatedAt.UTC())
	if err != nil {
		return fmt.Errorf("lake: save search %q: %w", s.Name, err)
	}
	return nil
}

// SavedSearches lists the saved searches of some tenants (all when none),
// by name.
func (l *Catalog) SavedSearches(ctx context.Context, tenants []string) ([]SavedSearch, error) {
	q := `SELECT id, tenant, name, spec, created_at FROM saved_searches`
	var args []any
	if len(tenants) > 0 {
		q += ` WHERE tenant IN (` + placeholders(len(tenants)) + `)`
		for _, t := range tenants {
			args = append(args, t)
		}
	}
	rows, err := l.db.QueryContext(ctx, q+` ORDER BY lower(name), created_at`, args...)
	if err != nil {
		return nil, fmt.Errorf("lake: saved searches: %w", err)
	}
	defer rows.Close()
	var out []SavedSearch
	for rows.Next() {
		var s SavedSearch
		if err := rows.Scan(&s.ID, &s.Tenant, &s.Name, &s.Spec, &s.CreatedAt); err != nil {
			return nil, err
		}
		s.CreatedAt = s.CreatedAt.UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// SavedSearch returns one saved search.
func (l *Catalog) SavedSearch(ctx context.Context, id string) (SavedSearch, error) {
	var s SavedSearch
	err := l.db.QueryRowContext(ctx, `SELECT id, tenant, name, spec, created_at FROM saved_searches WHERE id = ?`, id).
		Scan(&s.ID, &s.Tenant, &s.Name, &s.Spec, &s.CreatedAt)
	if err != nil {
		return s, fmt.Errorf("saved search %s: %w", id, ErrNotFound)
	}
	return s, nil
}

// DeleteSavedSearch removes one saved search.
func (l *Catalog) DeleteSavedSearch(ctx context.Context, id string) error {
	if _, err := l.db.ExecContext(ctx, `DELETE FROM saved_searches WHERE id = ?`, id); err != nil {
		return fmt.Errorf("lake: delete saved search %s: %w", id, err)
	}
	return nil
}
