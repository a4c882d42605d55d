package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/trawlhq/trawl/internal/catalog"
)

// The read side of the Iceberg tables, for the REST catalog
// (internal/api serves it under /iceberg/v1): a namespace is a tenant, a
// table an index with a published snapshot. A tenant's scope sees its own
// namespace only; another's namespace and tables are not found, as every
// object of another tenant is.

// IcebergTable is a table as the REST catalog loads it: where engines
// read its current metadata file, and that file.
type IcebergTable struct {
	Location string
	Metadata json.RawMessage
}

// IcebergNamespaces lists the namespaces a scope sees: its tenant, or
// (root) every tenant and every tenant with a table.
func (a *App) IcebergNamespaces(ctx context.Context, sc Scope) ([]string, error) {
	if !sc.Root {
		return []string{sc.Tenant}, nil
	}
	names, err := a.lake.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	tables, err := a.lake.IcebergTables(ctx)
	if err != nil {
		return nil, err
	}
	for t := range tables {
		if !slices.Contains(names, t.Tenant) {
			names = append(names, t.Tenant)
		}
	}
	slices.Sort(names)
	return names, nil
}

// IcebergNamespace reports whether the scope sees namespace ns
// (ErrNotFound when not).
func (a *App) IcebergNamespace(ctx context.Context, sc Scope, ns string) error {
	if !sc.sees(ns) {
		return fmt.Errorf("namespace %s: %w", ns, ErrNotFound)
	}
	if !sc.Root {
		return nil // a tenant's token names an existing tenant
	}
	names, err := a.IcebergNamespaces(ctx, sc)
	if err != nil {
		return err
	}
	if !slices.Contains(names, ns) {
		return fmt.Errorf("namespace %s: %w", ns, ErrNotFound)
	}
	return nil
}

// IcebergTableNames lists the tables of namespace ns: its indexes with a
// published snapshot.
func (a *App) IcebergTableNames(ctx context.Context, sc Scope, ns string) ([]string, error) {
	if err := a.IcebergNamespace(ctx, sc, ns); err != nil {
		return nil, err
	}
	tables, err := a.lake.IcebergTables(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for t := range tables {
		if t.Tenant == ns {
			out = append(out, t.Index)
		}
	}
	slices.Sort(out)
	return out, nil
}

// LoadIcebergTable returns a table's current metadata file and its URI:
// the file the catalog's pointer names (superseded ones stay readable
// for the snapshot retention, so one read here is never deleted under a
// reader that loaded it).
func (a *App) LoadIcebergTable(ctx context.Context, sc Scope, ns, name string) (*IcebergTable, error) {
	if err := a.IcebergNamespace(ctx, sc, ns); err != nil {
		return nil, err
	}
	tables, err := a.lake.IcebergTables(ctx)
	if err != nil {
		return nil, err
	}
	rel, ok := tables[catalog.TableRef{Tenant: ns, Index: name}]
	if !ok {
		return nil, fmt.Errorf("table %s.%s: %w", ns, name, ErrNotFound)
	}
	data, err := a.lake.ReadFile(ctx, rel)
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", ns, name, err)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("table %s.%s: metadata file %s is not JSON", ns, name, rel)
	}
	return &IcebergTable{Location: a.lake.URI(rel), Metadata: data}, nil
}
