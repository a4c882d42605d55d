package jsonstream

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// reference is the byte-by-byte scan the vectorised one replaced: the
// length of the first composite value of b, or -1.
func reference(b []byte) int {
	depth := 0
	inStr, esc := false, false
	for i, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// values reads every value of in through a Scanner over r.
func values(r io.Reader) ([]string, error) {
	s := New(r)
	var out []string
	for {
		if _, err := s.Peek(); errors.Is(err, io.EOF) {
			return out, nil
		}
		v, err := s.Value()
		if err != nil {
			return out, err
		}
		out = append(out, string(v))
	}
}

func check(t *testing.T, in []byte) {
	t.Helper()
	trimmed := bytes.TrimLeft(in, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' && trimmed[0] != '[' {
		return
	}
	want := reference(trimmed)
	for _, r := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in)), iotest.HalfReader(bytes.NewReader(in))} {
		s := New(r)
		got, err := s.Value()
		switch {
		case want < 0 && err == nil:
			t.Fatalf("%q: got value %q, the reference finds no end", in, got)
		case want >= 0 && (err != nil || string(got) != string(trimmed[:want])):
			t.Fatalf("%q: got %q (%v), want %q", in, got, err, trimmed[:want])
		}
	}
}

// TestCompositeAgreesWithReference: strings with escaped quotes and
// backslash runs, nesting, chunk boundaries at every byte.
func TestCompositeAgreesWithReference(t *testing.T) {
	for _, in := range []string{
		`{"a":"b"}`,
		`{"a":"say \"hi\""}rest`,
		`{"a":"ends in a backslash \\"}`,
		`{"a":"three \\\"still in\\\\"} x`,
		`[{"x":[1,2,{"y":"]}"}]},"z"]`,
		`{"a":"\\\\\\\\"}`,
		`{"k":"}"}`,
		`{"unterminated":"\"}`,
		`{"a":{"b":{"c":"d"}}}{"next":1}`,
	} {
		check(t, []byte(in))
	}
	got, err := values(iotest.OneByteReader(bytes.NewReader([]byte(`{"a":"x\"y"} {"b":"\\"}` + "\n" + `[1,"]"]`))))
	if err != nil || len(got) != 3 || got[1] != `{"b":"\\"}` || got[2] != `[1,"]"]` {
		t.Fatalf("values %q, %v", got, err)
	}
}

func FuzzComposite(f *testing.F) {
	for _, s := range []string{`{"a":"b\"c"}`, `[{"x":"\\\\"}]`, `{"a":"\\"}`, `{"a":[{"b":"}"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { check(t, in) })
}

// BenchmarkScan compares the scan with the byte-by-byte reference over
// WAF-like records (many short strings), in the same run.
func BenchmarkScan(b *testing.B) {
	rec := []byte(`{"timestamp":1700000000000,"formatVersion":1,"webaclId":"arn:aws:wafv2:us-east-1:123456789012:regional/webacl/prod/abc","terminatingRuleId":"Default_Action","terminatingRuleType":"REGULAR","action":"ALLOW","httpSourceName":"ALB","httpSourceId":"123456789012-app/prod/abc","ruleGroupList":[],"rateBasedRuleList":[],"nonTerminatingMatchingRules":[],"httpRequest":{"clientIp":"198.51.100.7","country":"US","headers":[{"name":"Host","value":"example.com"},{"name":"User-Agent","value":"Mozilla/5.0 (X11; Linux x86_64) \"quoted\""},{"name":"Accept","value":"*/*"}],"uri":"/api/v1/items","args":"id=42","httpVersion":"HTTP/1.1","httpMethod":"GET","requestId":"1-abc-def"}}` + "\n")
	b.Run("vectorised", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			st := scanState{}
			if st.scan(rec) < 0 {
				b.Fatal("no end")
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if reference(rec) < 0 {
				b.Fatal("no end")
			}
		}
	})
}
