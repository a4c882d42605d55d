package cloudtrail

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

func benchObject(b *testing.B) (gz []byte, raw int64, records int) {
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 1, Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"},
		Start: time.Unix(1714557600, 0), Span: time.Hour, Objects: 1, RecordsPerObj: 5000, PadBytes: 600})
	zr, err := gzip.NewReader(bytes.NewReader(objs[0].Body))
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, zr)
	return objs[0].Body, n, objs[0].Records
}

// BenchmarkDecodeNormalize measures the decoder and normalizer on a gzip
// object; MB/s is decompressed JSON.
func BenchmarkDecodeNormalize(b *testing.B) {
	gz, raw, records := benchObject(b)
	b.SetBytes(raw)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dr, _, err := format.Open(bytes.NewReader(gz), format.DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		r := NewReader(dr)
		var norm Normalizer
		n := 0
		for {
			rawRec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rec := interflow.New(interflow.Events())
			if err := norm.Normalize(rawRec, rec); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != records {
			b.Fatalf("decoded %d of %d", n, records)
		}
	}
	b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkGunzip is the floor: plain decompression of the same object.
func BenchmarkGunzip(b *testing.B) {
	gz, raw, _ := benchObject(b)
	b.SetBytes(raw)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		zr, _ := gzip.NewReader(bytes.NewReader(gz))
		io.Copy(io.Discard, zr)
	}
}
