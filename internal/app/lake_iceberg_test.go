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
