package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// Coverage is which single-event rules a detector pass applied to a
// tenant's segments of one index: their ids and queries (a rule whose
// query changed covers nothing of what its old query read).
type Coverage struct {
	Tenant, Index string
	Applied       map[string]string // rule id → its query
}

// DoneDetection stores the alerts the detector raised over some segments
// (merged into the stored ones: mergeAlerts) and marks the segments read,
// in one transaction, by a numbered pass: the rules of cov that applied
// since an earlier pass keep their coverage, the others applied begin
// theirs with this pass, and every other rule of the tenant's index loses
// its own (it was disabled, changed, or failed here), so UncoveredSegments
// never counts as read what a rule did not read. It returns the alerts
// that were new.
func (l *Catalog) DoneDetection(ctx context.Context, segs []Segment, alerts []Alert, cov Coverage) (int, error) {
	var n int
	var err error
	// A compaction retiring one of these segments at the same moment makes
	// DuckDB abort one of the two transactions; the detector's is tried
	// again (the merged segment is then the one unread, which is fine too).
	for try := 0; try < 3; try++ {
		if n, err = l.doneDetection(ctx, segs, alerts, cov); !isConflict(err) {
			break
		}
	}
	return n, err
}

func (l *Catalog) doneDetection(ctx context.Context, segs []Segment, alerts []Alert, cov Coverage) (int, error) {
	// Serialised with the commits, which merge alerts and number detector
	// passes too (DuckDB would abort one of two such transactions).
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	n := 0
	err := l.withTx(ctx, func(conn *catConn) error {
		n = 0
		seq, err := nextDetectPass(ctx, conn)
		if err != nil {
			return err
		}
		if len(segs) > 0 {
			args := append([]any{seq}, segmentIDs(segs)...)
			if _, err := conn.ExecContext(ctx, `UPDATE segments SET detected = true, detected_seq = ? WHERE id IN (`+placeholders(len(segs))+`)`, args...); err != nil {
				return err
			}
		}
		if err := recordCoverage(ctx, conn, cov, seq); err != nil {
			return err
		}
		n, err = mergeAlerts(ctx, conn, alerts, l.db.pg, false)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("lake: store the detector's alerts: %w", err)
	}
	return n, nil
}

// nextDetectPass numbers a detector pass: a counter in the catalog, not a
// clock, so the passes of many nodes are ordered whatever their clocks.
func nextDetectPass(ctx context.Context, conn *catConn) (int64, error) {
	// One statement per pass once the counter exists (every commit takes
	// a number): it is created by the first pass only.
	for try := 0; ; try++ {
		var seq int64
		err := conn.QueryRowContext(ctx, `UPDATE detect_clock SET n = n + 1 WHERE id = 1 RETURNING n`).Scan(&seq)
		if !errors.Is(err, sql.ErrNoRows) || try == 1 {
			return seq, err
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO detect_clock VALUES (1, 0) ON CONFLICT DO NOTHING`); err != nil {
			return 0, err
		}
	}
}

// recordCoverage keeps, begins or ends the rules' coverage (see
// DoneDetection).
func recordCoverage(ctx context.Context, conn *catConn, cov Coverage, seq int64) error {
	if cov.Tenant == "" {
		return nil
	}
	rows, err := conn.QueryContext(ctx, `SELECT rule_id, hunt FROM rule_coverage WHERE tenant = ? AND idx = ?`, cov.Tenant, cov.Index)
	if err != nil {
		return err
	}
	have := map[string]string{}
	for rows.Next() {
		var id, hunt string
		if err := rows.Scan(&id, &hunt); err != nil {
			rows.Close()
			return err
		}
		have[id] = hunt
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for id, hunt := range have {
		if q, ok := cov.Applied[id]; !ok || q != hunt {
			if _, err := conn.ExecContext(ctx, `DELETE FROM rule_coverage WHERE tenant = ? AND rule_id = ?`, cov.Tenant, id); err != nil {
				return err
			}
			delete(have, id)
		}
	}
	for id, hunt := range cov.Applied {
		if _, ok := have[id]; ok {
			continue
		}
		// (A rule moved to another index keeps its id: its old row goes.)
		if _, err := conn.ExecContext(ctx, `DELETE FROM rule_coverage WHERE tenant = ? AND rule_id = ?`, cov.Tenant, id); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO rule_coverage (tenant, rule_id, idx, hunt, since_seq) VALUES (?, ?, ?, ?, ?)`,
			cov.Tenant, id, cov.Index, hunt, seq); err != nil {
			return err
		}
	}
	return nil
}

// UncoveredSegments counts the segments of a tenant's index that may
// hold records of [from, to) and that the detector has not read with the
// rule's query hunt: unread ones (the detector may yet fail the rule on
// them), ones read before the rule's coverage began (before it was
// enabled, changed, or after it failed), and ones read in an unknown
// pass. Zero means the detector raised every alert the rule has there.
func (l *Catalog) UncoveredSegments(ctx context.Context, tenant, index, ruleID, hunt string, from, to time.Time) (int64, error) {
	var n int64
	err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM segments WHERE tenant = ? AND idx = ? AND max_ts >= ? AND min_ts < ?
 AND (detected = false OR detected_seq IS NULL OR detected_seq < coalesce(
   (SELECT since_seq FROM rule_coverage WHERE tenant = ? AND rule_id = ? AND idx = ? AND hunt = ?), 9223372036854775807))`,
		tenant, index, from.UTC(), to.UTC(), tenant, ruleID, index, hunt).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("lake: segments rule %s has not read: %w", ruleID, err)
	}
	return n, nil
}

// mergeAlerts stores alerts: a new (tenant, rule, window, group) is
// inserted; one already stored keeps its id, time and notification, takes
// the union of both record lists (the stored ids first, at most
// AlertRecordIDs), and the larger count. Evaluating the same records again
// (the schedule after the detector, a merged segment, another node)
// changes nothing. Alerts raised at ingest (add) count records no
// evaluation counted before (each record commits once), so their count
// adds to the stored one. It returns how many alerts were new.
func mergeAlerts(ctx context.Context, conn *catConn, alerts []Alert, pg, add bool) (int, error) {
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
		if err := mergeInto(ctx, conn, a, pg, add); err != nil {
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
//
// New records in an alert that was triaged are news, not noise to hide
// in it: a closed alert reopens and an acknowledged one gets a note, each
// saying how many arrived; and a webhook that takes status changes gets
// the alert again. A record found by a different query (the rule was
// edited, or an exception removed) widens the alert's query to both, so
// its hunt still finds every record it holds.
func mergeInto(ctx context.Context, conn *catConn, a *Alert, pg, add bool) error {
	lock := ""
	if pg {
		lock = " FOR UPDATE"
	}
	stored, err := scanAlerts(conn.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`+lock, a.ID))
	if err != nil {
		return err
	}
	if len(stored) == 0 {
		return fmt.Errorf("alert %s: %w", a.ID, ErrNotFound)
	}
	old := stored[0]
	if add {
		a.Count += old.Count
	}
	ids, grew := unionIDs(old.Records, a.Records)
	if !grew && a.Count <= old.Count {
		return nil
	}
	added := max(a.Count-old.Count, int64(len(ids)-len(old.Records)))
	q := old.Query
	if grew && a.Query != old.Query {
		q = "(" + old.Query + ") OR (" + a.Query + ")"
	}
	triaged := old.Status == "closed" || old.Status == "acknowledged"
	if triaged && added > 0 {
		reopen(&old, added, time.Now())
	}
	recs, _ := json.Marshal(ids)
	notes, _ := json.Marshal(old.Notes)
	if _, err := conn.ExecContext(ctx, `UPDATE alerts SET count = ?, records = ?, query = ?, status = ?, close_reason = ?, notes = ?, updated_at = ?, updated_by = ? WHERE id = ?`,
		max(old.Count, a.Count, int64(len(ids))), string(recs), q, old.Status, old.CloseReason, string(notes), nullTime(old.UpdatedAt), old.UpdatedBy, a.ID); err != nil {
		return err
	}
	return requeueForChanges(ctx, conn, a.ID)
}

// reopen notes the records that reached a triaged alert: a closed one is
// open again (its reason kept in the note), an acknowledged one stays so.
func reopen(a *Alert, added int64, now time.Time) {
	text := fmt.Sprintf("%d more matching records arrived", added)
	if a.Status == "closed" {
		text = fmt.Sprintf("reopened: %d more matching records arrived after it was closed (%s)", added, a.CloseReason)
		a.Status, a.CloseReason = "open", ""
	}
	if len(a.Notes) < MaxNotes {
		a.Notes = append(a.Notes, Note{Author: "trawl", At: now.UTC(), Text: text})
	}
	a.UpdatedAt, a.UpdatedBy = now.UTC(), "trawl"
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
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

// RuleSpan is a single-event rule's closed windows not yet evaluated:
// from its mark (Prev, zero without one; From is where they begin) to Last.
type RuleSpan struct {
	RuleID, Hunt     string
	Prev, From, Last time.Time
}

// RuleMarks returns how far each of a tenant's rules was evaluated.
func (l *Catalog) RuleMarks(ctx context.Context, tenant string) (map[string]time.Time, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT rule_id, done_to FROM rule_marks WHERE tenant = ?`, tenant)
	if err != nil {
		return nil, fmt.Errorf("lake: rule marks of %s: %w", tenant, err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var t time.Time
		if err := rows.Scan(&id, &t); err != nil {
			return nil, err
		}
		out[id] = t.UTC()
	}
	return out, rows.Err()
}

// CoveredSpans moves, in one transaction, the marks of the spans whose
// every segment was read with the rule's query (UncoveredSegments of
// each is zero), as SaveAlerts with no alerts would one by one, and
// returns the rules whose mark moved. Each move is a compare-and-set on
// the mark; one another process moved meanwhile is left as it is. The
// schedule asked this of every single-event rule of every tenant each
// minute, a few statements each: one query per index now answers all.
func (l *Catalog) CoveredSpans(ctx context.Context, tenant, index string, spans []RuleSpan) (map[string]bool, error) {
	if len(spans) == 0 {
		return nil, nil
	}
	var b strings.Builder
	args := []any{}
	for i, s := range spans {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP))")
		args = append(args, s.RuleID, s.Hunt, s.From.UTC(), s.Last.UTC())
	}
	args = append(args, tenant, index, tenant, index)
	rows, err := l.db.QueryContext(ctx, `SELECT r.rule_id, count(s.id) FROM (VALUES `+b.String()+`) AS r(rule_id, hunt, f, t)
 LEFT JOIN rule_coverage c ON c.tenant = ? AND c.idx = ? AND c.rule_id = r.rule_id AND c.hunt = r.hunt
 LEFT JOIN segments s ON s.tenant = ? AND s.idx = ? AND s.max_ts >= r.f AND s.min_ts < r.t
  AND (s.detected = false OR s.detected_seq IS NULL OR s.detected_seq < coalesce(c.since_seq, 9223372036854775807))
 GROUP BY r.rule_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("lake: segments the rules of %s have not read: %w", tenant, err)
	}
	covered := map[string]bool{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, err
		}
		covered[id] = n == 0
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	moved := map[string]bool{}
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	err = l.withTx(ctx, func(conn *catConn) error {
		clear(moved)
		for _, s := range spans {
			if !covered[s.RuleID] {
				continue
			}
			var res sql.Result
			var err error
			if s.Prev.IsZero() {
				res, err = conn.ExecContext(ctx, `INSERT INTO rule_marks VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, tenant, s.RuleID, s.Last.UTC())
			} else {
				res, err = conn.ExecContext(ctx, `UPDATE rule_marks SET done_to = ? WHERE tenant = ? AND rule_id = ? AND done_to = ?`,
					s.Last.UTC(), tenant, s.RuleID, s.Prev.UTC())
			}
			if err != nil {
				return fmt.Errorf("rule %s: %w", s.RuleID, err)
			}
			if k, _ := res.RowsAffected(); k == 1 {
				moved[s.RuleID] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lake: move the marks of the rules of %s: %w", tenant, err)
	}
	return moved, nil
}
