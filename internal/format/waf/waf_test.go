package waf

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

const key = "AWSLogs/123456789012/WAFLogs/eu-west-1/shop-acl/2024/05/01/10/00/123456789012_waflogs_eu-west-1_shop-acl_20240501T1000Z_abc.log.gz"

func decode(t testing.TB, r io.Reader, k string) formattest.Result {
	t.Helper()
	res, err := formattest.Run(r, interflow.Events(), "aws_waf", "waf", func(r io.Reader) formattest.Decoder { return NewDecoder(r, k) })
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) < 5 {
		t.Fatalf("testdata missing")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, _ := os.ReadFile(f)
			res := decode(t, bytes.NewReader(b), key)
			formattest.Golden(t, strings.TrimSuffix(f, ".json")+".golden", res)
			var gz bytes.Buffer
			w := gzip.NewWriter(&gz)
			w.Write(b)
			w.Close()
			if res2 := decode(t, &gz, key); len(res2.Records) != len(res.Records) {
				t.Error("gzip and text decode differently")
			}
		})
	}
}

func TestValues(t *testing.T) {
	b, _ := os.ReadFile("testdata/ndjson.json")
	res := decode(t, bytes.NewReader(b), key)
	if len(res.Records) != 6 {
		t.Fatalf("records = %d", len(res.Records))
	}
	r := res.Records[0]
	for k, v := range map[string]any{"action": "BLOCK", "srcip": "198.51.100.7", "http.country": "US", "http.method": "POST", "http.uri": "/login",
		"http.args": "q=1", "http.host": "shop.example.com", "http.version": "HTTP/1.1", "user_agent": "Mozilla/5.0", "rule_id": "AWS-AWSManagedRulesSQLiRuleSet",
		"rule_type": "MANAGED_RULE_GROUP", "http_source": "ALB", "request_id": "req-1714557600000", "ja3": "e7d705a3286e19ea42f587b344ee6865",
		"ja4": "t13d1516h2_8daaf6152771_02713d6af862", "timestamp": "2024-05-01T10:00:00Z", "msg_class": "aws_waf", "msg_origin.category": "waf",
		"index": "aws_events", "cloud.account_id": "123456789012", "cloud.region": "eu-west-1",
		"web_acl": "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/shop-acl/1111-2222"} {
		if r[k] != v {
			t.Errorf("%s = %#v, want %#v", k, r[k], v)
		}
	}
	if l, _ := r["labels"].([]string); len(l) != 1 || l[0] != "awswaf:managed:aws:sql-database:SQLi_Body" {
		t.Errorf("labels = %#v", r["labels"])
	}
	for i, want := range []string{"BLOCK", "ALLOW", "COUNT", "CAPTCHA", "CHALLENGE", "BLOCK"} {
		if res.Records[i]["action"] != want {
			t.Errorf("record %d action %v", i, res.Records[i]["action"])
		}
	}
	if res.Records[1]["http.host"] != "shop.example.com" || res.Records[4]["http.host"] != "shop.example.com" {
		t.Error("Host header must match case-insensitively")
	}
	if res.Records[4]["timestamp"] != "2024-05-01T10:00:04Z" || res.Records[4]["http.response_code"] != int64(202) || res.Records[4]["srcip"] != "2001:db8::7" {
		t.Errorf("string timestamp / response code / IPv6: %v", res.Records[4])
	}
	// Without WAFLogs in the key, account and region come from the web ACL ARN.
	res = decode(t, bytes.NewReader(b), "custom/prefix/file.log")
	if res.Records[0]["cloud.account_id"] != "123456789012" || res.Records[0]["cloud.region"] != "eu-west-1" {
		t.Errorf("ARN fallback: %v %v", res.Records[0]["cloud.account_id"], res.Records[0]["cloud.region"])
	}
}

func TestBadInput(t *testing.T) {
	b, _ := os.ReadFile("testdata/bad_records.json")
	res := decode(t, bytes.NewReader(b), key)
	if len(res.Records) != 2 || len(res.RecordErrors) != 2 || res.ObjectError != "" {
		t.Fatalf("records %d errors %v object %q", len(res.Records), res.RecordErrors, res.ObjectError)
	}
	b, _ = os.ReadFile("testdata/truncated.json")
	res = decode(t, bytes.NewReader(b), key)
	if len(res.Records) != 1 || !strings.Contains(res.ObjectError, "truncated") {
		t.Errorf("truncated: %d records, %q", len(res.Records), res.ObjectError)
	}
	b, _ = os.ReadFile("testdata/bad_structure.json")
	res = decode(t, bytes.NewReader(b), key)
	if len(res.Records) != 1 || res.ObjectError == "" {
		t.Errorf("bad structure: %d records, %q", len(res.Records), res.ObjectError)
	}
}
