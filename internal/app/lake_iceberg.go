package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/iceberg"
	"github.com/trawlhq/trawl/internal/interflow"
)

// The lake as Apache Iceberg tables, one per tenant and index, at
// index=…/tenant=…/ under the lake root (the segments' folders): a
// tenant's table names only its files, so a tenant's catalog access or a
// storage policy on its prefix shows nothing of another's. A commit queues
// the days it changed in its own catalog transaction; Publish writes the
// snapshot of what the catalog registers for those days and moves the
// table's pointer, batching the commits until they pause for a second (at
// most 10 s) into one snapshot (a snapshot costs a few small files and
// three catalog transactions, never the commit's).

// DefaultSnapshotRetention is how long a superseded snapshot stays
// readable (with its files): longer than any query an engine runs.
const DefaultSnapshotRetention = time.Hour

// A snapshot waits for the commits to pause (publishQuiet), at most
// publishMaxDelay after the first it covers: a busy lake makes a snapshot
// every publishMaxDelay, not one a commit, so ingest does not share the
// cores with snapshot writing (measured: one a second cost about 10% of
// `make bench`'s ingest; one per 10 s is within its noise).
const (
	publishQuiet    = time.Second
	publishMaxDelay = 10 * time.Second
)

func tableDir(t catalog.TableRef) string { return "index=" + t.Index + "/tenant=" + t.Tenant }

// Publish writes the snapshots the queue holds: after it returns (nil),
// every table's current snapshot holds exactly the segments the catalog
// registered before it began.
func (l *Lake) Publish(ctx context.Context) error {
	l.publishMu.Lock()
	defer l.publishMu.Unlock()
	tables, err := l.QueuedTables(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range tables {
		err := l.publishTable(ctx, t)
		for try := 0; errors.Is(err, catalog.ErrMoved) && try < 3; try++ {
			err = l.publishTable(ctx, t)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// snapshotBuild is a snapshot being written.
type snapshotBuild struct {
	catalog.SnapshotCommit
	snap    iceberg.Snapshot
	schema  *interflow.Schema
	table   iceberg.Schema // the table's schema for it (a new one when fields were added)
	written []string       // files written, deleted if the commit fails
	stats   map[string]int64
}

// publishTable writes one table's snapshot of the queued days and commits it.
func (l *Lake) publishTable(ctx context.Context, t catalog.TableRef) error {
	schema := interflow.SchemaFor(t.Index)
	if schema == nil {
		return fmt.Errorf("lake: table %q.%q: no such index", t.Tenant, t.Index)
	}
	version, current, manifests, err := l.ClaimVersion(ctx, t)
	if err != nil {
		return err
	}
	changes, err := l.QueuedChanges(ctx, t)
	if err != nil {
		return err
	}
	prev, err := l.tableMetadata(ctx, t, schema, current)
	if err != nil {
		return err
	}
	now := time.Now()
	b := &snapshotBuild{schema: schema, table: prev.Evolve(schema), stats: map[string]int64{}}
	b.TableRef, b.From, b.To = t, current, current
	b.DeleteAfter = now.Add(l.snapshotRetention)
	b.snap = iceberg.Snapshot{SnapshotID: snapshotID(), SequenceNumber: prev.LastSequenceNumber + 1, TimestampMS: now.UnixMilli(), SchemaID: b.table.SchemaID}
	if prev.CurrentSnapshotID > 0 {
		b.snap.ParentID = prev.CurrentSnapshotID
	}
	b.Served = changes.Served
	err = l.buildSnapshot(ctx, b, changes, manifests)
	if err == nil && len(b.Days) > 0 {
		err = l.writeSnapshot(ctx, b, prev, version, manifests)
	}
	if err == nil {
		err = l.CommitSnapshot(ctx, b.SnapshotCommit)
	}
	if err != nil {
		if errors.Is(err, catalog.ErrMoved) {
			for _, p := range b.written {
				_ = l.RemoveFile(ctx, p)
			}
		}
		return err
	}
	if b.To != b.From {
		return l.writeVersionHint(ctx, t)
	}
	return nil
}

// tableMetadata reads a table's current metadata, or makes an empty
// table's.
func (l *Lake) tableMetadata(ctx context.Context, t catalog.TableRef, schema *interflow.Schema, current string) (*iceberg.Metadata, error) {
	if current == "" {
		return iceberg.NewMetadata(schema, l.URI(tableDir(t)), newUUID(), time.Now()), nil
	}
	data, err := l.ReadFile(ctx, current)
	if err != nil {
		return nil, fmt.Errorf("lake: table %s.%s: %w", t.Tenant, t.Index, err)
	}
	return iceberg.ParseMetadata(data)
}

// buildSnapshot writes a manifest for each queued day whose files
// changed: the day's registered segments, as existing (with the snapshot
// and sequence number that added them) or added, and the files dropped
// since, as deleted.
func (l *Lake) buildSnapshot(ctx context.Context, b *snapshotBuild, changes catalog.TableChanges, manifests []catalog.ManifestRow) error {
	b.Days = map[time.Time]*catalog.ManifestRow{}
	old := map[time.Time]catalog.ManifestRow{}
	for _, m := range manifests {
		old[m.Day] = m
	}
	for _, day := range changes.Days {
		files, changed, err := l.dayFiles(ctx, b, day, changes.Live[day])
		if err != nil {
			return err
		}
		if !changed {
			continue
		}
		if m, ok := old[day]; ok {
			b.Garbage = append(b.Garbage, m.Path)
		}
		if len(files) == 0 {
			b.Days[day] = nil
			continue
		}
		m, err := l.writeManifest(ctx, b, day, files)
		if err != nil {
			return err
		}
		b.Days[day] = m
	}
	return nil
}

// dayFiles compares a day's registered segments with the files of the
// current snapshot: the manifest entries of the day's new manifest, and
// whether anything changed.
func (l *Lake) dayFiles(ctx context.Context, b *snapshotBuild, day time.Time, segs []catalog.Segment) ([]iceberg.DataFile, bool, error) {
	published, err := l.PublishedFiles(ctx, b.TableRef, day)
	if err != nil {
		return nil, false, err
	}
	was := map[string]catalog.PublishedFile{}
	for _, f := range published {
		was[f.Path] = f
	}
	var files []iceberg.DataFile
	changed := false
	for _, s := range segs {
		p := filepath.ToSlash(s.Path)
		f := iceberg.DataFile{Path: l.URI(p), Tenant: b.Tenant, Index: b.Index, Day: day, Records: s.Rows, Bytes: s.Bytes}
		if pf, ok := was[p]; ok {
			f.Status, f.SnapshotID, f.SequenceNumber = iceberg.Existing, pf.SnapshotID, pf.Seq
			delete(was, p)
		} else {
			f.Status, f.SnapshotID, f.SequenceNumber = iceberg.Added, b.snap.SnapshotID, b.snap.SequenceNumber
			b.Added = append(b.Added, catalog.PublishedFile{Path: p, Day: day, SnapshotID: f.SnapshotID, Seq: f.SequenceNumber, Rows: s.Rows, Bytes: s.Bytes})
			b.stats["added-data-files"]++
			b.stats["added-records"] += s.Rows
			changed = true
		}
		files = append(files, f)
	}
	for p, pf := range was {
		files = append(files, iceberg.DataFile{Status: iceberg.Deleted, SnapshotID: b.snap.SnapshotID, SequenceNumber: pf.Seq, Path: l.URI(p),
			Tenant: b.Tenant, Index: b.Index, Day: day, Records: pf.Rows, Bytes: pf.Bytes})
		b.Removed = append(b.Removed, p)
		b.stats["deleted-data-files"]++
		b.stats["deleted-records"] += pf.Rows
		changed = true
	}
	return files, changed, nil
}

// writeManifest writes a day's manifest under the table's metadata folder.
func (l *Lake) writeManifest(ctx context.Context, b *snapshotBuild, day time.Time, files []iceberg.DataFile) (*catalog.ManifestRow, error) {
	rel := fmt.Sprintf("%s/metadata/%d-m-%s.avro", tableDir(b.TableRef), b.snap.SnapshotID, day.Format("2006-01-02"))
	var mf iceberg.ManifestFile
	var n int64
	err := l.PutFile(ctx, rel, func(w io.Writer) error {
		cw := &byteCounter{w: w}
		var err error
		mf, err = iceberg.WriteManifest(cw, b.table, iceberg.Spec(b.schema), files)
		n = cw.n
		return err
	})
	if err != nil {
		return nil, err
	}
	b.written = append(b.written, rel)
	return &catalog.ManifestRow{Day: day, Path: rel, Length: n, SnapshotID: b.snap.SnapshotID, Seq: b.snap.SequenceNumber, MinSeq: max(mf.MinSequence, 0),
		AddedFiles: mf.AddedFiles, ExistingFiles: mf.ExistingFiles, DeletedFiles: mf.DeletedFiles,
		AddedRows: mf.AddedRows, ExistingRows: mf.ExistingRows, DeletedRows: mf.DeletedRows}, nil
}

type byteCounter struct {
	w io.Writer
	n int64
}

func (c *byteCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeSnapshot writes the manifest list (the days' manifests, new and
// kept) and the metadata file of version, whose name no other attempt
// uses; the previous metadata file and manifest list become garbage once
// the retention is over.
func (l *Lake) writeSnapshot(ctx context.Context, b *snapshotBuild, prev *iceberg.Metadata, version int64, manifests []catalog.ManifestRow) error {
	var list []iceberg.ManifestFile
	var files, rows int64
	add := func(m catalog.ManifestRow) {
		list = append(list, iceberg.ManifestFile{Path: l.URI(m.Path), Length: m.Length, SequenceNumber: m.Seq, MinSequence: m.MinSeq, SnapshotID: m.SnapshotID,
			AddedFiles: m.AddedFiles, ExistingFiles: m.ExistingFiles, DeletedFiles: m.DeletedFiles,
			AddedRows: m.AddedRows, ExistingRows: m.ExistingRows, DeletedRows: m.DeletedRows})
		files += int64(m.AddedFiles + m.ExistingFiles)
		rows += m.AddedRows + m.ExistingRows
	}
	for _, m := range manifests {
		if _, rewritten := b.Days[m.Day]; !rewritten {
			add(m)
		}
	}
	for _, m := range b.Days {
		if m != nil {
			add(*m)
		}
	}
	slices.SortFunc(list, func(a, c iceberg.ManifestFile) int { return cmpString(a.Path, c.Path) })
	dir := tableDir(b.TableRef) + "/metadata/"
	listRel := fmt.Sprintf("%ssnap-%d.avro", dir, b.snap.SnapshotID)
	if err := l.PutFile(ctx, listRel, func(w io.Writer) error { return iceberg.WriteManifestList(w, b.snap, list) }); err != nil {
		return err
	}
	b.written = append(b.written, listRel)
	b.snap.ManifestList = l.URI(listRel)
	b.snap.Summary = b.summary(files, rows)
	prevURI := ""
	if b.From != "" {
		prevURI = l.URI(b.From)
		b.Garbage = append(b.Garbage, b.From)
		for _, s := range prev.Snapshots {
			if rel, ok := l.Rel(s.ManifestList); ok && s.SnapshotID == prev.CurrentSnapshotID {
				b.Garbage = append(b.Garbage, rel)
			}
		}
	}
	next := prev.Commit(b.table, b.snap, prevURI, l.snapshotRetention)
	data, err := json.MarshalIndent(next, "", " ")
	if err != nil {
		return fmt.Errorf("lake: table %s.%s: %w", b.Tenant, b.Index, err)
	}
	b.To = fmt.Sprintf("%sv%d.metadata.json", dir, version)
	b.FromLocation, b.ToLocation = prevURI, l.URI(b.To)
	if err := l.PutFile(ctx, b.To, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return err
	}
	b.written = append(b.written, b.To)
	return nil
}

// summary is the snapshot's summary: its operation (append when it only
// adds, replace when it swaps files holding the same records, as a
// compaction does, delete or overwrite otherwise) and its counts.
func (b *snapshotBuild) summary(files, rows int64) map[string]string {
	op := "overwrite"
	switch {
	case b.stats["deleted-data-files"] == 0:
		op = "append"
	case b.stats["added-data-files"] == 0:
		op = "delete"
	case b.stats["added-records"] == b.stats["deleted-records"]:
		op = "replace"
	}
	s := map[string]string{"operation": op, "total-data-files": strconv.FormatInt(files, 10), "total-records": strconv.FormatInt(rows, 10),
		"total-delete-files": "0", "total-position-deletes": "0", "total-equality-deletes": "0"}
	for k, v := range b.stats {
		s[k] = strconv.FormatInt(v, 10)
	}
	return s
}

// writeVersionHint points readers that find a table by its folder (a
// Hadoop catalog such as DuckDB's iceberg_scan, icebird) at the version
// the catalog now holds. The catalog's pointer is the truth: a hint a
// crash left behind is rewritten by the next snapshot.
func (l *Lake) writeVersionHint(ctx context.Context, t catalog.TableRef) error {
	return l.convergeHint(ctx, t, func(version string) error { return l.putVersionHint(ctx, t, version) })
}

// versionHint is a table's version hint file, under the lake root.
func versionHint(t catalog.TableRef) string { return tableDir(t) + "/metadata/version-hint.text" }

// putVersionHint writes a table's version hint.
func (l *Lake) putVersionHint(ctx context.Context, t catalog.TableRef, version string) error {
	return l.PutFile(ctx, versionHint(t), func(w io.Writer) error {
		_, err := io.WriteString(w, version)
		return err
	})
}

// maxHintWrites bounds convergeHint: past it, the pointer is moving on
// every try, so other publishers are writing the hint after their own
// moves, each converging in turn.
const maxHintWrites = 5

// convergeHint writes the version of the table's current metadata file
// as the catalog names it (write), then reads the pointer again and
// writes again until what was written is still current. With several
// nodes publishing one table, node A may read the pointer at vN, node B
// move it to vN+1 and write its hint, and A's write of N then land last:
// A's second read sees N+1 and puts it back. The last writer of the hint
// always reads the pointer after its write, so the hint ends as the
// pointer is.
func (l *Lake) convergeHint(ctx context.Context, t catalog.TableRef, write func(version string) error) error {
	written := ""
	for range maxHintWrites {
		current, err := l.CurrentMetadata(ctx, t)
		if err != nil {
			return err
		}
		version, ok := metadataVersion(current)
		if !ok {
			return fmt.Errorf("lake: table %s.%s: version hint: the current metadata file %q is not named vN.metadata.json", t.Tenant, t.Index, current)
		}
		if version == written {
			return nil
		}
		if err := write(version); err != nil {
			return fmt.Errorf("lake: table %s.%s: version hint: %w", t.Tenant, t.Index, err)
		}
		written = version
	}
	return nil
}

// metadataVersion is N of a metadata file named vN.metadata.json (the
// names writeSnapshot gives), as a version hint holds it.
func metadataVersion(rel string) (string, bool) {
	name := path.Base(rel)
	n, ok := strings.CutSuffix(strings.TrimPrefix(name, "v"), ".metadata.json")
	if !ok || !strings.HasPrefix(name, "v") {
		return "", false
	}
	if v, err := strconv.ParseInt(n, 10, 64); err != nil || v < 1 {
		return "", false
	}
	return n, true
}

// snapshotID is a random positive 63-bit id, as Iceberg's.
func snapshotID() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:])>>1) | 1
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func cmpString(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) }

// startPublisher runs the publisher: a snapshot at start (what a crash
// left queued), then one after commits (see publishQuiet), and a retry
// every minute after a failure.
func (l *Lake) startPublisher() {
	ctx, cancel := context.WithCancel(context.Background())
	l.stopPublisher, l.publisherDone = cancel, make(chan struct{})
	go func() {
		defer close(l.publisherDone)
		retry := time.NewTicker(time.Minute)
		defer retry.Stop()
		for {
			_ = l.Publish(ctx) // a failure stays queued: retried below
			select {
			case <-ctx.Done():
				return
			case <-l.publishWake:
				if !l.waitForPause(ctx) {
					return
				}
			case <-retry.C:
			}
		}
	}()
}

// waitForPause waits until no commit came for publishQuiet, or
// publishMaxDelay passed; false when ctx ended.
func (l *Lake) waitForPause(ctx context.Context) bool {
	deadline := time.NewTimer(publishMaxDelay)
	defer deadline.Stop()
	for {
		quiet := time.NewTimer(publishQuiet)
		select {
		case <-ctx.Done():
			quiet.Stop()
			return false
		case <-deadline.C:
			quiet.Stop()
			return true
		case <-quiet.C:
			return true
		case <-l.publishWake:
			quiet.Stop()
		}
	}
}

// wakePublisher signals the publisher without waiting.
func (l *Lake) wakePublisher() {
	select {
	case l.publishWake <- struct{}{}:
	default:
	}
}

// stopPublishing stops the publisher, then publishes what is queued.
func (l *Lake) stopPublishing() error {
	if l.stopPublisher != nil { // (none with PublishAtClose)
		l.stopPublisher()
		<-l.publisherDone
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return l.Publish(ctx)
}
