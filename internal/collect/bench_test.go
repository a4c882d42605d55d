package collect_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/gen"
)

// BenchmarkManySmallObjects: 2,000 one-record objects (VPC flow and WAF
// deliver many small files), from a bucket folder to committed rows.
func BenchmarkManySmallObjects(b *testing.B) {
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 1, Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-50 * time.Minute), Span: 40 * time.Minute, Objects: 2000, RecordsPerObj: 1})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		t := &testing.T{}
		c, bk, l := setup(t, objs)
		b.StartTimer()
		st, err := collect.Run(context.Background(), c, bk, l, collect.Options{})
		if err != nil || st.Objects != 2000 {
			b.Fatalf("%+v %v", st, err)
		}
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(2000*b.N)/b.Elapsed().Seconds(), "objects/s")
}

// BenchmarkFlatSteadyState: a run that finds nothing new in a folder with
// no date structure (listed whole every run), at 1k, 10k and 100k objects.
// Listing grows with the folder (S3 has no other way); the catalog cost is
// one lookup per 1,000 objects.
func BenchmarkFlatSteadyState(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			c, bk, l, _ := flatFolder(b, n)
			cs := &countingStore{Lake: l}
			if st, err := collect.Run(context.Background(), c, bk, cs, collect.Options{}); err != nil || st.Objects != int64(n) {
				b.Fatalf("first run %+v %v", st, err)
			}
			cs.one, cs.many = 0, 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st, err := collect.Run(context.Background(), c, bk, cs, collect.Options{})
				if err != nil || st.Objects != 0 {
					b.Fatalf("steady run %+v %v", st, err)
				}
			}
			b.ReportMetric(float64(cs.one+cs.many)/float64(b.N), "catalog-lookups/run")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/object")
		})
	}
}
