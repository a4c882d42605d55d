package vpcflow

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/interflow"
)

func BenchmarkDecodeNormalize(b *testing.B) {
	o := gen.VPCFlow(gen.FlowSpec{Seed: 1, Account: "123456789012", Region: "us-east-1", Start: time.Unix(1714557600, 0), Span: time.Hour, Objects: 1, RecordsPerObj: 20000})[0]
	zr, _ := gzip.NewReader(bytes.NewReader(o.Body))
	raw, _ := io.Copy(io.Discard, zr)
	b.SetBytes(raw)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dr, _, _ := format.Open(bytes.NewReader(o.Body), format.DefaultLimits())
		d := NewDecoder(dr, o.Key)
		n := 0
		for {
			line, err := d.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if err := d.Normalize(line, interflow.New(interflow.Traffic())); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != o.Records {
			b.Fatalf("%d of %d", n, o.Records)
		}
	}
	b.ReportMetric(float64(o.Records*b.N)/b.Elapsed().Seconds(), "records/s")
}
