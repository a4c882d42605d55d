package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/iceberg"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/testutil/pgserver"
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
