package vpcflow

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
)

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.log")
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
		defer d.Close()
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
			if len(raw) > MaxLine {
				t.Fatalf("line of %d bytes exceeds the cap", len(raw))
			}
			rec := interflow.New(interflow.Traffic())
			if err := d.Normalize(raw, rec); err == nil && rec.Vals[interflow.FTimestamp] == nil {
				t.Fatal("record without timestamp")
			}
		}
		t.Fatal("decoder did not terminate")
	})
}
