package app

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
)

// benchCommit commits batches of 5,000 records with their checkpoint, as
// the collector does; mk builds record i.
func benchCommit(b *testing.B, schema *interflow.Schema, mk func(i int) *interflow.Record) {
	l, err := OpenLake(context.Background(), filepath.Join(b.TempDir(), "trawl.db"), LakeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const batch = 5000
	recs := make([]*interflow.Record, batch)
	var size int64
	for i := range recs {
		recs[i] = mk(i)
		size += int64(len(recs[i].Value(interflow.FRaw).(string)))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for j := range recs {
			recs[j].Set(interflow.FID, fmt.Sprintf("%d-%d", i, j))
		}
		err := l.Commit(context.Background(), ingest.RecordsBatch("c", ingest.ObjectState{Key: fmt.Sprintf("k%d", i), Version: "e", Position: batch, Done: true}, recs...))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkCommitCloudTrail: CloudTrail-sized records (1.5 KB raw).
func BenchmarkCommitCloudTrail(b *testing.B) {
	pad := strings.Repeat("Allow s3:GetObject arn:aws:s3:::bucket/* ", 32)
	benchCommit(b, interflow.Events(), func(i int) *interflow.Record {
		r := event("acme", int64(i), fmt.Sprintf("Event%d", i%50), fmt.Sprintf("10.0.%d.%d", i/256%256, i%256), "")
		r.Set(interflow.FRaw, fmt.Sprintf(`{"eventID":"%d","requestParameters":{"p":%q}}`, i, pad))
		return r
	})
}

// BenchmarkCommitFlows: VPC flow rows (a v2 line sets 16 of the traffic
// table's 60 columns).
func BenchmarkCommitFlows(b *testing.B) {
	benchCommit(b, interflow.Traffic(), func(i int) *interflow.Record {
		r := flow("acme", int64(i), int64(i%1024), "ACCEPT")
		r.Set(interflow.TSrcPort, int64(i))
		r.Set(interflow.TProtocol, int64(6))
		r.Set(interflow.TProtoName, "tcp")
		r.Set(interflow.TBytes, int64(i*10))
		r.Set(interflow.TPackets, int64(i%10))
		r.Set(interflow.TLogStatus, "OK")
		r.Set(interflow.TInterfaceID, "eni-0123456789")
		r.Set(interflow.FAccountID, "123456789012")
		r.Set(interflow.TVersion, int64(2))
		return r
	})
}
