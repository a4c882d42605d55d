package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/segment"
)

// TestCompactionKeepsEveryRecord: ten small commits of one day become one
// segment; counts, newest-first results and free text are unchanged; the
// retired files go after the grace period (and the snapshot retention of
// the Iceberg tables that held them); rerunning does nothing.
func TestCompactionKeepsEveryRecord(t *testing.T) {
	l := openTest(t)
	l.snapshotRetention = time.Millisecond
	ctx := context.Background()
	for c := 0; c < 10; c++ {
		var recs []*interflow.Record
		for i := 0; i < 100; i++ {
			n := c*100 + i
			r := event("acme", int64(n), fmt.Sprintf("E%d", n%7), fmt.Sprintf("10.0.%d.%d", n/256, n%256), "")
			r.SetTime(interflow.FTimestamp, base.Add(time.Duration((n*7919)%3600)*time.Second))
			r.SetString(interflow.FRaw, fmt.Sprintf(`{"eventName":"E%d","marker":"m%d"}`, n%7, n))
			recs = append(recs, r)
		}
		if err := l.Commit(ctx, ingest.RecordsBatch("c", ingest.ObjectState{Key: fmt.Sprint(c), Version: "e", Position: 100, Done: true}, recs...)); err != nil {
			t.Fatal(err)
		}
	}
	req := segment.SearchRequest{From: base.Add(-time.Hour), To: base.Add(2 * time.Hour), Limit: 1000}
	before, err := l.Search(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := l.SegmentCount(ctx, ""); n != 10 {
		t.Fatalf("%d segments before compaction", n)
	}
	st, err := l.Compact(ctx, CompactOptions{MinSegments: 4, Grace: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if st.Merges != 1 || st.Inputs != 10 || st.Rows != 1000 || st.Segments != 1 {
		t.Fatalf("compaction %+v", st)
	}
	after, err := l.Search(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Rows) != len(before.Rows) {
		t.Fatalf("%d rows after, %d before", len(after.Rows), len(before.Rows))
	}
	for i := range before.Rows {
		if before.Rows[i]["id"] != after.Rows[i]["id"] || before.Rows[i]["srcip"] != after.Rows[i]["srcip"] {
			t.Fatalf("row %d differs: %v / %v", i, before.Rows[i], after.Rows[i])
		}
	}
	for _, q := range []string{"m777", "E3", "srcip:10.0.3.0/24"} {
		n, err := l.Count(ctx, segment.SearchRequest{From: req.From, To: req.To, Query: q})
		if err != nil || n == 0 {
			t.Errorf("%q after compaction: %d %v", q, n, err)
		}
	}
	// The merged segment is sorted by time.
	segs, _ := l.SegmentsIn(ctx, "aws_events", nil, req.From, req.To)
	b := interflow.NewBatch(interflow.Events())
	if err := l.ReadSegment(segs[0], b); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < b.Len(); i++ {
		if b.Micros(i) < b.Micros(i-1) {
			t.Fatalf("merged rows out of time order at %d", i)
		}
	}
	time.Sleep(10 * time.Millisecond)
	st, err = l.Compact(ctx, CompactOptions{})
	if err != nil || st.Merges != 0 {
		t.Fatalf("second compaction %+v %v", st, err)
	}
	files := 0
	filepath.Walk(l.Root(), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && filepath.Ext(p) == ".parquet" {
			files++
		}
		return nil
	})
	if files != 1 {
		t.Errorf("%d segment files on disk after the grace period, want 1", files)
	}
}

// TestLegacyTablesMigrate: a data directory from before segments (records
// in DuckDB tables) opens with every record searchable, once, and the
// tables gone; a second open changes nothing.
func TestLegacyTablesMigrate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trawl.db")
	l, err := OpenLake(context.Background(), path, LakeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The old layout: one table per index, columns named as the fields.
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE TABLE aws_events ("id" VARCHAR, "timestamp" TIMESTAMP, "tenant" VARCHAR, "index" VARCHAR, "event_name" VARCHAR, "srcip" VARCHAR, "srcip#key" VARCHAR, "labels" VARCHAR[], "read_only" BOOLEAN, "raw" VARCHAR)`,
		`INSERT INTO aws_events SELECT 'id' || i, TIMESTAMP '2024-05-01 10:00:00' + INTERVAL (i) MINUTE, CASE WHEN i % 2 = 0 THEN 'acme' ELSE 'globex' END,
		 'aws_events', 'Legacy' || (i % 3), '10.0.0.' || i, NULL, ['a', 'b'], i % 2 = 0, '{"legacy":' || i || '}' FROM range(50) t(i)`,
		`CREATE TABLE traffic ("id" VARCHAR, "timestamp" TIMESTAMP, "tenant" VARCHAR, "dstport" BIGINT, "raw" VARCHAR)`,
		`INSERT INTO traffic SELECT 'f' || i, TIMESTAMP '2024-05-02 10:00:00' + INTERVAL (i) SECOND, 'acme', i, 'line ' || i FROM range(30) t(i)`,
	} {
		if _, err := l.DB().ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	for round := 0; round < 2; round++ {
		l, err = OpenLake(ctx, path, LakeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		all := segment.SearchRequest{From: base.Add(-48 * time.Hour), To: base.Add(72 * time.Hour)}
		n, err := l.Count(ctx, all)
		if err != nil || n != 80 {
			t.Fatalf("round %d: %d records after migration, want 80: %v", round, n, err)
		}
		q := all
		q.Query, q.Tenants = "event_name:Legacy1 AND srcip:10.0.0.0/24 AND labels:b", []string{"acme"}
		if n, err := l.Count(ctx, q); err != nil || n != 8 {
			t.Errorf("round %d: migrated fields: %d %v", round, n, err)
		}
		var tables int
		l.DB().QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name IN ('aws_events', 'traffic')`).Scan(&tables)
		if tables != 0 {
			t.Errorf("round %d: %d legacy tables remain", round, tables)
		}
		if d, _ := l.Duplicates(ctx); d != 0 {
			t.Errorf("round %d: %d duplicates", round, d)
		}
		l.Close()
	}
}

func BenchmarkCheckpointOnlyCommit(b *testing.B) {
	l, err := OpenLake(context.Background(), filepath.Join(b.TempDir(), "trawl.db"), LakeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		var bs []*ingest.Batch
		for j := 0; j < 30; j++ {
			bs = append(bs, &ingest.Batch{ConnectorID: "c", Tenant: "t", Schema: interflow.Traffic(), Object: ingest.ObjectState{Key: fmt.Sprintf("k%d-%d", i, j), Version: "e", Done: true}})
		}
		if err := l.CommitMany(ctx, bs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCompactionMultiRowGroup: inputs of several row groups each merge
// whole (a reader may return no rows at a row group boundary).
func TestCompactionMultiRowGroup(t *testing.T) {
	l := openTest(t)
	l.SetRowGroupRows(interflow.IndexEvents, 100)
	ctx := context.Background()
	want := 0
	for c := 0; c < 8; c++ {
		var recs []*interflow.Record
		for i := 0; i < 250; i++ {
			n := c*250 + i
			r := event("acme", int64(n), "E", "10.0.0.1", "")
			r.SetTime(interflow.FTimestamp, base.Add(time.Duration(n)*time.Second))
			recs = append(recs, r)
		}
		want += len(recs)
		if err := l.Commit(ctx, ingest.RecordsBatch("c", ingest.ObjectState{Key: fmt.Sprint(c), Version: "e", Done: true}, recs...)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := l.Compact(ctx, CompactOptions{MinSegments: 4, Grace: time.Millisecond})
	if err != nil || st.Merges == 0 {
		t.Fatalf("%+v %v", st, err)
	}
	n, err := l.Count(ctx, segment.SearchRequest{From: base.Add(-time.Hour), To: base.Add(24 * time.Hour)})
	if err != nil || n != int64(want) || st.Rows != int64(want) {
		t.Fatalf("after compaction %d records (merged %d), want %d: %v", n, st.Rows, want, err)
	}
}

// TestConcurrentCommitCompactCount: while commits and compactions run,
// every count lies between what was committed before it started and what
// was committed after it ended: no record is ever invisible or doubled.
func TestConcurrentCommitCompactCount(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	var committed, attempted atomic.Int64 // after and before each commit
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for c := 0; ; c++ {
			select {
			case <-stop:
				return
			default:
			}
			var recs []*interflow.Record
			for i := 0; i < 50+c%100; i++ {
				n := c*1000 + i
				r := event("acme", int64(n), "E", "10.0.0.1", "")
				r.SetTime(interflow.FTimestamp, base.Add(time.Duration(n%86000)*time.Second))
				r.SetString(interflow.FID, fmt.Sprintf("id-%d", n))
				recs = append(recs, r)
			}
			attempted.Add(int64(len(recs)))
			if err := l.Commit(ctx, ingest.RecordsBatch("c", ingest.ObjectState{Key: fmt.Sprint(c), Version: "e", Done: true}, recs...)); err != nil {
				t.Error(err)
				return
			}
			committed.Add(int64(len(recs)))
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := l.Compact(ctx, CompactOptions{MinSegments: 4, Grace: 5 * time.Second}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	deadline := time.Now().Add(8 * time.Second)
	checks := 0
	for time.Now().Before(deadline) {
		before := committed.Load()
		n, err := l.Count(ctx, segment.SearchRequest{From: base.Add(-time.Hour), To: base.Add(48 * time.Hour)})
		after := attempted.Load()
		if err != nil {
			t.Fatal(err)
		}
		if n < before || n > after {
			t.Fatalf("count %d outside [%d, %d]", n, before, after)
		}
		checks++
	}
	close(stop)
	wg.Wait()
	if d, _ := l.Duplicates(ctx); d != 0 {
		t.Errorf("%d duplicates", d)
	}
	n, _ := l.Count(ctx, segment.SearchRequest{From: base.Add(-time.Hour), To: base.Add(48 * time.Hour)})
	if n != committed.Load() {
		t.Errorf("final count %d, committed %d", n, committed.Load())
	}
	t.Logf("%d counts checked, %d records committed", checks, committed.Load())
}

// TestSweepWhileRunning: debris a crash left (an unregistered segment with
// its token filters, an empty staged file) goes while the lake runs, once
// older than the grace a commit in flight needs; a registered segment and
// a fresh unregistered file stay.
func TestSweepWhileRunning(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	r := event("acme", 1, "E", "10.0.0.1", "")
	if err := l.Commit(ctx, ingest.RecordsBatch("c", ingest.ObjectState{Key: "k", Version: "e", Position: 1, Done: true}, r)); err != nil {
		t.Fatal(err)
	}
	day := filepath.Join(l.Root(), "index=aws_events", "tenant=acme", "day=2026-01-01")
	old := time.Now().Add(-2 * runningSweepGrace)
	debris := []string{filepath.Join(day, "dead.parquet"), filepath.Join(l.Root(), "_tokens", "index=aws_events", "tenant=acme", "day=2026-01-01", "dead.tokens"),
		filepath.Join(day, "empty.parquet.tmp")}
	for _, p := range debris {
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, nil, 0o600)
		os.Chtimes(p, old, old)
	}
	fresh := filepath.Join(day, "fresh.parquet")
	os.WriteFile(fresh, nil, 0o600)
	l.swept = time.Time{} // the sweep at open was just now
	if err := l.sweepWhileRunning(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, p := range debris {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s survived the sweep", p)
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a file a commit may still hold was swept: %v", err)
	}
	if n, err := l.Count(ctx, segment.SearchRequest{From: base.Add(-time.Hour), To: base.Add(time.Hour)}); err != nil || n != 1 {
		t.Errorf("count %d %v after the sweep", n, err)
	}
}
