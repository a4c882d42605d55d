package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/source/local"
)

// BenchmarkIngestSubTypes: bucket folder to committed segments, per sub
// type (profile with -cpuprofile).
func BenchmarkIngestSubTypes(b *testing.B) {
	dir := b.TempDir()
	for _, c := range corpora(b, dir, 60) {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(c.decompressed)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				ctx := context.Background()
				l, err := app.OpenLake(ctx, filepath.Join(b.TempDir(), "trawl.db"), app.LakeOptions{})
				if err != nil {
					b.Fatal(err)
				}
				bk, _ := local.New(dir, c.name)
				conn := &connector.Connector{ID: "perf", Name: c.name, Tenant: "perf", SubType: c.sub, Bucket: c.name, Prefix: c.prefix, Start: time.Now().Add(-24 * time.Hour)}
				st, err := collect.Run(ctx, conn, bk, l, collect.Options{})
				if err != nil || st.Records != int64(c.records) {
					b.Fatal(err, st)
				}
				l.Close()
				os.RemoveAll(l.Root())
			}
			b.ReportMetric(float64(c.records*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
