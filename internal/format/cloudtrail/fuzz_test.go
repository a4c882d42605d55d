package cloudtrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
)

// FuzzDecode feeds arbitrary bytes through decompression, the streaming
// reader and the normalizer: nothing may panic or loop, every record the
// reader yields is valid JSON, and a normalized record always has its time.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"Records":[{"eventTime":"2024-01-01T00:00:00Z"}]}`))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		dr, _, err := format.Open(bytes.NewReader(data), format.Limits{MaxDecompressed: 1 << 20, MaxRatio: 1000})
		if err != nil {
			return
		}
		r := NewReader(dr)
		for i := 0; i < 100000; i++ {
			raw, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var oe *format.ObjectError
				if !errors.As(err, &oe) {
					t.Fatalf("error is neither EOF nor an object error: %v", err)
				}
				return
			}
			rec := interflow.New(interflow.Events())
			err = Normalize(raw, rec)
			// The parser tolerates raw control characters inside strings
			// (AWS never writes them; rejecting a record for one would
			// lose it); anything else invalid must be refused.
			if err == nil && !json.Valid(bytes.Map(controlToSpace, raw)) {
				t.Fatalf("invalid JSON %q was accepted as a record", raw)
			}
			if err == nil {
				if rec.Vals[interflow.FTimestamp] == nil {
					t.Fatalf("normalized record without a timestamp: %s", raw)
				}
			} else {
				var re *format.RecordError
				if !errors.As(err, &re) {
					t.Fatalf("normalize error is not a record error: %v", err)
				}
			}
		}
		t.Fatal("reader did not terminate")
	})
}

func controlToSpace(r rune) rune {
	if r < 0x20 {
		return ' '
	}
	return r
}
