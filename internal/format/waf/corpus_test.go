package waf

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/trawlhq/trawl/internal/format/formattest"
)

// TestCorpus decodes every WAF sample in ../shared/corpus and compares
// values with the expected outputs where they exist.
func TestCorpus(t *testing.T) {
	corpus := formattest.CorpusDir(t)
	otel := filepath.Join(corpus, "otel-contrib/extension/encoding/awslogsencodingextension/internal/unmarshaler/waf/testdata")
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("corpus file missing: %v", err)
		}
		return b
	}
	var docs bytes.Buffer
	f, err := os.Open(filepath.Join(corpus, "awsdocs/derived/waf-doc-examples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		docs.Write(sc.Bytes())
		docs.WriteByte('\n')
	}
	f.Close()
	var panther bytes.Buffer
	pf, err := os.Open(filepath.Join(corpus, "panther-analysis/extracted_AWS_WAFWebACL_tests.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sc = bufio.NewScanner(pf)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			panther.Write(m["log"])
			panther.WriteByte('\n')
		}
	}
	pf.Close()
	cases := []struct {
		name    string
		data    []byte
		records int
	}{
		{"otel-valid", read(filepath.Join(otel, "valid_log.json")), 1},
		{"otel-multi", read(filepath.Join(otel, "valid_log_multi.json")), 2},
		{"clo-waf", read(filepath.Join(corpus, "centralized-logging-with-opensearch/source/constructs/lambda/pipeline/log-processor/test/datafile/waf.log")), -1},
		{"awsdocs-waf", docs.Bytes(), 6},
		{"panther-waf", panther.Bytes(), -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := decode(t, bytes.NewReader(c.data), "corpus/"+c.name)
			if res.ObjectError != "" {
				t.Fatalf("object error: %s", res.ObjectError)
			}
			if c.records >= 0 && len(res.Records) != c.records {
				t.Errorf("records %d, want %d (rejected %v)", len(res.Records), c.records, res.RecordErrors)
			}
			if c.records < 0 && len(res.Records) == 0 {
				t.Error("no records")
			}
			for _, r := range res.Records {
				if r["action"] == nil || r["timestamp"] == nil {
					t.Errorf("record without action or timestamp: %v", r)
				}
			}
			formattest.Golden(t, filepath.Join("testdata", "corpus", c.name+".golden"), res)
		})
	}

	resource, want := formattest.OTelExpected(t, filepath.Join(otel, "valid_log_expected.yaml"))
	res := decode(t, bytes.NewReader(read(filepath.Join(otel, "valid_log.json"))), "corpus/x")
	if len(want) != 1 || len(res.Records) != 1 {
		t.Fatalf("expected 1 record, have %d and %d", len(want), len(res.Records))
	}
	got := res.Records[0]
	checks := map[string]string{"aws.waf.action": "action", "aws.waf.terminating_rule.id": "rule_id", "aws.waf.terminating_rule.type": "rule_type",
		"aws.waf.source.name": "http_source", "aws.waf.source.id": "http_source_id", "client.address": "srcip", "geo.country.iso_code": "http.country",
		"http.request.method": "http.method", "url.path": "http.uri", "http.request.header.host": "http.host", "http.request.header.user-agent": "user_agent",
		"tls.client.ja3": "ja3", "tls.client.ja4": "ja4", "aws.request_id": "request_id"}
	n := 0
	for otelName, ours := range checks {
		if v, ok := want[0][otelName]; ok {
			n++
			if fmt.Sprint(got[ours]) != v {
				t.Errorf("%s = %v, expected %s (%s)", ours, got[ours], v, otelName)
			}
		}
	}
	for otelName, ours := range map[string]string{"cloud.region": "cloud.region", "cloud.account.id": "cloud.account_id", "cloud.resource_id": "web_acl"} {
		n++
		if fmt.Sprint(got[ours]) != resource[otelName] {
			t.Errorf("%s = %v, expected %s", ours, got[ours], resource[otelName])
		}
	}
	if n < 12 {
		t.Errorf("only %d values compared", n)
	}
}
