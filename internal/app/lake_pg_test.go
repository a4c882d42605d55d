package app

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/segment"
	"github.com/trawlhq/trawl/internal/testutil/pgserver"
)

// With TRAWL_TEST_CATALOG=postgres, every test of this package that opens
// a lake through testOptions keeps its catalog in a fresh database of a
// throw-away PostgreSQL cluster (make test runs the package once so).
var pgTest struct {
	srv *pgserver.Server
	err error
}

func TestMain(m *testing.M) {
	if os.Getenv("TRAWL_TEST_CATALOG") == "postgres" {
		pgTest.srv, pgTest.err = pgserver.New()
	}
	code := m.Run()
	if pgTest.srv != nil {
		pgTest.srv.Stop()
	}
	os.Exit(code)
}

// testOptions are a test lake's options: the embedded catalog, or a new
// PostgreSQL database under TRAWL_TEST_CATALOG=postgres.
func testOptions(t testing.TB, opt LakeOptions) LakeOptions {
	t.Helper()
	if os.Getenv("TRAWL_TEST_CATALOG") != "postgres" {
		return opt
	}
	if pgTest.err != nil {
		t.Fatalf("TRAWL_TEST_CATALOG=postgres: %v", pgTest.err)
	}
	opt.Catalog = pgTest.srv.Database(t)
	return opt
}

// TestCatalogOnPostgres: a lake whose catalog is PostgreSQL commits,
// checkpoints, searches, quarantines, compacts and reopens like the
// embedded one; a wrong URL or an unreachable server is a clear error.
func TestCatalogOnPostgres(t *testing.T) {
	srv := pgserver.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	opt := LakeOptions{Catalog: srv.Database(t), MemoryLimit: "256MB"}
	l, err := OpenLake(ctx, filepath.Join(dir, "trawl.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "trawl.db")); err == nil {
		t.Error("a DuckDB catalog file was created beside a PostgreSQL catalog")
	}
	if _, err := OpenLake(ctx, filepath.Join(dir, "trawl.db"), opt); err == nil || !strings.Contains(err.Error(), ErrLocked.Error()) {
		t.Errorf("a second process on the same data directory: %v", err)
	}
	var recs []*interflow.Record
	for i := range 50 {
		recs = append(recs, event("acme", int64(i), fmt.Sprintf("Event%d", i%5), "10.0.0.1", ""))
	}
	b := ingest.RecordsBatch("c1", ingest.ObjectState{Key: "k-acme", Version: "e", Position: 50, Done: true, Records: 50, LastModified: base}, recs...)
	b.Quarantine = []ingest.QuarantineItem{{Tenant: "acme", ConnectorID: "c1", Connector: "one", Key: "k-acme", Scope: "record", Position: 3, Reason: "bad", Raw: []byte{0xff, 0, 'x'}}}
	if err := l.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	states, err := l.ObjectStates(ctx, "c1")
	if err != nil || states["k-acme"].Position != 50 || !states["k-acme"].Done {
		t.Fatalf("checkpoints %+v %v", states, err)
	}
	n, err := l.Count(ctx, segment.SearchRequest{Indices: []string{"aws_events"}, Tenants: []string{"acme"}, From: base.Add(-time.Hour), To: base.Add(48 * time.Hour)})
	if err != nil || n != 50 {
		t.Fatalf("count %d %v", n, err)
	}
	q, err := l.Quarantine(ctx, catalog.QuarantineFilter{Tenants: []string{"acme"}})
	if err != nil || len(q) != 1 || string(q[0].Raw) != "\xff\x00x" {
		t.Fatalf("quarantine %+v %v", q, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = OpenLake(ctx, filepath.Join(dir, "trawl.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n, err := l.Count(ctx, segment.SearchRequest{Indices: []string{"aws_events"}, From: base.Add(-time.Hour), To: base.Add(48 * time.Hour)}); err != nil || n != 50 {
		t.Fatalf("after reopening: count %d %v", n, err)
	}
	for _, bad := range []string{"mysql://x", "postgres://trawl@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"} {
		if _, err := OpenLake(ctx, filepath.Join(t.TempDir(), "trawl.db"), LakeOptions{Catalog: bad}); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("catalog %s: %v", bad, err)
		}
	}
}

// TestCatalogMigrate: `catalog migrate` copies every table of an embedded
// catalog into an empty PostgreSQL database, sets the embedded file aside,
// and the data directory then opens with the new catalog only; a database
// that already holds a catalog is refused, and so is a PostgreSQL catalog
// that would adopt a data directory with an embedded one (its sweep would
// delete the segments it does not know).
func TestCatalogMigrate(t *testing.T) {
	srv := pgserver.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "trawl.db")
	l, err := OpenLake(ctx, path, LakeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, l)
	if err := l.SetMeta(ctx, "probe", "kept"); err != nil {
		t.Fatal(err)
	}
	segs, _ := l.SegmentCount(ctx, "")
	l.Close()
	all := segment.SearchRequest{From: base.Add(-time.Hour), To: base.Add(time.Hour)}

	fresh := srv.Database(t)
	if _, err := OpenLake(ctx, path, LakeOptions{Catalog: fresh}); err == nil || !strings.Contains(err.Error(), "catalog migrate") {
		t.Fatalf("a PostgreSQL catalog adopted a data directory with an embedded one: %v", err)
	}
	rep, err := migrateCatalog(ctx, path, fresh, LakeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tables["segments"] != int64(segs) || rep.Tables["objects"] != 3 || rep.Tables["meta"] < 2 {
		t.Errorf("copied %v (segments %d)", rep.Tables, segs)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("the embedded catalog was left in place")
	}
	if _, err := os.Stat(rep.Backup); err != nil {
		t.Errorf("backup %s: %v", rep.Backup, err)
	}
	l, err = OpenLake(ctx, path, LakeOptions{Catalog: fresh})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.Count(ctx, all); err != nil || n != 8 {
		t.Errorf("after migration: %d records, %v", n, err)
	}
	if v, _ := l.Meta(ctx, "probe"); v != "kept" {
		t.Errorf("meta after migration: %q", v)
	}
	if st, err := l.ObjectStates(ctx, "c1"); err != nil || st["k-acme"].Position != 4 {
		t.Errorf("checkpoints after migration: %+v %v", st, err)
	}
	l.Close()
	if _, err := OpenLake(ctx, path, LakeOptions{}); err == nil || !strings.Contains(err.Error(), "belongs to catalog") {
		t.Errorf("the data directory opened without its catalog: %v", err)
	}
	if _, err := migrateCatalog(ctx, rep.Backup, fresh, LakeOptions{}); err == nil || !strings.Contains(err.Error(), "already holds a catalog") {
		t.Errorf("migrating into a used database: %v", err)
	}
}

// BenchmarkCatalogCommit: small commits (a 10-record segment, its object's
// checkpoint, one transaction) against each catalog, to show the commits
// a second a catalog sustains; PostgreSQL's with the durability of the
// throw-away test cluster (fsync off), so it bounds the catalog's work,
// not a disk's.
//
// The -parallel variants commit from 8 goroutines at once, as a node's
// workers do: segment files are written and synced side by side and only
// the catalog transactions queue, so they show what the catalog itself
// sustains.
func BenchmarkCatalogCommit(b *testing.B) {
	for _, name := range []string{"embedded", "postgres", "embedded-parallel", "postgres-parallel"} {
		b.Run(name, func(b *testing.B) {
			opt := LakeOptions{}
			if strings.HasPrefix(name, "postgres") {
				opt.Catalog = pgserver.Start(b).Database(b)
			}
			l, err := OpenLake(context.Background(), filepath.Join(b.TempDir(), "trawl.db"), opt)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			recs := make([]*interflow.Record, 10)
			for i := range recs {
				recs[i] = event("acme", int64(i), "GetObject", "10.0.0.1", "")
			}
			b.ReportAllocs()
			b.ResetTimer()
			if !strings.HasSuffix(name, "parallel") {
				for i := 0; i < b.N; i++ {
					err := l.Commit(context.Background(), ingest.RecordsBatch("c", ingest.ObjectState{Key: fmt.Sprintf("k%d", i), Version: "e", Position: 10, Done: true}, recs...))
					if err != nil {
						b.Fatal(err)
					}
				}
			} else {
				var next atomic.Int64
				b.SetParallelism(4) // 8 committers on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := next.Add(1)
						err := l.Commit(context.Background(), ingest.RecordsBatch("c", ingest.ObjectState{Key: fmt.Sprintf("k%d", i), Version: "e", Position: 10, Done: true}, recs...))
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}

// tablesIn counts the tables of a PostgreSQL database.
func tablesIn(t *testing.T, url string) int {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRefusedCatalogChangesNothing: a data directory bound to a catalog
// and opened with another one is refused before anything is created: no
// empty trawl.db beside a migrated catalog, no tables in another, empty
// PostgreSQL database, and no tables in an empty one offered a directory
// that still has its embedded catalog.
func TestRefusedCatalogChangesNothing(t *testing.T) {
	srv := pgserver.Start(t)
	ctx := context.Background()
	embedded := filepath.Join(t.TempDir(), "trawl.db")
	l, err := OpenLake(ctx, embedded, LakeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	other := srv.Database(t)
	if _, err := OpenLake(ctx, embedded, LakeOptions{Catalog: other}); err == nil || !strings.Contains(err.Error(), "catalog migrate") {
		t.Fatalf("a PostgreSQL catalog adopted a data directory with an embedded one: %v", err)
	}
	if n := tablesIn(t, other); n != 0 {
		t.Errorf("the refused PostgreSQL database holds %d tables, want none", n)
	}

	first := srv.Database(t)
	if _, err := migrateCatalog(ctx, embedded, first, LakeOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLake(ctx, embedded, LakeOptions{}); err == nil || !strings.Contains(err.Error(), "--catalog URL") {
		t.Errorf("opened without its migrated catalog: %v", err)
	}
	if _, err := os.Stat(embedded); err == nil {
		t.Errorf("a refused open left a new %s", embedded)
	}
	if _, err := OpenLake(ctx, embedded, LakeOptions{Catalog: other}); err == nil || !strings.Contains(err.Error(), "belongs to catalog") {
		t.Errorf("opened with another catalog: %v", err)
	}
	if n := tablesIn(t, other); n != 0 {
		t.Errorf("the refused PostgreSQL database holds %d tables, want none", n)
	}
	l, err = OpenLake(ctx, embedded, LakeOptions{Catalog: first})
	if err != nil {
		t.Fatalf("with its own catalog: %v", err)
	}
	l.Close()
}
