package cloudtrail

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/format/formattest"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/interflow"
)

func benchObject() gen.Object {
	return gen.CloudTrail(gen.CloudTrailSpec{Seed: 1, Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"},
		Start: time.Unix(1714557600, 0), Span: time.Hour, Objects: 1, RecordsPerObj: 5000, PadBytes: 600})[0]
}

// BenchmarkDecodeNormalize measures the decoder and normalizer on a gzip
// object; MB/s is decompressed JSON.
func BenchmarkDecodeNormalize(b *testing.B) {
	o := benchObject()
	formattest.BenchDecode(b, o.Body, o.Records, interflow.Events(), func(r io.Reader) formattest.Decoder { return &decoder{Reader: NewReader(r)} })
}

// BenchmarkGunzip is the floor: plain decompression of the same object.
func BenchmarkGunzip(b *testing.B) {
	o := benchObject()
	zr, _ := gzip.NewReader(bytes.NewReader(o.Body))
	raw, _ := io.Copy(io.Discard, zr)
	b.SetBytes(raw)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		zr, _ := gzip.NewReader(bytes.NewReader(o.Body))
		io.Copy(io.Discard, zr)
	}
}
