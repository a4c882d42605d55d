package catalog

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// The segment registry: the rows naming the segment files that make up
// the lake, as DuckLake's catalog holds its file list. A file no row
// names is not part of the lake (debris of a commit a crash cut short, or
// a segment compaction retired: segment_garbage holds those until their
// grace period ends).

const segmentColumns = `SELECT id, idx, tenant, day, path, rows, bytes, min_ts, max_ts, row_groups, level FROM segments`

// SegmentsIn lists the registered segments of an index that may hold
// records of the tenants (all when none) in [from, to), newest first.
func (l *Catalog) SegmentsIn(ctx context.Context, index string, tenants []string, from, to time.Time) ([]Segment, error) {
	q := segmentColumns + `
 WHERE idx = ? AND max_ts >= ? AND min_ts < ?`
	args := []any{index, from.UTC(), to.UTC()}
	if len(tenants) > 0 {
		q += ` AND tenant IN (` + placeholders(len(tenants)) + `)`
		for _, t := range tenants {
			args = append(args, t)
		}
	}
	q += ` ORDER BY max_ts DESC, id DESC`
	return l.querySegments(ctx, q, args...)
}

// SegmentsOf lists every registered segment of an index.
func (l *Catalog) SegmentsOf(ctx context.Context, index string) ([]Segment, error) {
	return l.querySegments(ctx, segmentColumns+` WHERE idx = ?`, index)
}

func (l *Catalog) querySegments(ctx context.Context, q string, args ...any) ([]Segment, error) {
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("lake: segments: %w", err)
	}
	defer rows.Close()
	var out []Segment
	for rows.Next() {
		var s Segment
		if err := rows.Scan(&s.ID, &s.Index, &s.Tenant, &s.Day, &s.Path, &s.Rows, &s.Bytes, &s.MinTS, &s.MaxTS, &s.RowGroups, &s.Level); err != nil {
			return nil, err
		}
		s.MinTS, s.MaxTS, s.Day = s.MinTS.UTC(), s.MaxTS.UTC(), s.Day.UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// Day is one day of one index and tenant: what compaction merges within.
type Day struct {
	Index, Tenant string
	Day           time.Time
}

// SmallDays lists the days of an index with at least min segments below
// small rows.
func (l *Catalog) SmallDays(ctx context.Context, index string, small int64, min int) ([]Day, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT tenant, day FROM segments WHERE idx = ? AND rows < ?
 GROUP BY tenant, day HAVING count(*) >= ? ORDER BY day, tenant`, index, small, min)
	if err != nil {
		return nil, fmt.Errorf("lake: compaction candidates: %w", err)
	}
	defer rows.Close()
	var out []Day
	for rows.Next() {
		d := Day{Index: index}
		if err := rows.Scan(&d.Tenant, &d.Day); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// SmallSegments lists a day's segments below small rows, oldest first.
func (l *Catalog) SmallSegments(ctx context.Context, d Day, small int64) ([]Segment, error) {
	return l.querySegments(ctx, segmentColumns+`
 WHERE idx = ? AND tenant = ? AND day = ? AND rows < ? ORDER BY min_ts, id`, d.Index, d.Tenant, d.Day, small)
}

// Swap registers a merged segment and retires its inputs in one
// transaction: their files are kept for grace (a query that listed them
// may still read them), then RemoveGarbage's.
func (l *Catalog) Swap(ctx context.Context, out Segment, inputs []Segment, grace time.Duration) error {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	return l.withTx(ctx, func(conn *catConn) error {
		// The merged segment waits for the detector if an input did: its
		// records are read there. Read, it counts as read in the earliest
		// of its inputs' passes, or in none if one input's is unknown: a
		// rule covers the merged records only if it covered them all.
		var unread, unknown int64
		var seq *int64
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE detected = false), count(*) FILTER (WHERE detected_seq IS NULL), min(detected_seq)
 FROM segments WHERE id IN (`+placeholders(len(inputs))+`)`, segmentIDs(inputs)...).Scan(&unread, &unknown, &seq); err != nil {
			return err
		}
		if unknown > 0 {
			seq = nil
		}
		for _, s := range inputs {
			res, err := conn.ExecContext(ctx, `DELETE FROM segments WHERE id = ?`, s.ID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("segment %s was retired by another compaction: %w", s.ID, ErrConflict)
			}
			if _, err := conn.ExecContext(ctx, `INSERT INTO segment_garbage VALUES (?, ?) ON CONFLICT DO NOTHING`,
				filepath.ToSlash(s.Path), time.Now().Add(grace).UTC()); err != nil {
				return err
			}
		}
		return insertSegments(ctx, conn, []Segment{out}, unread == 0, seq)
	})
}

// SegmentCount returns the number of registered segments (tests, status).
func (l *Catalog) SegmentCount(ctx context.Context, index string) (int, error) {
	q, args := `SELECT count(*) FROM segments`, []any{}
	if index != "" {
		q, args = q+` WHERE idx = ?`, append(args, index)
	}
	var n int
	err := l.db.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// RegisteredPaths are the paths (under the lake's root) of every
// registered segment and every retired one not yet deleted: the files
// that are not debris.
func (l *Catalog) RegisteredPaths(ctx context.Context) (map[string]bool, error) {
	paths, err := queryStrings(ctx, l.db, `SELECT path FROM segments UNION ALL SELECT path FROM segment_garbage`)
	if err != nil {
		return nil, fmt.Errorf("lake: sweep: %w", err)
	}
	registered := make(map[string]bool, len(paths))
	for _, p := range paths {
		registered[filepath.FromSlash(p)] = true
	}
	return registered, nil
}

// DueGarbage lists the retired segments (paths with slashes) whose grace
// period is over at now, and that no table's current snapshot holds (the
// snapshot that drops one sets its grace to the snapshot retention).
func (l *Catalog) DueGarbage(ctx context.Context, now time.Time) ([]string, error) {
	paths, err := queryStrings(ctx, l.db, `SELECT path FROM segment_garbage WHERE delete_after <= ? AND path NOT IN (SELECT path FROM iceberg_files)`, now.UTC())
	if err != nil {
		return nil, fmt.Errorf("lake: garbage: %w", err)
	}
	return paths, nil
}

// ForgetGarbage drops a retired segment whose files are deleted.
func (l *Catalog) ForgetGarbage(ctx context.Context, path string) error {
	_, err := l.db.ExecContext(ctx, `DELETE FROM segment_garbage WHERE path = ?`, path)
	return err
}
