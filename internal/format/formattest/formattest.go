// Package formattest runs a decoder and normalizer over a file the way the
// collector does and compares the result with a golden file, so every log
// format is tested the same way. Run tests with -update to rewrite goldens.
package formattest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/testutil/modroot"
)

// Update rewrites golden files instead of comparing.
var Update = flag.Bool("update", false, "rewrite golden files")

// Decoder yields raw records and normalizes them.
type Decoder interface {
	Next() ([]byte, error)
	Normalize(raw []byte, rec *interflow.Record) error
}

// Result is what a file decodes to.
type Result struct {
	Records      []map[string]any `json:"records"`
	RecordErrors []RecordErr      `json:"record_errors,omitempty"`
	ObjectError  string           `json:"object_error,omitempty"`
}

// RecordErr is one quarantined record.
type RecordErr struct {
	Position int64  `json:"position"`
	Reason   string `json:"reason"`
}

// Run decodes r completely.
func Run(r io.Reader, schema *interflow.Schema, class, category string, newDec func(io.Reader) Decoder) (Result, error) {
	res := Result{Records: []map[string]any{}}
	dr, _, err := format.Open(r, format.DefaultLimits())
	if err != nil {
		res.ObjectError = err.Error()
		return res, nil
	}
	dec := newDec(dr)
	prov := interflow.Provenance{Tenant: "t", Connector: "c", Bucket: "b", Key: "k", ETag: "e"}
	for pos := int64(0); ; pos++ {
		raw, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var oe *format.ObjectError
			if errors.As(err, &oe) {
				res.ObjectError = oe.Error()
				break
			}
			return res, err
		}
		rec := interflow.New(schema)
		rec.Stamp(prov, pos, class, category)
		if err := dec.Normalize(raw, rec); err != nil {
			var re *format.RecordError
			if !errors.As(err, &re) {
				return res, err
			}
			res.RecordErrors = append(res.RecordErrors, RecordErr{Position: pos, Reason: re.Reason})
			continue
		}
		res.Records = append(res.Records, View(rec))
	}
	return res, nil
}

// View renders a record for a golden file: non-null fields, times in RFC
// 3339, and raw replaced by a hash (goldens must not copy third-party input).
func View(rec *interflow.Record) map[string]any {
	m := map[string]any{}
	for i, f := range rec.Schema.Fields {
		v := rec.Value(i)
		if v == nil {
			continue
		}
		switch f.Name {
		case "raw":
			h := sha256.Sum256([]byte(v.(string)))
			m["raw.sha256"] = hex.EncodeToString(h[:8])
			continue
		}
		if l, ok := v.([]string); ok {
			v = append([]string(nil), l...)
		}
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339Nano)
		}
		m[f.Name] = v
	}
	return m
}

// Golden compares got with the golden file, or writes it with -update.
func Golden(t *testing.T, path string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s missing (run go test -run %s -update): %v", path, t.Name(), err)
	}
	if !bytes.Equal(normalizeJSON(t, want), normalizeJSON(t, b)) {
		t.Errorf("output differs from %s (run with -update after checking the change):\n--- got\n%s", path, b)
	}
}

func normalizeJSON(t *testing.T, b []byte) []byte {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("golden is not JSON: %v", err)
	}
	out, _ := json.Marshal(v)
	return out
}

// CorpusDir returns ../shared/corpus relative to the module root, or skips.
func CorpusDir(t testing.TB) string {
	t.Helper()
	dir := modroot.Root()
	if dir == "" {
		t.Skip("module root not found")
	}
	c := filepath.Join(dir, "..", "shared", "corpus")
	if os.Getenv("TRAWL_CORPUS") != "" {
		c = os.Getenv("TRAWL_CORPUS")
	}
	if _, err := os.Stat(c); err != nil {
		t.Skipf("SKIP: conformance corpus not found at %s (it lives beside the repository as ../shared/corpus)", c)
	}
	return c
}

// OTelExpected reads the attribute values of an OpenTelemetry expected-output
// YAML file (the corpus's *_expected.yaml): the resource attributes and one
// map per log record. It understands only the flat key/value shape those
// files use, which is enough to compare values (not names).
func OTelExpected(t testing.TB, path string) (resource map[string]string, records []map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	resource = map[string]string{}
	cur := resource
	key := ""
	for _, line := range strings.Split(string(b), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "- attributes:"):
			cur = map[string]string{}
			records = append(records, cur)
		case strings.HasPrefix(l, "- key: "):
			key = strings.TrimPrefix(l, "- key: ")
		case key != "" && (strings.HasPrefix(l, "stringValue: ") || strings.HasPrefix(l, "intValue: ")):
			v := l[strings.Index(l, ": ")+2:]
			cur[key] = strings.Trim(v, `"`)
			key = ""
		}
	}
	return resource, records
}

// AddSeeds adds every file matching glob to a fuzz target's corpus.
func AddSeeds(f *testing.F, glob string) {
	files, _ := filepath.Glob(glob)
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
}

// FuzzCheck is what a decoder may additionally require of each raw record
// it yields and of each record it accepts.
type FuzzCheck func(t *testing.T, raw []byte, accepted bool)

// FuzzOnce runs fuzz input through decompression (with small bomb caps),
// the decoder and its normalizer: nothing may panic or loop, every error is
// EOF or an object error, and an accepted record always has its time.
func FuzzOnce(t *testing.T, data []byte, schema *interflow.Schema, newDec func(io.Reader) Decoder, check FuzzCheck) {
	dr, _, err := format.Open(bytes.NewReader(data), format.Limits{MaxDecompressed: 1 << 20, MaxRatio: 1000})
	if err != nil {
		return
	}
	dec := newDec(dr)
	if c, ok := dec.(io.Closer); ok {
		defer c.Close()
	}
	for i := 0; i < 100000; i++ {
		raw, err := dec.Next()
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
		rec := interflow.New(schema)
		err = dec.Normalize(raw, rec)
		if err == nil && !rec.Has(interflow.FTimestamp) {
			t.Fatalf("normalized record without a timestamp: %q", raw)
		}
		if err != nil {
			var re *format.RecordError
			if !errors.As(err, &re) {
				t.Fatalf("normalize error is not a record error: %v", err)
			}
		}
		if check != nil {
			check(t, raw, err == nil)
		}
	}
	t.Fatal("decoder did not terminate")
}

// BenchDecode measures a decoder and normalizer over one gzip object:
// MB/s of decompressed input, records/s and allocations.
func BenchDecode(b *testing.B, body []byte, records int, schema *interflow.Schema, newDec func(io.Reader) Decoder) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := io.Copy(io.Discard, zr)
	b.SetBytes(raw)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dr, _, err := format.Open(bytes.NewReader(body), format.DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		dec := newDec(dr)
		n := 0
		for {
			rawRec, err := dec.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if err := dec.Normalize(rawRec, interflow.New(schema)); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != records {
			b.Fatalf("decoded %d of %d records", n, records)
		}
	}
	b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
}

// ValidJSON requires an accepted record to be valid JSON. The parsers
// tolerate raw control characters inside strings (AWS never writes them,
// and refusing would quarantine a readable record); anything else invalid
// must be refused.
func ValidJSON(t *testing.T, raw []byte, accepted bool) {
	if !accepted {
		return
	}
	clean := bytes.Map(func(r rune) rune {
		if r < 0x20 {
			return ' '
		}
		return r
	}, raw)
	if !json.Valid(clean) {
		t.Fatalf("invalid JSON accepted as a record: %q", raw)
	}
}
