package r53resolver

import (
	"io"
	"testing"

	"github.com/trawlhq/trawl/internal/format/formattest"
	"github.com/trawlhq/trawl/internal/interflow"
)

func FuzzDecode(f *testing.F) {
	formattest.AddSeeds(f, "testdata/*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		formattest.FuzzOnce(t, data, interflow.Events(), func(r io.Reader) formattest.Decoder { return NewDecoder(r) }, formattest.ValidJSON)
	})
}
