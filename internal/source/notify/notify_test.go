package notify

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from Parse's output")

// TestGolden parses every testdata/*.json and compares the Message, as
// indented JSON, byte for byte with testdata/*.golden: any change in what
// Parse says, Details included, fails until the goldens are rewritten with
// -update and the diff reviewed. Files named *_aws_example.json are AWS's
// documented examples, copied as they are written.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata/*.json (%v)", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := marshalGolden(t, Parse(body))
			golden := strings.TrimSuffix(in, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/source/notify/ -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Parse(%s) differs from %s (check, then rerun with -update):\n--- got\n%s--- want\n%s", in, golden, got, want)
			}
		})
	}
	// A golden whose input was removed would pass unnoticed forever.
	goldens, _ := filepath.Glob("testdata/*.golden")
	for _, g := range goldens {
		if _, err := os.Stat(strings.TrimSuffix(g, ".golden") + ".json"); err != nil {
			t.Errorf("%s has no input %s.json", g, strings.TrimSuffix(g, ".golden"))
		}
	}
}

// marshalGolden is m as indented JSON, '&' and '<' left as they are so that
// URLs in Details read as URLs.
func marshalGolden(t *testing.T, m Message) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeKey(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{in: "a+b", want: "a b"},
		{in: "a%2Bb", want: "a+b"},
		{in: "%E2%82%AC", want: "€"},
		{in: "50%25", want: "50%"},
		{in: "red+flower.jpg", want: "red flower.jpg"},
		{in: "caf%c3%a9", want: "café"},
		{in: "AWSLogs/123/CloudTrail/x.json.gz", want: "AWSLogs/123/CloudTrail/x.json.gz"},
		{in: "dt%3D2024-01-01/", want: "dt=2024-01-01/"},
		{in: "%2B%2B", want: "++"},
		{in: "", want: ""},
		{in: "%zz", err: `invalid escape "%zz" at byte 0`},
		{in: "ab%4", err: `invalid escape "%4" at byte 2`},
		{in: "ab%", err: `invalid escape "%" at byte 2`},
		{in: "a%g1", err: `invalid escape "%g1" at byte 1`},
		{in: "%FF", err: "not UTF-8"},
	} {
		got, err := DecodeKey(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("DecodeKey(%q) = %q, %v; want an error containing %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("DecodeKey(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// TestBodySizeBound: a body over MaxBodySize is refused unread, one at the
// bound is read.
func TestBodySizeBound(t *testing.T) {
	const record = `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`
	atBound := []byte(record + strings.Repeat(" ", MaxBodySize-len(record)))
	if m := Parse(atBound); len(m.Objects) != 1 {
		t.Errorf("a body of exactly %d bytes: got %+v, want its object", MaxBodySize, m)
	}
	m := Parse(append(atBound, ' '))
	if m.Ignored != ReasonUnparseable || !strings.Contains(m.Detail, "262145 bytes") || len(m.Objects) != 0 {
		t.Errorf("a body of %d bytes: got %+v, want unparseable naming its size", MaxBodySize+1, m)
	}
}

// TestDetailsNameTheField pins the sentences an operator reads for the
// commonest breakages, independently of the goldens.
func TestDetailsNameTheField(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{}}}]}`, "record 1: s3.object.key is missing"},
		{`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"k"}}}]}`, "record 1: s3.bucket.name is missing"},
		{`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":7}}}]}`, "record 1: s3.object.key is a JSON number, not a string"},
		{`{"Records":"x"}`, "Records is not a list"},
		{`{"s3Bucket":"b"}`, "no s3ObjectKey"},
		{`{"s3ObjectKey":["k"]}`, "no s3Bucket"},
		{`{"Type":"Notification","TopicArn":"arn:t"}`, "has no Message"},
		{`{"version":"0","detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{}}}`, "no detail.object.key"},
		{`nope`, "the body is not JSON"},
		{`{"Type":"Notification","TopicArn":"arn:t","Message":"{\"x\":1}"}`, `SNS topic "arn:t": the SNS Message is JSON of no known envelope`},
	} {
		m := Parse([]byte(c.body))
		if m.Ignored != ReasonUnparseable || !strings.Contains(m.Detail, c.want) {
			t.Errorf("Parse(%s): Ignored %q, Detail %q; want unparseable with %q", c.body, m.Ignored, m.Detail, c.want)
		}
	}
}

// TestSomeRecordsBroken: the readable objects are kept and each broken
// record is named in Problems.
func TestSomeRecordsBroken(t *testing.T) {
	body := `{"Records":[
		{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"good+one"}}},
		{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{}}}]}`
	m := Parse([]byte(body))
	if m.Ignored != "" || len(m.Objects) != 1 || m.Objects[0].Key != "good one" {
		t.Fatalf("got %+v, want the one good object", m)
	}
	if len(m.Problems) != 1 || m.Problems[0] != "record 2: s3.object.key is missing" {
		t.Errorf("Problems = %q, want [record 2: s3.object.key is missing]", m.Problems)
	}
}
