package app

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/iceberg"
	"github.com/trawlhq/trawl/internal/ingest"
	s3src "github.com/trawlhq/trawl/internal/source/s3"
	"github.com/trawlhq/trawl/internal/testutil/pgserver"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestSnapshotsAndExpiry: commits become an append snapshot naming exactly
// the registered segments; a compaction's is a replace; once the retention
// is over, the expired snapshots' files (metadata and retired segments)
// are deleted and the table's folder holds the current snapshot only.
func TestSnapshotsAndExpiry(t *testing.T) {
	l := openTest(t)
	l.snapshotRetention = 50 * time.Millisecond
	ctx := context.Background()
	for c := 0; c < 6; c++ {
		r := event("acme", int64(c), "E", "10.0.0.1", "")
		if err := l.Commit(ctx, ingest.RecordsBatch("c", ingest.ObjectState{Key: fmt.Sprint(c), Version: "e", Position: 1, Done: true}, r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	table := filepath.Join(l.Root(), "index=aws_events", "tenant=acme")
	m := currentMetadata(t, table)
	if op := m.Snapshots[len(m.Snapshots)-1].Summary; op["operation"] != "append" || op["total-records"] != "6" || op["total-data-files"] != "6" {
		t.Fatalf("after the commits: %v", op)
	}
	if _, err := l.Compact(ctx, CompactOptions{MinSegments: 4, Grace: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	m = currentMetadata(t, table)
	if op := m.Snapshots[len(m.Snapshots)-1].Summary; op["operation"] != "replace" || op["total-records"] != "6" || op["total-data-files"] != "1" || op["deleted-data-files"] != "6" {
		t.Fatalf("after the compaction: %v", op)
	}
	time.Sleep(100 * time.Millisecond)
	// Another commit supersedes the replace; then the garbage is due.
	r := event("acme", 99, "E", "10.0.0.2", "")
	if err := l.Commit(ctx, ingest.RecordsBatch("c", ingest.ObjectState{Key: "late", Version: "e", Position: 1, Done: true}, r)); err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := l.collectGarbage(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	var segs, meta []string
	filepath.WalkDir(table, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if strings.HasSuffix(p, ".parquet") {
				segs = append(segs, p)
			} else {
				meta = append(meta, filepath.Base(p))
			}
		}
		return nil
	})
	sort.Strings(meta)
	m = currentMetadata(t, table)
	// Kept: the merged segment and the late one; the current metadata file,
	// the hint, the current and the previous snapshot's manifest lists (the
	// previous is readable until the retention after now), and their
	// manifests.
	if len(segs) != 2 || len(m.Snapshots) > 2 {
		t.Errorf("after expiry: segments %v, snapshots %d", segs, len(m.Snapshots))
	}
	if n := len(meta); n > 6 {
		t.Errorf("after expiry the metadata folder holds %d files: %v", n, meta)
	}
}

func currentMetadata(t *testing.T, table string) *iceberg.Metadata {
	t.Helper()
	hint, err := os.ReadFile(filepath.Join(table, "metadata", "version-hint.text"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(table, "metadata", "v"+strings.TrimSpace(string(hint))+".metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m iceberg.Metadata
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// TestJDBCCatalogRows: with a PostgreSQL catalog, every snapshot also
// moves the table's row of Iceberg's JDBC catalog (iceberg.iceberg_tables,
// catalog "trawl") to the metadata file's URI, with the previous one; a
// row that is missing (a catalog from before the rows were kept) is
// written again when the lake opens.
func TestJDBCCatalogRows(t *testing.T) {
	srv := pgserver.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	opt := LakeOptions{Catalog: srv.Database(t), MemoryLimit: "256MB"}
	l, err := OpenLake(ctx, filepath.Join(dir, "trawl.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	commit := func(tenant, key string) {
		t.Helper()
		r := event(tenant, 1, "E", "10.0.0.1", "")
		if err := l.Commit(ctx, ingest.RecordsBatch("c", ingest.ObjectState{Key: key, Version: "e", Position: 1, Done: true}, r)); err != nil {
			t.Fatal(err)
		}
		if err := l.Publish(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string) []catalog.JDBCTable {
		t.Helper()
		rows, err := l.JDBCTables(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tables, err := l.IcebergTables(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(tables) {
			t.Fatalf("%s: JDBC rows %+v, tables %v", step, rows, tables)
		}
		for _, r := range rows {
			want := l.URI(tables[catalog.TableRef{Tenant: r.Namespace, Index: r.Name}])
			if r.Location != want || r.Type != "TABLE" {
				t.Fatalf("%s: JDBC row %+v, Trawl's pointer %s", step, r, want)
			}
		}
		return rows
	}
	commit("acme", "a1")
	commit("beta", "b1")
	first := check("first snapshots")
	if len(first) != 2 || first[0].Namespace != "acme" || first[0].Previous != "" || !strings.HasPrefix(first[0].Location, "file:///") {
		t.Fatalf("first snapshots: %+v", first)
	}
	commit("acme", "a2")
	second := check("second snapshot")
	if second[0].Previous != first[0].Location || second[0].Location == first[0].Location || second[1] != first[1] {
		t.Fatalf("second snapshot of acme: %+v after %+v", second, first)
	}
	db, err := sql.Open("pgx", opt.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ns int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM iceberg.iceberg_namespace_properties WHERE catalog_name = 'trawl' AND property_key = 'exists'`).Scan(&ns); err != nil || ns != 2 {
		t.Fatalf("namespace rows %d %v", ns, err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM iceberg.iceberg_tables`); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = OpenLake(ctx, filepath.Join(dir, "trawl.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if rows := check("reopened"); len(rows) != 2 {
		t.Fatalf("reopened: %+v", rows)
	}
}

// TestVersionHintConverges: two publishers of one table interleave as
// two nodes can: A reads the catalog's pointer (vN), B commits vN+1 and
// writes its hint, then A's write of N lands last. A reads the pointer
// again after its write and puts N+1 back: the hint ends naming the
// catalog's current metadata file, and a reader that follows it reads
// the current snapshot.
func TestVersionHintConverges(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	tbl := catalog.TableRef{Tenant: "acme", Index: "aws_events"}
	commit := func(key string) {
		t.Helper()
		r := event("acme", 1, "E", "10.0.0.1", "")
		if err := l.Commit(ctx, ingest.RecordsBatch("c", ingest.ObjectState{Key: key, Version: "e", Position: 1, Done: true}, r)); err != nil {
			t.Fatal(err)
		}
		if err := l.Publish(ctx); err != nil {
			t.Fatal(err)
		}
	}
	commit("a")
	before, err := l.CurrentMetadata(ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	var writes []string
	err = l.convergeHint(ctx, tbl, func(version string) error {
		writes = append(writes, version)
		if len(writes) == 1 {
			commit("b") // node B: a snapshot and its hint, between A's read and A's write
		}
		return l.putVersionHint(ctx, tbl, version)
	})
	if err != nil {
		t.Fatal(err)
	}
	after, err := l.CurrentMetadata(ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	stale, _ := metadataVersion(before)
	current, _ := metadataVersion(after)
	if stale == current || len(writes) != 2 || writes[0] != stale || writes[1] != current {
		t.Fatalf("pointer %s then %s; A wrote %v", before, after, writes)
	}
	hint, err := os.ReadFile(filepath.Join(l.Root(), filepath.FromSlash(versionHint(tbl))))
	if err != nil || string(hint) != current {
		t.Fatalf("version hint %q (%v), the catalog's pointer %s", hint, err, after)
	}
	m := currentMetadata(t, filepath.Join(l.Root(), tableDir(tbl)))
	if m.Snapshots[len(m.Snapshots)-1].Summary["total-records"] != "2" {
		t.Fatalf("the hint's metadata holds %v, want B's snapshot of 2 records", m.Snapshots[len(m.Snapshots)-1].Summary)
	}
}

// TestMetadataVersion: the hint is named from the metadata file.
func TestMetadataVersion(t *testing.T) {
	for in, want := range map[string]string{"index=a/tenant=b/metadata/v12.metadata.json": "12", "v1.metadata.json": "1",
		"index=a/tenant=b/metadata/v0.metadata.json": "", "x/12.metadata.json": "", "x/v12.json": "", "x/vx.metadata.json": "", "": ""} {
		if got, ok := metadataVersion(in); got != want || ok != (want != "") {
			t.Errorf("metadataVersion(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

// TestSweepOrphanMetadata: the files a crash left in a table's metadata
// folder between writing a snapshot and committing it (a claimed
// vN.metadata.json, a manifest list, a manifest) are deleted by the
// running sweep once older than its grace, in a local lake and in an S3
// lake; every file the catalog references stays (the current metadata
// file, its snapshots' manifest lists, the current manifests, the
// superseded files pending deletion, the hint), the table still loads and
// publishes. At open the sweep deletes old orphans too, never young ones.
func TestSweepOrphanMetadata(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		opt := testOptions(t, LakeOptions{MemoryLimit: "256MB"})
		l, err := OpenLake(context.Background(), filepath.Join(t.TempDir(), "trawl.db"), opt)
		if err != nil {
			t.Fatal(err)
		}
		checkOrphanSweep(t, l, nil)
		checkOrphanSweepAtOpen(t, l, opt)
	})
	t.Run("s3", func(t *testing.T) {
		srv := s3server.Start(t)
		srv.Fill(t, "lake", nil)
		t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
		ctx := context.Background()
		st, err := s3src.NewLakeStore(ctx, s3src.LakeConfig{Location: "s3://lake/p", Endpoint: srv.Endpoint, PathStyle: true})
		if err != nil {
			t.Fatal(err)
		}
		l, err := OpenLake(ctx, filepath.Join(t.TempDir(), "trawl.db"), testOptions(t, LakeOptions{MemoryLimit: "256MB", Store: st}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		checkOrphanSweep(t, l, st)
	})
}

// orphanTable is the table TestSweepOrphanMetadata publishes.
func orphanTable() catalog.TableRef { return catalog.TableRef{Tenant: "acme", Index: "aws_events"} }

// checkOrphanSweep runs the running sweep's part of
// TestSweepOrphanMetadata on l (st: its store, or nil).
func checkOrphanSweep(t *testing.T, l *Lake, st *s3src.LakeStore) {
	ctx := context.Background()
	for i := range 3 {
		commitAndPublish(t, l, fmt.Sprint("k", i))
	}
	referenced := metadataFolder(t, l, st)
	orphans := writeOrphans(t, l)
	l.swept = time.Time{}
	if err := l.sweepWhileRunning(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := metadataFolder(t, l, st); len(got) != len(referenced)+len(orphans) {
		t.Fatalf("young orphans were swept (a publish in flight holds such files): %v, orphans %v", got, orphans)
	}
	// Two graces on: every file is old.
	l.swept = time.Time{}
	if err := l.sweepWhileRunning(ctx, time.Now().Add(2*runningSweepGrace)); err != nil {
		t.Fatal(err)
	}
	if got := metadataFolder(t, l, st); !slices.Equal(got, referenced) {
		t.Fatalf("after the sweep the metadata folder holds\n%v\nwant what the catalog references\n%v", got, referenced)
	}
	checkTableLoads(t, l)
	commitAndPublish(t, l, "after")
	checkTableLoads(t, l)
}

// checkOrphanSweepAtOpen: an orphan older than the grace is deleted when
// the lake opens, a young one stays.
func checkOrphanSweepAtOpen(t *testing.T, l *Lake, opt LakeOptions) {
	ctx := context.Background()
	orphans := writeOrphans(t, l)
	old := time.Now().Add(-2 * runningSweepGrace)
	for _, p := range orphans[:2] {
		if err := os.Chtimes(filepath.Join(l.Root(), filepath.FromSlash(p)), old, old); err != nil {
			t.Fatal(err)
		}
	}
	path := l.Path()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := OpenLake(ctx, path, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i, p := range orphans {
		_, err := os.Stat(filepath.Join(l.Root(), filepath.FromSlash(p)))
		if gone := errors.Is(err, fs.ErrNotExist); gone != (i < 2) {
			t.Errorf("at open, orphan %s (old: %v): gone %v", p, i < 2, gone)
		}
	}
	checkTableLoads(t, l)
}

func commitAndPublish(t *testing.T, l *Lake, key string) {
	t.Helper()
	ctx := context.Background()
	r := event(orphanTable().Tenant, 1, "E", "10.0.0.1", "")
	if err := l.Commit(ctx, ingest.RecordsBatch("c", ingest.ObjectState{Key: key, Version: "e", Position: 1, Done: true}, r)); err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
}

// writeOrphans writes what a publish that crashed before its commit
// leaves: a manifest, a manifest list and the metadata file of a claimed
// version (one past the current, as a Hadoop reader probes), through the
// lake (so in its store too).
func writeOrphans(t *testing.T, l *Lake) []string {
	t.Helper()
	ctx := context.Background()
	version, current, manifests, err := l.ClaimVersion(ctx, orphanTable())
	if err != nil || current == "" || len(manifests) == 0 {
		t.Fatalf("claim: %v %q %v", err, current, manifests)
	}
	dir := tableDir(orphanTable()) + "/metadata/"
	id := snapshotID()
	files := map[string]string{
		fmt.Sprintf("%s%d-m-2024-05-01.avro", dir, id):   manifests[0].Path,
		fmt.Sprintf("%ssnap-%d.avro", dir, id):           manifests[0].Path,
		fmt.Sprintf("%sv%d.metadata.json", dir, version): current,
	}
	var out []string
	for rel, from := range files {
		data, err := l.ReadFile(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.PutFile(ctx, rel, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			t.Fatal(err)
		}
		out = append(out, rel)
	}
	sort.Strings(out)
	return out
}

// metadataFolder lists the table's metadata folder, here and (st) in the
// store, which must agree.
func metadataFolder(t *testing.T, l *Lake, st *s3src.LakeStore) []string {
	t.Helper()
	dir := tableDir(orphanTable()) + "/metadata/"
	entries, err := os.ReadDir(filepath.Join(l.Root(), filepath.FromSlash(dir)))
	if err != nil {
		t.Fatal(err)
	}
	var local []string
	for _, e := range entries {
		local = append(local, dir+e.Name())
	}
	if st == nil {
		return local
	}
	var stored []string
	if err := st.List(context.Background(), dir, func(key string, _ time.Time) error { stored = append(stored, key); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(stored)
	if !slices.Equal(local, stored) {
		t.Fatalf("the metadata folder holds %v here and %v in the store", local, stored)
	}
	return stored
}

// checkTableLoads reads the table as a reader of its current metadata
// does: every snapshot's manifest list, and every manifest each names
// (the lists are Avro without compression, so the manifests' URIs are in
// them as written), all present and Avro; the hint names the current
// metadata file.
func checkTableLoads(t *testing.T, l *Lake) {
	t.Helper()
	ctx := context.Background()
	current, err := l.CurrentMetadata(ctx, orphanTable())
	if err != nil {
		t.Fatal(err)
	}
	data, err := l.ReadFile(ctx, current)
	if err != nil {
		t.Fatalf("current metadata %s: %v", current, err)
	}
	m, err := iceberg.ParseMetadata(data)
	if err != nil || len(m.Snapshots) == 0 {
		t.Fatalf("current metadata %s: %v, %d snapshots", current, err, len(m.Snapshots))
	}
	manifestURI := regexp.MustCompile(regexp.QuoteMeta(l.URI(tableDir(orphanTable())+"/metadata/")) + `[0-9]+-m-[0-9-]+\.avro`)
	for _, s := range m.Snapshots {
		list := readAvro(t, l, s.ManifestList)
		uris := manifestURI.FindAll(list, -1)
		if len(uris) == 0 {
			t.Errorf("manifest list %s names no manifest", s.ManifestList)
		}
		for _, u := range uris {
			readAvro(t, l, string(u))
		}
	}
	hint, err := l.ReadFile(ctx, versionHint(orphanTable()))
	if v, _ := metadataVersion(current); err != nil || string(hint) != v {
		t.Errorf("version hint %q (%v), current metadata %s", hint, err, current)
	}
}

func readAvro(t *testing.T, l *Lake, uri string) []byte {
	t.Helper()
	rel, ok := l.Rel(uri)
	if !ok {
		t.Fatalf("%s is not in the lake", uri)
	}
	data, err := l.ReadFile(context.Background(), rel)
	if err != nil || !bytes.HasPrefix(data, []byte("Obj\x01")) {
		t.Fatalf("%s: %v (%d bytes)", rel, err, len(data))
	}
	return data
}
