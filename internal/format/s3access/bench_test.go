package s3access

import (
	"io"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/format/formattest"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/interflow"
)

// BenchmarkDecodeNormalize: MB/s of log text (b.SetBytes), records/s and
// allocations (b.ReportAllocs) over one object of 20,000 records, gzipped
// for the harness (S3 delivers it as text; the decoder reads either).
func BenchmarkDecodeNormalize(b *testing.B) {
	o := gen.S3Access(gen.S3AccessSpec{Seed: 1, Account: "123456789012", Region: "us-east-1", Bucket: "shop-assets", Prefix: "logs/",
		Start: time.Unix(1714557600, 0), Span: time.Hour, Objects: 1, RecordsPerObj: 20000})[0]
	formattest.BenchDecode(b, gz(o.Body), o.Records, interflow.Events(), func(r io.Reader) formattest.Decoder { return NewDecoder(r, o.Key) })
}
