package waf

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

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dr, _, err := format.Open(bytes.NewReader(data), format.Limits{MaxDecompressed: 1 << 20, MaxRatio: 1000})
		if err != nil {
			return
		}
		d := NewDecoder(dr, key)
		for i := 0; i < 100000; i++ {
			raw, err := d.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var oe *format.ObjectError
				if !errors.As(err, &oe) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			rec := interflow.New(interflow.Events())
			if err := d.Normalize(raw, rec); err == nil {
				if rec.Vals[interflow.FTimestamp] == nil {
					t.Fatal("record without timestamp")
				}
				if !json.Valid(bytes.Map(func(r rune) rune {
					if r < 0x20 {
						return ' '
					}
					return r
				}, raw)) {
					t.Fatalf("invalid JSON accepted: %q", raw)
				}
			}
		}
		t.Fatal("decoder did not terminate")
	})
}
