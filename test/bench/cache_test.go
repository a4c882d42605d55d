package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/segment"
	s3src "github.com/trawlhq/trawl/internal/source/s3"
	"github.com/trawlhq/trawl/internal/testutil/pgserver"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestPerfLakeCache: segments in an S3 lake (versitygw on loopback) with a
// PostgreSQL catalog; a second node (data directory) searches them first
// with an empty cache (every segment fetched), then warm. It prints.
func TestPerfLakeCache(t *testing.T) {
	perfOnly(t)
	total := 1_000_000
	if v := os.Getenv("TRAWL_PERF_CACHE_RECORDS"); v != "" {
		fmt.Sscan(v, &total)
	}
	pg := pgserver.Start(t)
	srv := s3server.Start(t)
	srv.Fill(t, "lake", nil)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	ctx := context.Background()
	catalog := pg.Database(t)
	open := func(dir string) *app.Lake {
		st, err := s3src.NewLakeStore(ctx, s3src.LakeConfig{Location: "s3://lake/segments", Endpoint: srv.Endpoint, PathStyle: true})
		if err != nil {
			t.Fatal(err)
		}
		l, err := app.OpenLake(ctx, filepath.Join(dir, "trawl.db"), app.LakeOptions{MemoryLimit: "2GB", Catalog: catalog, Store: st})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	end := time.Now().UTC().Truncate(time.Hour)
	start := end.Add(-7 * 24 * time.Hour)
	a := open(t.TempDir())
	began := time.Now()
	writeSearchCorpus(t, a, start, end, total, total/10)
	wrote := time.Since(began)
	segs, _ := a.SegmentCount(ctx, "")
	a.Close()
	week := segment.SearchRequest{From: start, To: end.Add(time.Hour)}
	q := week
	q.Query, q.Limit = "event_name:CreateAccessKey", 100
	fmt.Printf("\nS3 lake (versitygw, loopback) and PostgreSQL catalog: %d records in %d segments, written and put in %.0f s\n%-36s %10s\n",
		total, segs, wrote.Seconds(), "search from a second node", "ms")
	b := open(t.TempDir())
	defer b.Close()
	s := time.Now()
	if _, err := b.Search(ctx, q); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%-36s %10.1f\n", "cold cache (fetches every segment)", ms(time.Since(s)))
	var ds []time.Duration
	for i := 0; i < 20; i++ {
		s := time.Now()
		if _, err := b.Search(ctx, q); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, time.Since(s))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	fmt.Printf("%-36s %10.1f\n%-36s %10.1f\n", "warm cache, p50", ms(ds[len(ds)/2]), "warm cache, p95", ms(ds[len(ds)*95/100]))
}
