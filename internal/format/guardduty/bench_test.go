package guardduty

import (
	"io"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/format/formattest"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/interflow"
)

// BenchmarkDecodeNormalize: MB/s of decompressed findings (b.SetBytes),
// records/s and allocations (b.ReportAllocs) over one object of 5,000
// findings (an export holds what GuardDuty found since the last one: far
// fewer records than a flow log, each a few times larger).
func BenchmarkDecodeNormalize(b *testing.B) {
	o := gen.GuardDuty(gen.GuardDutySpec{Seed: 1, Account: "123456789012", Region: "us-east-1", Start: time.Unix(1714557600, 0), Span: time.Hour, Objects: 1, RecordsPerObj: 5000, Highs: 1})[0]
	formattest.BenchDecode(b, o.Body, o.Records, interflow.Events(), func(r io.Reader) formattest.Decoder { return NewDecoder(r) })
}
