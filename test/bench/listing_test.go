package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/gen"
)

// BenchmarkSteadyStateListing: the cost of a run that finds nothing new,
// for 1k, 10k and 100k historical objects (2 accounts x 2 regions over 30
// days), after a first run collected them all. Listing requests and time
// per run stay flat as history grows; a full re-listing would grow with it.
func BenchmarkSteadyStateListing(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			dir := b.TempDir()
			now := time.Now().UTC()
			per := n / 4
			for _, o := range gen.CloudTrail(gen.CloudTrailSpec{Seed: 3, Accounts: []string{"111111111111", "222222222222"}, Regions: []string{"us-east-1", "eu-west-1"},
				Start: now.Add(-30 * 24 * time.Hour), Span: 30*24*time.Hour - time.Hour, Objects: per, RecordsPerObj: 1}) {
				p := filepath.Join(dir, "hist", filepath.FromSlash(o.Key))
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, o.Body, 0o644)
			}
			ctx := context.Background()
			a, err := app.Open(ctx, app.Options{DataDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			sc := app.RootScope("bench")
			c, err := a.CreateConnector(ctx, sc, connector.Connector{Name: "h", Tenant: "t", SubType: connector.CloudTrail, Bucket: "hist",
				Prefix: "AWSLogs", Endpoint: "file://" + dir, Start: now.Add(-31 * 24 * time.Hour)})
			if err != nil {
				b.Fatal(err)
			}
			first, err := a.RunConnector(ctx, sc, c.ID, collect.Options{})
			if err != nil || first.Stats.Objects != int64(4*per) {
				b.Fatalf("first run: %v %+v", err, first)
			}
			b.ResetTimer()
			var listings int64
			for i := 0; i < b.N; i++ {
				r, err := a.RunConnector(ctx, sc, c.ID, collect.Options{})
				if err != nil || r.Stats.Objects != 0 {
					b.Fatalf("steady run: %v %+v", err, r.Stats)
				}
				listings = r.Stats.Listings
			}
			b.StopTimer()
			// For comparison, measured rather than computed: a backfill
			// over the whole window lists every day folder.
			full, err := a.RunConnector(ctx, sc, c.ID, collect.Options{From: now.Add(-31 * 24 * time.Hour), To: now.Add(time.Hour)})
			if err != nil || full.Stats.Objects != 0 {
				b.Fatalf("backfill: %v %+v", err, full)
			}
			b.ReportMetric(float64(listings), "listings/run")
			b.ReportMetric(float64(full.Stats.Listings), "full-listing-requests")
		})
	}
}
