package guardduty

import (
	"io"
	"testing"

	"github.com/trawlhq/trawl/internal/format/formattest"
	"github.com/trawlhq/trawl/internal/interflow"
)

func FuzzDecode(f *testing.F) {
	formattest.AddSeeds(f, "testdata/*.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		formattest.FuzzOnce(t, data, interflow.Events(), func(r io.Reader) formattest.Decoder { return NewDecoder(r) },
			func(t *testing.T, raw []byte, accepted bool) {
				if len(raw) > MaxLine {
					t.Fatalf("line of %d bytes exceeds the cap", len(raw))
				}
				formattest.ValidJSON(t, raw, accepted)
			})
	})
}
