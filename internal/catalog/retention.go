package catalog

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// Retention settings and the drop of days past them. A setting is a
// number of UTC days kept (0: forever) for the whole lake (tenant and
// index empty), a tenant (index empty) or a tenant's index; the most
// specific one present applies. Dropping a day retires its segments as
// compaction retires its inputs (segment_garbage, then deleted once no
// table's current snapshot holds them) and queues the day, so the next
// snapshot of the table is a delete snapshot without them. Checkpoints
// are not touched: the objects whose records are dropped stay collected.

// Retention is one retention setting.
type Retention struct {
	Tenant, Index string
	Days          int // days kept, today included; 0: forever
	UpdatedAt     time.Time
}

// Retentions lists the stored settings.
func (l *Catalog) Retentions(ctx context.Context) ([]Retention, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT tenant, idx, days, updated_at FROM retention ORDER BY tenant, idx`)
	if err != nil {
		return nil, fmt.Errorf("lake: retention settings: %w", err)
	}
	defer rows.Close()
	var out []Retention
	for rows.Next() {
		var r Retention
		if err := rows.Scan(&r.Tenant, &r.Index, &r.Days, &r.UpdatedAt); err != nil {
			return nil, fmt.Errorf("lake: retention settings: %w", err)
		}
		r.UpdatedAt = r.UpdatedAt.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// SetRetention stores a setting, replacing the one of the same tenant and
// index.
func (l *Catalog) SetRetention(ctx context.Context, r Retention) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO retention VALUES (?, ?, ?, ?) ON CONFLICT (tenant, idx) DO UPDATE SET days = excluded.days, updated_at = excluded.updated_at`,
		r.Tenant, r.Index, r.Days, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("lake: retention of %q/%q: %w", r.Tenant, r.Index, err)
	}
	return nil
}

// ClearRetention removes a setting: the less specific one applies again.
func (l *Catalog) ClearRetention(ctx context.Context, tenant, index string) error {
	if _, err := l.db.ExecContext(ctx, `DELETE FROM retention WHERE tenant = ? AND idx = ?`, tenant, index); err != nil {
		return fmt.Errorf("lake: retention of %q/%q: %w", tenant, index, err)
	}
	return nil
}

// LakeDays lists every (index, tenant, day) that has registered segments,
// oldest first.
func (l *Catalog) LakeDays(ctx context.Context) ([]Day, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT DISTINCT idx, tenant, day FROM segments ORDER BY day, idx, tenant`)
	if err != nil {
		return nil, fmt.Errorf("lake: days held: %w", err)
	}
	defer rows.Close()
	var out []Day
	for rows.Next() {
		var d Day
		if err := rows.Scan(&d.Index, &d.Tenant, &d.Day); err != nil {
			return nil, fmt.Errorf("lake: days held: %w", err)
		}
		d.Day = d.Day.UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// DropStats count what DropDays retired.
type DropStats struct {
	Days, Segments int
	Rows           int64
}

// DropDays retires every segment of the days in one transaction and
// queues the days' snapshots: the days leave search at once, and the
// tables' current snapshots at the next publish. The files stay for grace
// at least, and as long as a snapshot holds them.
func (l *Catalog) DropDays(ctx context.Context, days []Day, grace time.Duration) (DropStats, error) {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	var st DropStats
	err := l.withTx(ctx, func(conn *catConn) error {
		st = DropStats{}
		var retired []Segment
		for _, d := range days {
			rows, err := conn.QueryContext(ctx, `DELETE FROM segments WHERE idx = ? AND tenant = ? AND day = ? RETURNING path, rows`, d.Index, d.Tenant, d.Day)
			if err != nil {
				return fmt.Errorf("drop %s/%s %s: %w", d.Tenant, d.Index, d.Day.Format(time.DateOnly), err)
			}
			n := 0
			for rows.Next() {
				s := Segment{Index: d.Index, Tenant: d.Tenant, Day: d.Day}
				if err := rows.Scan(&s.Path, &s.Rows); err != nil {
					rows.Close()
					return err
				}
				retired = append(retired, s)
				st.Rows += s.Rows
				n++
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if n > 0 {
				st.Days++
			}
		}
		st.Segments = len(retired)
		for _, s := range retired {
			if _, err := conn.ExecContext(ctx, `INSERT INTO segment_garbage VALUES (?, ?) ON CONFLICT DO NOTHING`,
				filepath.ToSlash(s.Path), time.Now().Add(grace).UTC()); err != nil {
				return err
			}
		}
		return queueSnapshots(ctx, conn, retired)
	})
	if err != nil {
		return DropStats{}, fmt.Errorf("lake: drop days past retention: %w", err)
	}
	return st, nil
}

// OldestDays returns each tenant's oldest day with registered segments.
func (l *Catalog) OldestDays(ctx context.Context) (map[string]time.Time, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT tenant, min(day) FROM segments GROUP BY tenant`)
	if err != nil {
		return nil, fmt.Errorf("lake: oldest days: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var t string
		var d time.Time
		if err := rows.Scan(&t, &d); err != nil {
			return nil, fmt.Errorf("lake: oldest days: %w", err)
		}
		out[t] = d.UTC()
	}
	return out, rows.Err()
}
