package cloudtrail

import (
	"io"
	"testing"

	"github.com/trawlhq/trawl/internal/format/formattest"
	"github.com/trawlhq/trawl/internal/interflow"
)

// FuzzDecode feeds arbitrary bytes through decompression, the streaming
// reader and the normalizer (see formattest.FuzzOnce), and requires that
// only valid JSON is accepted as a record.
func FuzzDecode(f *testing.F) {
	formattest.AddSeeds(f, "testdata/*.json")
	f.Add([]byte(`{"Records":[{"eventTime":"2024-01-01T00:00:00Z"}]}`))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		formattest.FuzzOnce(t, data, interflow.Events(), func(r io.Reader) formattest.Decoder { return &decoder{Reader: NewReader(r)} }, formattest.ValidJSON)
	})
}
