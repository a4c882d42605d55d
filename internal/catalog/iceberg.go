package catalog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// The Iceberg side of the registry. Every transaction that changes a
// table's segments (a commit, a compaction's swap, a migration) also
// queues its (tenant, index, day) in iceberg_queue: inserts only, so a
// commit never conflicts with the publisher that empties the queue. The
// publisher (internal/app) writes the snapshot of the registered segments
// of the queued days, then moves the table's pointer (iceberg_tables'
// metadata, as Iceberg's JDBC catalog holds it) in one transaction that
// checks the pointer is still the one it built on, records which files
// the snapshot holds (iceberg_files) and its manifest per day, and
// deletes the queue rows it served. A crash anywhere leaves either the
// old pointer and the queue (the next publish redoes it) or the new one.

// TableRef names a table: one per tenant and index.
type TableRef struct{ Tenant, Index string }

// PublishedFile is a segment in a table's current snapshot.
type PublishedFile struct {
	Path       string // under the lake root, with slashes
	Day        time.Time
	SnapshotID int64 // that added it
	Seq        int64 // its data sequence number
	Rows       int64
	Bytes      int64
}

// ManifestRow is a day's manifest in a table's current snapshot.
type ManifestRow struct {
	Day                                     time.Time
	Path                                    string // under the lake root
	Length, SnapshotID, Seq, MinSeq         int64
	AddedFiles, ExistingFiles, DeletedFiles int
	AddedRows, ExistingRows, DeletedRows    int64
}

// queueSnapshots queues the days of segs for the next Iceberg snapshot,
// inside the transaction that registers or retires them.
func queueSnapshots(ctx context.Context, conn *catConn, segs []Segment) error {
	type day struct {
		TableRef
		day time.Time
	}
	seen := map[day]bool{}
	for _, s := range segs {
		d := day{TableRef{s.Tenant, s.Index}, s.Day.UTC()}
		if seen[d] {
			continue
		}
		seen[d] = true
		if _, err := conn.ExecContext(ctx, `INSERT INTO iceberg_queue VALUES (?, ?, ?, ?)`, queueID(), s.Tenant, s.Index, s.Day); err != nil {
			return fmt.Errorf("queue the snapshot of %s/%s: %w", s.Tenant, s.Index, err)
		}
	}
	return nil
}

func queueID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// queueExisting queues every day of a lake whose segments were registered
// before the tables existed, once: their first snapshot then holds them.
func (l *Catalog) queueExisting(ctx context.Context) error {
	if v, err := l.Meta(ctx, "iceberg_queued"); err != nil || v != "" {
		return err
	}
	if _, err := l.db.ExecContext(ctx, `INSERT INTO iceberg_queue SELECT 'init/' || tenant || '/' || idx || '/' || CAST(day AS VARCHAR), tenant, idx, day
 FROM (SELECT DISTINCT tenant, idx, day FROM segments) d ON CONFLICT DO NOTHING`); err != nil {
		return fmt.Errorf("lake: queue the tables' first snapshots: %w", err)
	}
	return l.SetMeta(ctx, "iceberg_queued", "1")
}

// QueuedTables lists the tables with queued changes.
func (l *Catalog) QueuedTables(ctx context.Context) ([]TableRef, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT DISTINCT tenant, idx FROM iceberg_queue ORDER BY tenant, idx`)
	if err != nil {
		return nil, fmt.Errorf("lake: snapshot queue: %w", err)
	}
	defer rows.Close()
	var out []TableRef
	for rows.Next() {
		var t TableRef
		if err := rows.Scan(&t.Tenant, &t.Index); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ClaimVersion reserves the next metadata version of a table (never
// handed out twice, so a metadata file's name is never written twice) and
// returns it with the table's current metadata file ("" before its first
// snapshot) and its manifests.
func (l *Catalog) ClaimVersion(ctx context.Context, t TableRef) (version int64, current string, manifests []ManifestRow, err error) {
	err = l.withTx(ctx, func(conn *catConn) error {
		if _, err := conn.ExecContext(ctx, `INSERT INTO iceberg_tables VALUES (?, ?, 0, '') ON CONFLICT DO NOTHING`, t.Tenant, t.Index); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, `UPDATE iceberg_tables SET claimed = claimed + 1 WHERE tenant = ? AND idx = ?`, t.Tenant, t.Index); err != nil {
			return err
		}
		return conn.QueryRowContext(ctx, `SELECT claimed, metadata FROM iceberg_tables WHERE tenant = ? AND idx = ?`, t.Tenant, t.Index).Scan(&version, &current)
	})
	if err != nil {
		return 0, "", nil, fmt.Errorf("lake: claim a metadata version of table %s.%s: %w", t.Tenant, t.Index, err)
	}
	manifests, err = l.manifests(ctx, t)
	return version, current, manifests, err
}

func (l *Catalog) manifests(ctx context.Context, t TableRef) ([]ManifestRow, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT day, path, length, snapshot, seq, min_seq, added_files, existing_files, deleted_files,
 added_rows, existing_rows, deleted_rows FROM iceberg_manifests WHERE tenant = ? AND idx = ? ORDER BY day`, t.Tenant, t.Index)
	if err != nil {
		return nil, fmt.Errorf("lake: manifests of table %s.%s: %w", t.Tenant, t.Index, err)
	}
	defer rows.Close()
	var out []ManifestRow
	for rows.Next() {
		var m ManifestRow
		if err := rows.Scan(&m.Day, &m.Path, &m.Length, &m.SnapshotID, &m.Seq, &m.MinSeq, &m.AddedFiles, &m.ExistingFiles, &m.DeletedFiles,
			&m.AddedRows, &m.ExistingRows, &m.DeletedRows); err != nil {
			return nil, err
		}
		m.Day = m.Day.UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// TableChanges is what a table's next snapshot covers: the queue rows
// (and their days) and the registered segments of those days.
type TableChanges struct {
	Served []string
	Days   []time.Time
	Live   map[time.Time][]Segment // Path, Day, Rows and Bytes set
}

// QueuedChanges reads a table's queue and the registered segments of the
// queued days in one statement, so in one state of the catalog: a commit
// (which may span days) is in the snapshot whole, with its queue rows, or
// not at all, and then its queue rows remain for the next.
func (l *Catalog) QueuedChanges(ctx context.Context, t TableRef) (TableChanges, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT 'q', id, day, '', 0, 0 FROM iceberg_queue WHERE tenant = ? AND idx = ?
 UNION ALL SELECT 's', '', day, path, rows, bytes FROM segments WHERE tenant = ? AND idx = ?
   AND day IN (SELECT day FROM iceberg_queue WHERE tenant = ? AND idx = ?)`, t.Tenant, t.Index, t.Tenant, t.Index, t.Tenant, t.Index)
	if err != nil {
		return TableChanges{}, fmt.Errorf("lake: changes of table %s.%s: %w", t.Tenant, t.Index, err)
	}
	defer rows.Close()
	c := TableChanges{Live: map[time.Time][]Segment{}}
	seen := map[time.Time]bool{}
	for rows.Next() {
		var kind, id string
		var s Segment
		if err := rows.Scan(&kind, &id, &s.Day, &s.Path, &s.Rows, &s.Bytes); err != nil {
			return c, err
		}
		s.Day = s.Day.UTC()
		if kind == "s" {
			c.Live[s.Day] = append(c.Live[s.Day], s)
			continue
		}
		c.Served = append(c.Served, id)
		if !seen[s.Day] {
			seen[s.Day] = true
			c.Days = append(c.Days, s.Day)
		}
	}
	return c, rows.Err()
}

// PublishedFiles lists the files of a table's day in its current snapshot.
func (l *Catalog) PublishedFiles(ctx context.Context, t TableRef, day time.Time) ([]PublishedFile, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT path, day, snapshot, seq, rows, bytes FROM iceberg_files WHERE tenant = ? AND idx = ? AND day = ?`, t.Tenant, t.Index, day)
	if err != nil {
		return nil, fmt.Errorf("lake: files of table %s.%s: %w", t.Tenant, t.Index, err)
	}
	defer rows.Close()
	var out []PublishedFile
	for rows.Next() {
		var f PublishedFile
		if err := rows.Scan(&f.Path, &f.Day, &f.SnapshotID, &f.Seq, &f.Rows, &f.Bytes); err != nil {
			return nil, err
		}
		f.Day = f.Day.UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}

// SnapshotCommit is what moving a table's pointer records.
type SnapshotCommit struct {
	TableRef
	From, To string // metadata files (under the lake root)
	// FromLocation and ToLocation are From and To as engines name them
	// (the JDBC catalog's metadata_location).
	FromLocation, ToLocation string
	Served                   []string // queue rows the snapshot covers
	Added                    []PublishedFile
	Removed                  []string // paths of files the snapshot no longer holds
	// Days maps each day the snapshot rewrote to its new manifest (nil
	// when the day has no file left).
	Days map[time.Time]*ManifestRow
	// Garbage are metadata files the snapshot supersedes (manifests,
	// manifest lists, metadata files), deleted from DeleteAfter on; so are
	// the removed segments.
	Garbage     []string
	DeleteAfter time.Time
}

// ErrMoved means a table's pointer moved since the snapshot was built.
var ErrMoved = errors.New("the table's current metadata changed")

// CommitSnapshot moves a table's pointer from c.From to c.To and records
// the snapshot, in one transaction; ErrMoved if the pointer is no longer
// c.From (another node published first: the caller builds again).
func (l *Catalog) CommitSnapshot(ctx context.Context, c SnapshotCommit) error {
	err := l.withTx(ctx, func(conn *catConn) error {
		res, err := conn.ExecContext(ctx, `UPDATE iceberg_tables SET metadata = ? WHERE tenant = ? AND idx = ? AND metadata = ?`, c.To, c.Tenant, c.Index, c.From)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrMoved
		}
		if l.db.pg && c.To != c.From {
			if err := setJDBCPointer(ctx, conn, c.TableRef, c.FromLocation, c.ToLocation); err != nil {
				return err
			}
		}
		for _, id := range c.Served {
			if _, err := conn.ExecContext(ctx, `DELETE FROM iceberg_queue WHERE id = ?`, id); err != nil {
				return err
			}
		}
		if err := recordFiles(ctx, conn, c); err != nil {
			return err
		}
		for day, m := range c.Days {
			if _, err := conn.ExecContext(ctx, `DELETE FROM iceberg_manifests WHERE tenant = ? AND idx = ? AND day = ?`, c.Tenant, c.Index, day); err != nil {
				return err
			}
			if m == nil {
				continue
			}
			if _, err := conn.ExecContext(ctx, `INSERT INTO iceberg_manifests VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, c.Tenant, c.Index, day, m.Path, m.Length,
				m.SnapshotID, m.Seq, m.MinSeq, m.AddedFiles, m.ExistingFiles, m.DeletedFiles, m.AddedRows, m.ExistingRows, m.DeletedRows); err != nil {
				return err
			}
		}
		for _, p := range c.Garbage {
			if _, err := conn.ExecContext(ctx, `INSERT INTO iceberg_garbage VALUES (?, ?) ON CONFLICT DO NOTHING`, p, c.DeleteAfter.UTC()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lake: commit a snapshot of table %s.%s: %w", c.Tenant, c.Index, err)
	}
	return nil
}

// recordFiles records the files a snapshot added and removed; a removed
// segment's deletion waits for the snapshots that still hold it to expire.
func recordFiles(ctx context.Context, conn *catConn, c SnapshotCommit) error {
	for _, f := range c.Added {
		if _, err := conn.ExecContext(ctx, `INSERT INTO iceberg_files VALUES (?,?,?,?,?,?,?,?)`, f.Path, c.Tenant, c.Index, f.Day, f.SnapshotID, f.Seq, f.Rows, f.Bytes); err != nil {
			return err
		}
	}
	for _, p := range c.Removed {
		if _, err := conn.ExecContext(ctx, `DELETE FROM iceberg_files WHERE path = ?`, p); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, `UPDATE segment_garbage SET delete_after = ? WHERE path = ? AND delete_after < ?`,
			c.DeleteAfter.UTC(), p, c.DeleteAfter.UTC()); err != nil {
			return err
		}
	}
	return nil
}

// DueIcebergGarbage lists the superseded metadata files (under the lake
// root) whose snapshots expired at now.
func (l *Catalog) DueIcebergGarbage(ctx context.Context, now time.Time) ([]string, error) {
	paths, err := queryStrings(ctx, l.db, `SELECT path FROM iceberg_garbage WHERE delete_after <= ?`, now.UTC())
	if err != nil {
		return nil, fmt.Errorf("lake: expired table metadata: %w", err)
	}
	return paths, nil
}

// ForgetIcebergGarbage drops a superseded metadata file once deleted.
func (l *Catalog) ForgetIcebergGarbage(ctx context.Context, path string) error {
	_, err := l.db.ExecContext(ctx, `DELETE FROM iceberg_garbage WHERE path = ?`, path)
	return err
}

// CurrentMetadata returns a table's current metadata file (under the lake
// root; "" before its first snapshot), as the catalog's pointer holds it
// now.
func (l *Catalog) CurrentMetadata(ctx context.Context, t TableRef) (string, error) {
	var m string
	err := l.db.QueryRowContext(ctx, `SELECT metadata FROM iceberg_tables WHERE tenant = ? AND idx = ?`, t.Tenant, t.Index).Scan(&m)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("lake: current metadata of table %s.%s: %w", t.Tenant, t.Index, err)
	}
	return m, nil
}

// IcebergTables lists the tables with a snapshot and their current
// metadata files (under the lake root).
func (l *Catalog) IcebergTables(ctx context.Context) (map[TableRef]string, error) {
	return l.pointers(ctx, `SELECT tenant, idx, metadata FROM iceberg_tables WHERE metadata <> ''`)
}

// IcebergKept is what the catalog still references in the tables'
// metadata folders (see IcebergKept).
type IcebergKept struct {
	// Current maps every table whose version was ever claimed (so whose
	// folder may hold files) to its current metadata file, "" before its
	// first snapshot.
	Current map[TableRef]string
	// Paths are the current snapshots' manifests and the superseded
	// files not deleted yet (under the lake root).
	Paths map[string]bool
}

// IcebergKept reads the tables' pointers and manifests, then the
// garbage: a snapshot committed between the reads moves files from the
// first two into the garbage, never back, so a file referenced at the
// first read is in one of them (read the other way round, a manifest the
// snapshot superseded would be in neither).
func (l *Catalog) IcebergKept(ctx context.Context) (IcebergKept, error) {
	k := IcebergKept{Paths: map[string]bool{}}
	var err error
	if k.Current, err = l.pointers(ctx, `SELECT tenant, idx, metadata FROM iceberg_tables`); err != nil {
		return k, err
	}
	for _, q := range []string{`SELECT path FROM iceberg_manifests`, `SELECT path FROM iceberg_garbage`} {
		paths, err := queryStrings(ctx, l.db, q)
		if err != nil {
			return k, fmt.Errorf("lake: tables' metadata in use: %w", err)
		}
		for _, p := range paths {
			k.Paths[p] = true
		}
	}
	return k, nil
}

// pointers reads tables and their metadata files (tenant, idx, metadata).
func (l *Catalog) pointers(ctx context.Context, q string) (map[TableRef]string, error) {
	rows, err := l.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("lake: tables: %w", err)
	}
	defer rows.Close()
	out := map[TableRef]string{}
	for rows.Next() {
		var t TableRef
		var m string
		if err := rows.Scan(&t.Tenant, &t.Index, &m); err != nil {
			return nil, fmt.Errorf("lake: tables: %w", err)
		}
		out[t] = m
	}
	return out, rows.Err()
}
