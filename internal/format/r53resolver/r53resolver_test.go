package r53resolver

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trawlhq/trawl/internal/format/formattest"
	"github.com/trawlhq/trawl/internal/interflow"
)

func decode(t testing.TB, r io.Reader) formattest.Result {
	t.Helper()
	res, err := formattest.Run(r, interflow.Events(), Class, "paas", func(r io.Reader) formattest.Decoder { return NewDecoder(r) })
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestGolden: AWS's documented example and the other inputs decode to
// their goldens (go test -update rewrites them), gzip or not.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) < 5 {
		t.Fatalf("testdata missing")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, _ := os.ReadFile(f)
			res := decode(t, bytes.NewReader(b))
			formattest.Golden(t, strings.TrimSuffix(f, ".json")+".golden", res)
			var gz bytes.Buffer
			w := gzip.NewWriter(&gz)
			w.Write(b)
			w.Close()
			if res2 := decode(t, &gz); len(res2.Records) != len(res.Records) {
				t.Error("gzip and text decode differently")
			}
		})
	}
}

// TestAWSExample checks every field of AWS's documented record.
func TestAWSExample(t *testing.T) {
	b, _ := os.ReadFile("testdata/aws_example.json")
	res := decode(t, bytes.NewReader(b))
	if len(res.Records) != 1 {
		t.Fatalf("%d records", len(res.Records))
	}
	got := res.Records[0]
	want := map[string]any{"srcip": "4.5.64.102", "srcport": int64(56067), "vpc_id": "vpc-7example", "instance_id": "i-0d15cd0d3example",
		"dns.question.name": "15.3.4.32.in-addr.arpa.", "dns.question.type": "PTR", "dns.question.class": "IN", "dns.response_code": "NOERROR",
		"dns.firewall_action": "BLOCK", "action": "BLOCK", "dns.firewall_rule_group": "rslvr-frg-01234567890abcdef",
		"cloud.account_id": "111122223333", "cloud.region": "us-east-1", "event_version": "1.100000", "msg_class": Class}
	for k, w := range want {
		if g := got[k]; g != w {
			t.Errorf("%s = %v (%T), want %v", k, g, g, w)
		}
	}
	if a, _ := got["dns.answers"].([]string); len(a) != 1 || a[0] != "203.0.113.9" {
		t.Errorf("dns.answers = %v", got["dns.answers"])
	}
	if ts, _ := got["timestamp"].(string); !strings.HasPrefix(ts, "2021-02-04T17:51:55") {
		t.Errorf("timestamp = %v", got["timestamp"])
	}
}

// TestBadLineAloneIsQuarantined: from an outside try: a line that is no
// JSON object, or one longer than MaxLine, is quarantined on its own and
// the records after it are read (it quarantined the rest of the object).
func TestBadLineAloneIsQuarantined(t *testing.T) {
	good := func(name string) string {
		return `{"version":"1.100000","query_timestamp":"2024-05-01T10:00:06Z","query_name":"` + name + `","query_type":"A"}` + "\n"
	}
	in := good("a.example.") + "garbage\n" + `{"x":"` + strings.Repeat("y", MaxLine+10) + `"}` + "\n" + good("b.example.")
	res := decode(t, strings.NewReader(in))
	if len(res.Records) != 2 || len(res.RecordErrors) != 2 || res.ObjectError != "" {
		t.Fatalf("records %d, record errors %d (%v), object error %v: want 2, 2, none", len(res.Records), len(res.RecordErrors), res.RecordErrors, res.ObjectError)
	}
	if !strings.Contains(res.RecordErrors[1].Reason, "longer than") {
		t.Errorf("the long line's reason: %q", res.RecordErrors[1].Reason)
	}
}
