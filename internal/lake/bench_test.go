package lake

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/interflow"
)

// BenchmarkCommitCloudTrail commits batches of 5,000 CloudTrail-sized
// records (1.5 KB raw) with their checkpoint, as the collector does.
func BenchmarkCommitCloudTrail(b *testing.B) {
	l, err := Open(context.Background(), filepath.Join(b.TempDir(), "trawl.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const batch = 5000
	pad := strings.Repeat("Allow s3:GetObject arn:aws:s3:::bucket/* ", 32)
	recs := make([]interflow.Record, batch)
	var size int64
	for i := range recs {
		r := event("acme", int64(i), fmt.Sprintf("Event%d", i%50), fmt.Sprintf("10.0.%d.%d", i/256%256, i%256), "")
		r.Vals[interflow.FRaw] = fmt.Sprintf(`{"eventID":"%d","requestParameters":{"p":%q}}`, i, pad)
		size += int64(len(r.Vals[interflow.FRaw].(string)))
		recs[i] = r
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for j := range recs {
			recs[j].Vals[interflow.FID] = fmt.Sprintf("%d-%d", i, j)
		}
		err := l.Commit(context.Background(), &Batch{ConnectorID: "c", Schema: interflow.Events(), Records: recs,
			Object: ObjectState{Key: fmt.Sprintf("k%d", i), Version: "e", Position: batch, Done: true}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/time.Since(start).Seconds(), "records/s")
}
