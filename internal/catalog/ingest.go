package catalog

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/ingest"
)

// ObjectStates returns the checkpoints of a connector's objects.
func (l *Catalog) ObjectStates(ctx context.Context, connectorID string) (map[string]ObjectState, error) {
	return l.ObjectStatesSince(ctx, connectorID, time.Time{})
}

// ObjectStatesSince returns the checkpoints of objects last modified at or
// after since, and of every unfinished object: what a run that lists only
// recent partitions can meet.
func (l *Catalog) ObjectStatesSince(ctx context.Context, connectorID string, since time.Time) (map[string]ObjectState, error) {
	rows, err := l.db.QueryContext(ctx, objectStateColumns+`
 FROM objects WHERE connector_id = ? AND (last_modified IS NULL OR last_modified >= ? OR NOT done)`, connectorID, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("lake: checkpoints of %s: %w", connectorID, err)
	}
	out := map[string]ObjectState{}
	return out, scanObjectStates(rows, out)
}

// objectStateColumns selects what scanObjectState reads.
const objectStateColumns = `SELECT key, version, position, done, records, quarantined, coalesce(size,0), last_modified, coalesce(sha256,'')`

type scanner interface{ Scan(dest ...any) error }

func scanObjectState(r scanner) (ObjectState, error) {
	var s ObjectState
	var lm sql.NullTime
	err := r.Scan(&s.Key, &s.Version, &s.Position, &s.Done, &s.Records, &s.Quarantined, &s.Size, &lm, &s.SHA256)
	s.LastModified = lm.Time
	return s, err
}

// scanObjectStates reads rows of objectStateColumns into out by key and
// closes rows.
func scanObjectStates(rows *sql.Rows, out map[string]ObjectState) error {
	defer rows.Close()
	for rows.Next() {
		s, err := scanObjectState(rows)
		if err != nil {
			return err
		}
		out[s.Key] = s
	}
	return rows.Err()
}

// ObjectStatesOf returns the checkpoints of the given keys (those that
// have one), in one query: a run over a folder with no date structure
// looks its objects up a listing page at a time, not one by one.
func (l *Catalog) ObjectStatesOf(ctx context.Context, connectorID string, keys []string) (map[string]ObjectState, error) {
	out := make(map[string]ObjectState, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(keys)+1)
	args = append(args, connectorID)
	for _, k := range keys {
		args = append(args, k)
	}
	rows, err := l.db.QueryContext(ctx, objectStateColumns+`
 FROM objects WHERE connector_id = ? AND key IN (`+placeholders(len(keys))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("lake: checkpoints of %d objects of %s: %w", len(keys), connectorID, err)
	}
	return out, scanObjectStates(rows, out)
}

// ObjectStateOf returns one object's checkpoint.
func (l *Catalog) ObjectStateOf(ctx context.Context, connectorID, key string) (ObjectState, bool, error) {
	s, err := scanObjectState(l.db.QueryRowContext(ctx, objectStateColumns+`
 FROM objects WHERE connector_id = ? AND key = ?`, connectorID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return ObjectState{}, false, nil
	}
	if err != nil {
		return ObjectState{}, false, fmt.Errorf("lake: checkpoint of %s: %w", key, err)
	}
	return s, true, nil
}

// Watermarks returns the newest collected object time per partition.
func (l *Catalog) Watermarks(ctx context.Context, connectorID string) (map[string]time.Time, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT prefix, watermark FROM partitions WHERE connector_id = ?`, connectorID)
	if err != nil {
		return nil, fmt.Errorf("lake: watermarks: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var p string
		var w time.Time
		if err := rows.Scan(&p, &w); err != nil {
			return nil, err
		}
		out[p] = w.UTC()
	}
	return out, rows.Err()
}

// SetWatermarks stores partition watermarks.
func (l *Catalog) SetWatermarks(ctx context.Context, connectorID string, w map[string]time.Time) error {
	if len(w) == 0 {
		return nil
	}
	return l.withTx(ctx, func(conn *catConn) error {
		for p, t := range w {
			if _, err := conn.ExecContext(ctx, `INSERT INTO partitions VALUES (?, ?, ?) ON CONFLICT (connector_id, prefix) DO UPDATE SET watermark = excluded.watermark`,
				connectorID, p, t.UTC()); err != nil {
				return fmt.Errorf("lake: watermark %s: %w", p, err)
			}
		}
		return nil
	})
}

// Register is the catalog transaction of a commit: it checks the batches'
// leases, registers the segments their rows were written to, stores the
// quarantined input and advances every checkpoint, all or nothing. When
// the batches were evaluated at ingest (Batch.Rules), the same
// transaction stores their alerts and registers the segments as read by
// those rules (a numbered detector pass with its coverage, as
// DoneDetection records it); otherwise the detector reads them later.
// It returns how many alerts were new.
func (l *Catalog) Register(ctx context.Context, bs []*Batch, segs []Segment) (int, error) {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	defer l.timings.Since(ingest.StageCommit, time.Now())
	alerts, cov, evaluated := ingestAlerts(bs)
	n := 0
	var err error
	// An alert merged here may be updated at the same moment by a triage
	// or another evaluation: DuckDB aborts one of the two, and nothing of
	// this transaction took effect, so it is run again.
	for try := 0; try < 3; try++ {
		err = l.withTx(ctx, func(conn *catConn) error {
			var err error
			n, err = registerTx(ctx, conn, bs, segs, alerts, cov, evaluated, l.db.pg)
			return err
		})
		if !isConflict(err) || errors.Is(err, ingest.ErrCommitUnknown) {
			break
		}
	}
	return n, err
}

func registerTx(ctx context.Context, conn *catConn, bs []*Batch, segs []Segment, alerts []Alert, cov Coverage, evaluated, pg bool) (int, error) {
	if err := checkLeases(ctx, conn, bs); err != nil {
		return 0, err
	}
	n := 0
	if !evaluated {
		if err := insertSegments(ctx, conn, segs, false, nil); err != nil {
			return 0, err
		}
	} else {
		seq, err := nextDetectPass(ctx, conn)
		if err != nil {
			return 0, err
		}
		if err := insertSegments(ctx, conn, segs, true, &seq); err != nil {
			return 0, err
		}
		if len(segs) > 0 {
			if err := recordCoverage(ctx, conn, cov, seq); err != nil {
				return 0, err
			}
		}
		if n, err = mergeAlerts(ctx, conn, alerts, pg, true); err != nil {
			return 0, err
		}
	}
	for _, b := range bs {
		if err := commitQuarantine(ctx, conn, b); err != nil {
			return 0, err
		}
	}
	return n, upsertObjects(ctx, conn, mergeObjects(bs))
}

// ingestAlerts turns the batches' hits into alerts, one per rule and
// window with the window's count of hits and its newest ids (as the
// detector keeps them), and says which rules were applied. evaluated is
// false unless every batch was evaluated with one rule set, of one
// tenant and index: anything else is left to the detector.
func ingestAlerts(bs []*Batch) (alerts []Alert, cov Coverage, evaluated bool) {
	if len(bs) == 0 || bs[0].Rules == nil || bs[0].Schema == nil {
		return nil, Coverage{}, false
	}
	rs := bs[0].Rules
	for _, b := range bs {
		if b.Rules != rs || b.Tenant != bs[0].Tenant || b.Schema != bs[0].Schema {
			return nil, Coverage{}, false
		}
	}
	cov = Coverage{Tenant: bs[0].Tenant, Index: bs[0].Schema.Index, Applied: make(map[string]string, len(rs.Rules))}
	for _, r := range rs.Rules {
		cov.Applied[r.ID] = r.Query
	}
	type key struct {
		rule int
		w    int64
	}
	byWindow := map[key][]ingest.Hit{}
	var order []key
	step := rs.Step.Microseconds()
	for _, b := range bs {
		for _, h := range b.Hits {
			us := h.Time.UnixMicro()
			w := us / step
			if us < 0 && us%step != 0 {
				w-- // floor, as the detector's window of a time before 1970
			}
			k := key{h.Rule, w}
			if _, ok := byWindow[k]; !ok {
				order = append(order, k)
			}
			byWindow[k] = append(byWindow[k], h)
		}
	}
	for _, k := range order {
		hs := byWindow[k]
		// The newest ids first, as the detector's search orders them.
		sort.Slice(hs, func(i, j int) bool {
			if !hs[i].Time.Equal(hs[j].Time) {
				return hs[i].Time.After(hs[j].Time)
			}
			return hs[i].ID > hs[j].ID
		})
		ids := make([]string, 0, min(len(hs), AlertRecordIDs))
		for _, h := range hs[:min(len(hs), AlertRecordIDs)] {
			ids = append(ids, h.ID)
		}
		r := rs.Rules[k.rule]
		start := time.UnixMicro(k.w * step).UTC()
		alerts = append(alerts, Alert{Tenant: cov.Tenant, RuleID: r.ID, Rule: r.Title, Level: r.Level, WindowStart: start,
			WindowEnd: start.Add(rs.Step), Count: int64(len(hs)), Records: ids, Query: r.Query})
	}
	return alerts, cov, true
}

// mergeObjects keeps the last checkpoint of each object (a commit may hold
// several batches of one object).
func mergeObjects(bs []*Batch) []*Batch {
	last := map[string]int{}
	for i, b := range bs {
		last[b.Object.Key] = i
	}
	var out []*Batch
	for i, b := range bs {
		if last[b.Object.Key] == i {
			out = append(out, b)
		}
	}
	return out
}

// insertSegments registers segments; detected says whether the detector
// has read their records (false for a commit's: they wait for it), and
// detectedSeq in which of its passes (nil: unknown, or not read).
func insertSegments(ctx context.Context, conn *catConn, segs []Segment, detected bool, detectedSeq *int64) error {
	now := time.Now().UTC()
	for _, s := range segs {
		_, err := conn.ExecContext(ctx, `INSERT INTO segments (id, idx, tenant, day, path, rows, bytes, min_ts, max_ts, row_groups, level,
 created_at, detected, detected_seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			s.ID, s.Index, s.Tenant, s.Day, s.Path, s.Rows, s.Bytes, s.MinTS, s.MaxTS, s.RowGroups, s.Level, now, detected, detectedSeq)
		if err != nil {
			return fmt.Errorf("register segment %s: %w", s.Path, err)
		}
	}
	return queueSnapshots(ctx, conn, segs)
}

// Registered reports whether a segment is registered: after a COMMIT
// whose outcome was not confirmed (ingest.ErrCommitUnknown), whether it
// took effect.
func (l *Catalog) Registered(ctx context.Context, id string) (bool, error) {
	var n int
	if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM segments WHERE id = ?`, id).Scan(&n); err != nil {
		return false, err
	}
	return n == 1, nil
}

func commitQuarantine(ctx context.Context, conn *catConn, b *Batch) error {
	now := time.Now().UTC()
	for i := range b.Quarantine {
		q := &b.Quarantine[i]
		if q.ID == "" {
			q.ID = quarantineID(b.ConnectorID, q.Key, q.Version, q.Scope, q.Position)
		}
		_, err := conn.ExecContext(ctx, `INSERT INTO quarantine VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,NULL)
 ON CONFLICT (id) DO UPDATE SET reason = excluded.reason, raw = excluded.raw, created_at = excluded.created_at, retried_at = NULL`,
			q.ID, q.Tenant, b.ConnectorID, q.Connector, q.Bucket, q.Key, q.Version, q.Position, q.Offset, q.Scope, q.Reason, q.Raw, now)
		if err != nil {
			return fmt.Errorf("quarantine %s: %w", q.Key, err)
		}
	}
	return nil
}

// upsertObjects writes the batches' checkpoints with one statement per 200
// objects: single-row upserts cost milliseconds each in DuckDB, which
// dominated runs over many small objects. Keys must be distinct.
func upsertObjects(ctx context.Context, conn *catConn, bs []*Batch) error {
	now := time.Now().UTC()
	if len(bs) <= 4 {
		// A few objects (the usual large-object batch): an UPDATE, and an
		// INSERT only when the object is new. DuckDB plans a multi-row
		// ON CONFLICT upsert for milliseconds, longer than both together.
		for _, b := range bs {
			if err := upsertObject(ctx, conn, b, now); err != nil {
				return err
			}
		}
		return nil
	}
	const chunk = 200
	for start := 0; start < len(bs); start += chunk {
		part := bs[start:min(start+chunk, len(bs))]
		var q strings.Builder
		q.WriteString("INSERT INTO objects VALUES ")
		args := make([]any, 0, len(part)*11)
		for i, b := range part {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?,?,?,?,?,?)")
			args = append(args, objectRow(b, now)...)
		}
		q.WriteString(` ON CONFLICT (connector_id, key) DO UPDATE SET version = excluded.version, position = excluded.position,
 done = excluded.done, records = excluded.records, quarantined = excluded.quarantined, size = excluded.size,
 last_modified = excluded.last_modified, updated_at = excluded.updated_at, sha256 = excluded.sha256`)
		if _, err := conn.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("checkpoint %s (+%d): %w", part[0].Object.Key, len(part)-1, err)
		}
	}
	return nil
}

// objectRow is a batch's checkpoint as a row of the objects table, in
// column order.
func objectRow(b *Batch, now time.Time) []any {
	o := &b.Object
	var lm any
	if !o.LastModified.IsZero() {
		lm = o.LastModified.UTC()
	}
	var sum any
	if o.SHA256 != "" {
		sum = o.SHA256
	}
	return []any{b.ConnectorID, o.Key, o.Version, o.Position, o.Done, o.Records, o.Quarantined, o.Size, lm, now, sum}
}

func upsertObject(ctx context.Context, conn *catConn, b *Batch, now time.Time) error {
	row := objectRow(b, now)
	// The SET columns in table order, then the key (connector_id, key).
	res, err := conn.ExecContext(ctx, `UPDATE objects SET version = ?, position = ?, done = ?, records = ?, quarantined = ?, size = ?,
 last_modified = ?, updated_at = ?, sha256 = ? WHERE connector_id = ? AND key = ?`, append(row[2:len(row):len(row)], row[0], row[1])...)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", b.Object.Key, err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO objects VALUES (?,?,?,?,?,?,?,?,?,?,?)`, row...); err != nil {
		return fmt.Errorf("checkpoint %s: %w", b.Object.Key, err)
	}
	return nil
}

func quarantineID(connectorID, key, version, scope string, pos int64) string {
	h := sha256.Sum256([]byte(connectorID + "\x00" + key + "\x00" + version + "\x00" + scope + "\x00" + strconv.FormatInt(pos, 10)))
	return hex.EncodeToString(h[:12])
}

// QuarantineFilter selects quarantine entries.
type QuarantineFilter struct {
	Tenants     []string // empty: all
	ConnectorID string
	Limit       int
}

// Quarantine lists quarantined items, newest first.
func (l *Catalog) Quarantine(ctx context.Context, f QuarantineFilter) ([]QuarantineItem, error) {
	q := `SELECT id, tenant, connector_id, connector, coalesce(bucket,''), key, coalesce(version,''), coalesce(position,0),
 coalesce(offset_bytes,0), scope, reason, raw, created_at, retried_at FROM quarantine WHERE 1=1`
	var args []any
	if len(f.Tenants) > 0 {
		q += ` AND tenant IN (` + placeholders(len(f.Tenants)) + `)`
		for _, t := range f.Tenants {
			args = append(args, t)
		}
	}
	if f.ConnectorID != "" {
		q += ` AND connector_id = ?`
		args = append(args, f.ConnectorID)
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q += ` ORDER BY created_at DESC, key, position LIMIT ?`
	args = append(args, f.Limit)
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("lake: quarantine: %w", err)
	}
	defer rows.Close()
	return scanQuarantine(rows)
}

func scanQuarantine(rows *sql.Rows) ([]QuarantineItem, error) {
	var out []QuarantineItem
	for rows.Next() {
		var it QuarantineItem
		var retried sql.NullTime
		if err := rows.Scan(&it.ID, &it.Tenant, &it.ConnectorID, &it.Connector, &it.Bucket, &it.Key, &it.Version, &it.Position,
			&it.Offset, &it.Scope, &it.Reason, &it.Raw, &it.CreatedAt, &retried); err != nil {
			return nil, err
		}
		if retried.Valid {
			t := retried.Time
			it.RetriedAt = &t
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// QuarantinedRecords returns up to n record-scope entries of a connector
// with an id after the given one, in id order: retry walks the quarantine
// a page at a time, whatever its size.
func (l *Catalog) QuarantinedRecords(ctx context.Context, connectorID, after string, n int) ([]QuarantineItem, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT id, tenant, connector_id, connector, coalesce(bucket,''), key, coalesce(version,''), coalesce(position,0),
 coalesce(offset_bytes,0), scope, reason, raw, created_at, retried_at FROM quarantine
 WHERE connector_id = ? AND scope = 'record' AND id > ? ORDER BY id LIMIT ?`, connectorID, after, n)
	if err != nil {
		return nil, fmt.Errorf("lake: quarantine of %s: %w", connectorID, err)
	}
	defer rows.Close()
	return scanQuarantine(rows)
}

// RequeueObjects marks objects whose rest was quarantined as not done, so the
// next run reads them again from their committed position (after a fix, or
// once the object was replaced). Their quarantine entries are marked
// retried; if the object is still bad, the next run records it again.
func (l *Catalog) RequeueObjects(ctx context.Context, connectorID string) (int64, error) {
	var n int64
	now := time.Now().UTC()
	err := l.withTx(ctx, func(conn *catConn) error {
		res, err := conn.ExecContext(ctx, `UPDATE objects SET done = false, updated_at = ? WHERE connector_id = ? AND key IN (
 SELECT key FROM quarantine WHERE connector_id = ? AND scope = 'object' AND retried_at IS NULL)`, now, connectorID, connectorID)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = conn.ExecContext(ctx, `UPDATE quarantine SET retried_at = ? WHERE connector_id = ? AND scope = 'object' AND retried_at IS NULL`, now, connectorID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("lake: requeue quarantined objects: %w", err)
	}
	return n, nil
}

// ResolveRecord registers the segments a quarantined record that now
// decodes was written to, and removes it from the quarantine, in one
// transaction.
func (l *Catalog) ResolveRecord(ctx context.Context, item QuarantineItem, segs []Segment) error {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	return l.withTx(ctx, func(conn *catConn) error {
		res, err := conn.ExecContext(ctx, `DELETE FROM quarantine WHERE id = ?`, item.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("quarantine entry %s: %w", item.ID, ErrNotFound) // resolved by someone else
		}
		if err := insertSegments(ctx, conn, segs, false, nil); err != nil {
			return err
		}
		_, err = conn.ExecContext(ctx, `UPDATE objects SET records = records + 1, quarantined = quarantined - 1 WHERE connector_id = ? AND key = ?`, item.ConnectorID, item.Key)
		return err
	})
}

// MarkRetried records that a retry of a quarantine entry failed again.
func (l *Catalog) MarkRetried(ctx context.Context, id, reason string) error {
	_, err := l.db.ExecContext(ctx, `UPDATE quarantine SET retried_at = ?, reason = ? WHERE id = ?`, time.Now().UTC(), reason, id)
	return err
}
