package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
)

// TestCancelledCommitsLeaveNoOrphans: commits cancelled at every moment
// (before, during and after the catalog transaction) either land whole,
// files and checkpoint, or leave nothing registered. A registered segment
// never lacks its file, and every object with a checkpoint has its records.
func TestCancelledCommitsLeaveNoOrphans(t *testing.T) {
	l := openTest(t)
	bg := context.Background()
	landed := 0
	commit := func(ctx context.Context, i int) error {
		key := fmt.Sprintf("obj-%03d", i)
		recs := make([]*interflow.Record, 20)
		for j := range recs {
			r := event("acme", int64(j), "GetObject", "10.1.2.3", "")
			r.Stamp(interflow.Provenance{Tenant: "acme", Connector: "c", Bucket: "b", Key: key, ETag: "e"}, int64(j), "cloudtrail", "paas")
			recs[j] = r
		}
		return l.Commit(ctx, ingest.RecordsBatch("c1", ingest.ObjectState{Key: key, Version: "e", Position: 20, Done: true, Records: 20}, recs...))
	}
	// How long a commit takes here sets where the cancels land.
	start := time.Now()
	for i := range 5 {
		if err := commit(bg, 1000+i); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start) / 5
	for i := range 200 {
		ctx, cancel := context.WithCancel(bg)
		// The cancels land from the start of a commit to past its end.
		go func() {
			time.Sleep(took * time.Duration(i%40) / 30)
			cancel()
		}()
		if err := commit(ctx, i); err == nil {
			landed++
		}
		cancel()
	}
	rows, err := l.DB().QueryContext(bg, `SELECT path, rows FROM segments`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var total int64
	for rows.Next() {
		var p string
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			t.Fatal(err)
		}
		total += n
		if _, err := os.Stat(filepath.Join(l.Root(), filepath.FromSlash(p))); err != nil {
			t.Errorf("registered segment %s has no file: %v", p, err)
		}
	}
	var done int64
	if err := l.DB().QueryRowContext(bg, `SELECT count(*) FROM objects WHERE done`).Scan(&done); err != nil {
		t.Fatal(err)
	}
	t.Logf("a commit takes %s; %d of 200 cancelled ones reported success; %d checkpoints, %d rows registered", took, landed, done-5, total)
	if total != done*20 {
		t.Errorf("%d rows registered for %d checkpoints of 20 records", total, done)
	}
	if int64(landed+5) > done {
		t.Errorf("%d commits reported success but only %d checkpoints", landed, done)
	}
}
