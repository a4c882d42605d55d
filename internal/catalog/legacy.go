package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/trawlhq/trawl/internal/interflow"
)

// A data directory written before segments kept its records in tables of
// the embedded catalog (aws_events and traffic). They move into segments
// at the first open: all segment files are written first, then one
// transaction registers them and drops the table, so a crash part-way
// leaves the table as it was and unregistered files that the next start
// sweeps.

// LegacyTables lists the indices whose records are still in a legacy
// table.
func (l *Catalog) LegacyTables(ctx context.Context) ([]*interflow.Schema, error) {
	if l.db.pg {
		return nil, nil // a PostgreSQL catalog never held rows
	}
	var out []*interflow.Schema
	for _, s := range interflow.Schemas() {
		var n int
		if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = ?`, s.Index).Scan(&n); err != nil {
			return nil, fmt.Errorf("lake: inspect %s: %w", s.Index, err)
		}
		if n > 0 {
			out = append(out, s)
		}
	}
	return out, nil
}

// RegisterLegacy registers the segments a legacy table's rows were
// written to and drops the table, in one transaction.
func (l *Catalog) RegisterLegacy(ctx context.Context, index string, segs []Segment) error {
	return l.withTx(ctx, func(conn *catConn) error {
		if err := insertSegments(ctx, conn, segs, true, nil); err != nil { // legacy rows: read before detection existed
			return err
		}
		_, err := conn.ExecContext(ctx, "DROP TABLE "+quoteIdent(index))
		return err
	})
}

// ReadLegacyTable reads a legacy table's rows and hands them to write,
// 64k rows of one tenant at a time (write must not keep the batch: it is
// reused).
func (l *Catalog) ReadLegacyTable(ctx context.Context, s *interflow.Schema, write func(tenant string, b *interflow.Batch) error) error {
	have := map[string]bool{}
	cr, err := l.db.QueryContext(ctx, `SELECT column_name FROM information_schema.columns WHERE table_name = ?`, s.Index)
	if err != nil {
		return err
	}
	for cr.Next() {
		var c string
		if err := cr.Scan(&c); err != nil {
			cr.Close()
			return err
		}
		have[c] = true
	}
	cr.Close()
	var cols []string
	var fields []int
	for i, f := range s.Fields {
		if have[f.Name] {
			cols = append(cols, quoteIdent(f.Name))
			fields = append(fields, i)
		}
	}
	rows, err := l.db.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+quoteIdent(s.Index)+` ORDER BY tenant, "timestamp"`)
	if err != nil {
		return err
	}
	defer rows.Close()
	batch := interflow.NewBatch(s)
	tenant := ""
	flush := func() error {
		if batch.Len() == 0 {
			return nil
		}
		if err := write(tenant, batch); err != nil {
			return err
		}
		batch.Reset()
		return nil
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	rec := interflow.New(s)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		rec.Reset()
		for j, f := range fields {
			setLegacy(rec, f, vals[j])
		}
		t, _ := rec.Str(interflow.FTenant)
		if t != tenant || batch.Len() >= 65536 {
			if err := flush(); err != nil {
				return err
			}
			tenant = t
		}
		batch.Append(rec)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}

func setLegacy(rec *interflow.Record, f int, v any) {
	switch x := v.(type) {
	case nil:
	case []any:
		var l []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				l = append(l, s)
			}
		}
		rec.SetList(f, l)
	case int32:
		rec.SetInt(f, int64(x))
	default:
		rec.Set(f, v)
	}
}
