package waf

import (
	"io"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/format/formattest"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/interflow"
)

func BenchmarkDecodeNormalize(b *testing.B) {
	o := gen.WAF(gen.WAFSpec{Seed: 1, Account: "123456789012", Region: "us-east-1", WebACL: "acl", Start: time.Unix(1714557600, 0), Span: time.Hour, Objects: 1, RecordsPerObj: 10000})[0]
	formattest.BenchDecode(b, o.Body, o.Records, interflow.Events(), func(r io.Reader) formattest.Decoder { return NewDecoder(r, o.Key) })
}
