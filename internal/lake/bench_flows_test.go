package lake

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/interflow"
)

// BenchmarkCommitFlows commits batches of 5,000 VPC flow rows (a v2 line:
// 16 of the traffic table's 60 columns set).
func BenchmarkCommitFlows(b *testing.B) {
	l, err := Open(context.Background(), filepath.Join(b.TempDir(), "trawl.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const batch = 5000
	recs := make([]interflow.Record, batch)
	for i := range recs {
		r := flow("acme", int64(i), int64(i%1024), "ACCEPT")
		r.Vals[interflow.TSrcPort] = int64(i)
		r.Vals[interflow.TProtocol] = int64(6)
		r.Vals[interflow.TProtoName] = "tcp"
		r.Vals[interflow.TBytes] = int64(i * 10)
		r.Vals[interflow.TPackets] = int64(i % 10)
		r.Vals[interflow.TLogStatus] = "OK"
		r.Vals[interflow.TInterfaceID] = "eni-0123456789"
		r.Vals[interflow.FAccountID] = "123456789012"
		r.Vals[interflow.TVersion] = int64(2)
		recs[i] = r
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for j := range recs {
			recs[j].Vals[interflow.FID] = fmt.Sprintf("%d-%d", i, j)
		}
		if err := l.Commit(context.Background(), &Batch{ConnectorID: "c", Schema: interflow.Traffic(), Records: recs,
			Object: ObjectState{Key: fmt.Sprintf("k%d", i), Version: "e", Position: batch, Done: true}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/time.Since(start).Seconds(), "records/s")
}
