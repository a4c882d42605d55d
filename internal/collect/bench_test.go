package collect

import (
	"context"
	"testing"
	"time"

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
		st, err := Run(context.Background(), c, bk, l, Options{})
		if err != nil || st.Objects != 2000 {
			b.Fatalf("%+v %v", st, err)
		}
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(2000*b.N)/b.Elapsed().Seconds(), "objects/s")
}
