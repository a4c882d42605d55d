package catalog

import (
	"context"
	"errors"
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
	// SetBy is who set it, SetByRoot or SetByTenant: a tenant's token
	// may not change or remove a setting root made for its tenant.
	SetBy string
}

// Who set a retention setting (the retention table's set_by).
const (
	SetByRoot   = "root"
	SetByTenant = "tenant"
)

// Retentions lists the stored settings.
func (l *Catalog) Retentions(ctx context.Context) ([]Retention, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT tenant, idx, days, updated_at, COALESCE(set_by, 'root') FROM retention ORDER BY tenant, idx`)
	if err != nil {
		return nil, fmt.Errorf("lake: retention settings: %w", err)
	}
	defer rows.Close()
	var out []Retention
	for rows.Next() {
		var r Retention
		if err := rows.Scan(&r.Tenant, &r.Index, &r.Days, &r.UpdatedAt, &r.SetBy); err != nil {
			return nil, fmt.Errorf("lake: retention settings: %w", err)
		}
		r.UpdatedAt = r.UpdatedAt.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// ErrSetByRoot refuses a tenant's change or removal of a setting root
// made.
var ErrSetByRoot = errors.New("root set this retention")

// SetRetention stores a setting (with who set it), replacing the one of
// the same tenant and index. A tenant's setting never replaces root's,
// even one root stores meanwhile: the statement itself checks
// (ErrSetByRoot).
func (l *Catalog) SetRetention(ctx context.Context, r Retention) error {
	if r.SetBy != SetByRoot && r.SetBy != SetByTenant {
		return fmt.Errorf("lake: retention of %q/%q: set by %q, not %s or %s", r.Tenant, r.Index, r.SetBy, SetByRoot, SetByTenant)
	}
	q := `INSERT INTO retention (tenant, idx, days, updated_at, set_by) VALUES (?, ?, ?, ?, ?)
 ON CONFLICT (tenant, idx) DO UPDATE SET days = excluded.days, updated_at = excluded.updated_at, set_by = excluded.set_by`
	if r.SetBy == SetByTenant {
		q += ` WHERE retention.set_by = 'tenant'`
	}
	res, err := l.db.ExecContext(ctx, q, r.Tenant, r.Index, r.Days, time.Now().UTC(), r.SetBy)
	if err != nil {
		return fmt.Errorf("lake: retention of %q/%q: %w", r.Tenant, r.Index, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("lake: retention of %q/%q: %w", r.Tenant, r.Index, ErrSetByRoot)
	}
	return nil
}

// ClearRetention removes a setting: the less specific one applies again.
// by is who removes it: a tenant (SetByTenant) does not remove root's
// (ErrSetByRoot).
func (l *Catalog) ClearRetention(ctx context.Context, tenant, index, by string) error {
	q := `DELETE FROM retention WHERE tenant = ? AND idx = ?`
	if by != SetByRoot {
		q += ` AND set_by = 'tenant'`
	}
	res, err := l.db.ExecContext(ctx, q, tenant, index)
	if err != nil {
		return fmt.Errorf("lake: retention of %q/%q: %w", tenant, index, err)
	}
	if n, err := res.RowsAffected(); by != SetByRoot && err == nil && n == 0 {
		var rootSet int
		if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM retention WHERE tenant = ? AND idx = ?`, tenant, index).Scan(&rootSet); err != nil {
			return fmt.Errorf("lake: retention of %q/%q: %w", tenant, index, err)
		}
		if rootSet > 0 {
			return fmt.Errorf("lake: retention of %q/%q: %w", tenant, index, ErrSetByRoot)
		}
	}
	return nil
}

// migrateRetentionSetBy records who set each retention (schema 18). A
// setting stored before is root's unless the audit log's latest
// retention.set of it was made by a token of its own tenant (actors are
// "token:ID" or "token:ID(name)"): when unsure, the tenant may not undo
// it, and root can still change or clear it.
func (l *Catalog) migrateRetentionSetBy(ctx context.Context) error {
	if _, err := l.db.ExecContext(ctx, `ALTER TABLE retention ADD COLUMN IF NOT EXISTS set_by VARCHAR`); err != nil {
		return fmt.Errorf("lake: add who set each retention: %w", err)
	}
	_, err := l.db.ExecContext(ctx, `UPDATE retention SET set_by = CASE WHEN EXISTS (
  SELECT 1 FROM audit a JOIN tokens t ON t.id = split_part(split_part(a.actor, '(', 1), ':', 2)
  WHERE a.action = 'retention.set' AND a.actor LIKE 'token:%' AND t.tenant = retention.tenant AND retention.tenant <> ''
    AND a.target = CASE WHEN retention.idx = '' THEN retention.tenant ELSE retention.tenant || '/' || retention.idx END
    AND a."at" = (SELECT max(b."at") FROM audit b WHERE b.action = 'retention.set' AND b.target = a.target)
 ) THEN 'tenant' ELSE 'root' END
 WHERE set_by IS NULL`)
	if err != nil {
		return fmt.Errorf("lake: record who set each retention: %w", err)
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
