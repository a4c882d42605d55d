package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// The detection queue: a commit registers its segments unread by the
// detector (the segments row's detected flag; see internal/segment's
// detect.go for the design), the detector lists them (PendingDetection),
// and stores its alerts and marks them read in one transaction
// (DoneDetection).

// Pending is a group of segments the detector has not read, of one index
// and tenant.
type Pending struct {
	Index, Tenant string
	Segments      []Segment
}

// PendingDetection returns up to limit segments the detector has not
// read, oldest registered first, grouped by index and tenant.
func (l *Catalog) PendingDetection(ctx context.Context, limit int) ([]Pending, error) {
	segs, err := l.querySegments(ctx, `SELECT id, idx, tenant, day, path, rows, bytes, min_ts, max_ts, row_groups, level
 FROM segments WHERE detected = false ORDER BY created_at, id LIMIT `+fmt.Sprint(limit))
	if err != nil {
		return nil, fmt.Errorf("lake: segments the detector has not read: %w", err)
	}
	var out []Pending
	at := map[[2]string]int{}
	for _, s := range segs {
		k := [2]string{s.Index, s.Tenant}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, Pending{Index: s.Index, Tenant: s.Tenant})
		}
		out[i].Segments = append(out[i].Segments, s)
	}
	return out, nil
}

// DetectionBacklog is how many segments wait for the detector.
func (l *Catalog) DetectionBacklog(ctx context.Context) (int64, error) {
	var n int64
	if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM segments WHERE detected = false`).Scan(&n); err != nil {
		return 0, fmt.Errorf("lake: detection backlog: %w", err)
	}
	return n, nil
}

// DoneDetection stores the alerts the detector raised over some segments
// (merged into the stored ones: mergeAlerts) and marks the segments read,
// in one transaction. It returns the alerts that
// were new.
func (l *Catalog) DoneDetection(ctx context.Context, segs []Segment, alerts []Alert) (int, error) {
	var n int
	var err error
	// A compaction retiring one of these segments at the same moment makes
	// DuckDB abort one of the two transactions; the detector's is tried
	// again (the merged segment is then the one unread, which is fine too).
	for try := 0; try < 3; try++ {
		if n, err = l.doneDetection(ctx, segs, alerts); !isConflict(err) {
			break
		}
	}
	return n, err
}

func (l *Catalog) doneDetection(ctx context.Context, segs []Segment, alerts []Alert) (int, error) {
	n := 0
	err := l.withTx(ctx, func(conn *catConn) error {
		n = 0
		if len(segs) > 0 {
			if _, err := conn.ExecContext(ctx, `UPDATE segments SET detected = true WHERE id IN (`+placeholders(len(segs))+`)`, segmentIDs(segs)...); err != nil {
				return err
			}
		}
		var err error
		n, err = mergeAlerts(ctx, conn, alerts, l.db.pg)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("lake: store the detector's alerts: %w", err)
	}
	return n, nil
}

// mergeAlerts stores alerts: a new (tenant, rule, window, group) is
// inserted; one already stored keeps its id, time and notification, takes
// the union of both record lists (the stored ids first, at most
// AlertRecordIDs), and the larger count. Evaluating the same records again
// (the schedule after the detector, a merged segment, another node)
// changes nothing. It returns how many alerts were new.
func mergeAlerts(ctx context.Context, conn *catConn, alerts []Alert, pg bool) (int, error) {
	n := 0
	now := time.Now().UTC()
	for i := range alerts {
		a := &alerts[i]
		a.ID, a.Time = alertID(a), now
		recs, _ := json.Marshal(capIDs(a.Records))
		res, err := conn.ExecContext(ctx, `INSERT INTO alerts (id, tenant, rule_id, rule, level, window_start, window_end, group_key, count,
 records, query, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
			a.ID, a.Tenant, a.RuleID, a.Rule, a.Level, a.WindowStart.UTC(), a.WindowEnd.UTC(), a.Group, a.Count, string(recs), a.Query, now)
		if err != nil {
			return n, fmt.Errorf("alert of %s: %w", a.RuleID, err)
		}
		if k, _ := res.RowsAffected(); k > 0 {
			n++
			continue
		}
		if err := mergeInto(ctx, conn, a, pg); err != nil {
			return n, fmt.Errorf("alert of %s: %w", a.RuleID, err)
		}
	}
	return n, nil
}

// AlertRecordIDs is how many record ids an alert keeps.
const AlertRecordIDs = 100

// segmentIDs are the segments' ids, as query arguments.
func segmentIDs(segs []Segment) []any {
	ids := make([]any, len(segs))
	for i, s := range segs {
		ids[i] = s.ID
	}
	return ids
}

func capIDs(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids[:min(len(ids), AlertRecordIDs)]
}

// mergeInto merges a into the stored alert with its id. On PostgreSQL the
// row is locked first, so two nodes merging into one alert both count.
func mergeInto(ctx context.Context, conn *catConn, a *Alert, pg bool) error {
	lock := ""
	if pg {
		lock = " FOR UPDATE"
	}
	var count int64
	var stored string
	if err := conn.QueryRowContext(ctx, `SELECT count, records FROM alerts WHERE id = ?`+lock, a.ID).Scan(&count, &stored); err != nil {
		return err
	}
	var old []string
	if err := json.Unmarshal([]byte(stored), &old); err != nil {
		return fmt.Errorf("stored records of alert %s: %w", a.ID, err)
	}
	ids, grew := unionIDs(old, a.Records)
	if !grew && a.Count <= count {
		return nil
	}
	recs, _ := json.Marshal(ids)
	_, err := conn.ExecContext(ctx, `UPDATE alerts SET count = ?, records = ? WHERE id = ?`, max(count, a.Count, int64(len(ids))), string(recs), a.ID)
	return err
}

// unionIDs is old followed by the ids of more it lacks, at most
// AlertRecordIDs; grew says whether any was added.
func unionIDs(old, more []string) ([]string, bool) {
	seen := make(map[string]bool, len(old))
	out := append([]string{}, old...)
	for _, id := range old {
		seen[id] = true
	}
	grew := false
	for _, id := range more {
		if len(out) >= AlertRecordIDs {
			break
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
			grew = true
		}
	}
	return out, grew
}
