package cloudtrail

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/format/formattest"
	"github.com/trawlhq/trawl/internal/interflow"
)

func decode(t testing.TB, r io.Reader) formattest.Result {
	t.Helper()
	res, err := formattest.Run(r, interflow.Events(), "cloudtrail", "paas",
		func(r io.Reader) formattest.Decoder { return &decoder{Reader: NewReader(r)} })
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return res
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) < 8 {
		t.Fatalf("expected testdata files, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res := decode(t, bytes.NewReader(b))
			formattest.Golden(t, strings.TrimSuffix(f, ".json")+".golden", res)
			// The same bytes gzip-compressed decode identically.
			var gz bytes.Buffer
			w := gzip.NewWriter(&gz)
			w.Write(b)
			w.Close()
			res2 := decode(t, &gz)
			if len(res2.Records) != len(res.Records) || res2.ObjectError != res.ObjectError {
				t.Errorf("gzip decode differs: %d vs %d records", len(res2.Records), len(res.Records))
			}
		})
	}
}

func TestFieldValues(t *testing.T) {
	b, _ := os.ReadFile("testdata/s3_object.json")
	res := decode(t, bytes.NewReader(b))
	if len(res.Records) != 5 {
		t.Fatalf("records = %d, want 5", len(res.Records))
	}
	want := []map[string]any{
		{"event_name": "CreateAccessKey", "user.name": "alice", "srcip": "198.51.100.7", "read_only": false, "session_mfa": true, "event_id": "ev-1", "cloud.account_id": "123456789012", "timestamp": "2024-05-01T10:15:00Z"},
		{"event_name": "GetObject", "user.name": "deploy", "src_host": "s3.amazonaws.com", "read_only": true, "error_code": "AccessDenied", "cloud.region": "eu-west-1", "timestamp": "2024-05-01T10:16:00.123Z"},
		{"event_name": "StartInstances", "user.name": "root", "srcip": "2001:db8::1", "cloud.region": "us-gov-west-1", "cloud.account_id": "123456789012"},
		{"event_name": "RunInstances", "event_source": "ec2.amazonaws.com", "event_type": "AwsCloudTrailInsight", "event_id": "ev-insight"},
		{"srcip": "10.1.2.3", "cloud.region": "cn-north-1", "cloud.account_id": "123456789012", "read_only": true},
	}
	for i, w := range want {
		for k, v := range w {
			if got := res.Records[i][k]; got != v {
				t.Errorf("record %d %s = %#v, want %#v", i, k, got, v)
			}
		}
	}
	if _, ok := res.Records[1]["srcip"]; ok {
		t.Error("a service name in sourceIPAddress must not become srcip")
	}
	if _, ok := res.Records[2]["event_id"]; ok {
		t.Error("eventVersion 1.0 record has no eventID")
	}
	for _, r := range res.Records {
		for _, k := range []string{"msg_class", "msg_origin.source", "msg_origin.vendor", "msg_origin.category", "index"} {
			if r[k] == nil {
				t.Errorf("record misses %s", k)
			}
		}
		if r["msg_class"] != "cloudtrail" || r["msg_origin.vendor"] != "aws" || r["index"] != "aws_events" || r["msg_origin.category"] != "paas" || r["msg_origin.source"] != "cloudtrail" {
			t.Errorf("origin fields wrong: %v", r)
		}
	}
}

func TestBadInput(t *testing.T) {
	b, _ := os.ReadFile("testdata/bad_records.json")
	res := decode(t, bytes.NewReader(b))
	if len(res.Records) != 2 || len(res.RecordErrors) != 3 {
		t.Fatalf("got %d records and %d record errors, want 2 and 3: %+v", len(res.Records), len(res.RecordErrors), res.RecordErrors)
	}
	b, _ = os.ReadFile("testdata/bad_truncated.json")
	res = decode(t, bytes.NewReader(b))
	if res.ObjectError == "" || !strings.Contains(res.ObjectError, "truncated") {
		t.Errorf("truncated object: object error %q", res.ObjectError)
	}
	if len(res.Records) == 0 {
		t.Error("records before the truncation point must still decode")
	}
	res = decode(t, strings.NewReader("this is not json"))
	if res.ObjectError == "" {
		t.Error("non-JSON object must be an object error")
	}
	// A gzip stream cut short is an object error, not a read failure.
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(bytes.Repeat([]byte(`{"Records":[`), 1))
	w.Write(bytes.Repeat([]byte(`{"eventTime":"2024-05-01T10:15:00Z","eventName":"x"},`), 2000))
	w.Close()
	cut := gz.Bytes()[:gz.Len()/2]
	res = decode(t, bytes.NewReader(cut))
	if !strings.Contains(res.ObjectError, "gzip") {
		t.Errorf("cut gzip: object error %q", res.ObjectError)
	}
}

func TestReadErrorPassesThrough(t *testing.T) {
	boom := errors.New("connection reset by peer")
	r := NewReader(io.MultiReader(strings.NewReader(`{"Records":[{"eventTime":"2024-05-01T10:15:00Z"},`), &errReader{boom}))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := r.Next()
	var oe *format.ObjectError
	if !errors.Is(err, boom) || errors.As(err, &oe) {
		t.Fatalf("a store read error must pass through unchanged so the object is retried, got %v", err)
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

func TestSkipReason(t *testing.T) {
	cases := map[string]bool{
		"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/05/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T000000Z.json.gz": true,
		"AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/111122223333_CloudTrail_us-east-1_20240501T0000Z_abc.json.gz":                         false,
		"AWSLogs/111122223333/CloudTrail/ConfigWritabilityCheckFile":                                                                                true,
		"AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/05/01/x.json.gz":                                                                    false,
	}
	for k, skip := range cases {
		if got := SkipReason(k) != ""; got != skip {
			t.Errorf("SkipReason(%s) = %v, want %v", k, got, skip)
		}
	}
}

// TestBoundedMemory streams a large object and checks the decoder never
// holds more than a record: heap growth stays far below the object size.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n = 200000
	rec := `{"eventVersion":"1.08","eventTime":"2024-05-01T10:15:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","requestParameters":{"bucketName":"` + strings.Repeat("x", 400) + `"}}`
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"Records":[`))
		for i := 0; i < n; i++ {
			if i > 0 {
				pw.Write([]byte(","))
			}
			pw.Write([]byte(rec))
		}
		pw.Write([]byte(`]}`))
		pw.Close()
	}()
	r := NewReader(pr)
	count := 0
	var peak uint64
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		count++
		if count%20000 == 0 {
			if h := heapInUse(); h > peak {
				peak = h
			}
		}
	}
	if count != n {
		t.Fatalf("records = %d, want %d", count, n)
	}
	objectSize := uint64(n * len(rec))
	if peak > objectSize/4 {
		t.Errorf("heap in use reached %d bytes for a %d byte object: the decoder is not streaming", peak, objectSize)
	}
}

type decoder struct {
	*Reader
	Normalizer
}
