package cloudtrail

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trawlhq/trawl/internal/format/formattest"
)

// TestCorpus decodes every CloudTrail sample in ../shared/corpus, compares
// the normalized output with goldens (raw bytes hashed, never copied), and
// checks values against the source records.
func TestCorpus(t *testing.T) {
	corpus := formattest.CorpusDir(t)
	type sample struct {
		name string
		data []byte // an object as it would sit in S3
	}
	var samples []sample
	add := func(name string, b []byte) { samples = append(samples, sample{name, b}) }

	otel := filepath.Join(corpus, "otel-contrib/extension/encoding/awslogsencodingextension/internal/unmarshaler/cloudtraillog/testdata")
	for _, f := range []string{"cloudtrail_log.json", "cloudtrail_log_empty.json", "cloudtrail_digest.json", "cloudtrail_digest_empty.json", "cloudtrail_log_cw.json"} {
		b, err := os.ReadFile(filepath.Join(otel, f))
		if err != nil {
			t.Fatalf("corpus file missing: %v", err)
		}
		add("otel-"+f, b)
	}
	stratus, _ := filepath.Glob(filepath.Join(corpus, "stratus-red-team/docs/detonation-logs/*.json"))
	for _, f := range stratus {
		b, _ := os.ReadFile(f)
		add("stratus-"+filepath.Base(f), b)
	}
	b, _ := os.ReadFile(filepath.Join(corpus, "centralized-logging-with-opensearch/source/constructs/lambda/pipeline/log-processor/test/datafile/cloudtrail.log"))
	add("clo-cloudtrail.log", b)
	// Line-oriented extractions: each line is one record or one object.
	lines := func(path, key string) [][]byte {
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("corpus file missing: %v", err)
		}
		defer f.Close()
		var out [][]byte
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if key == "" {
				out = append(out, append([]byte(nil), sc.Bytes()...))
			} else {
				out = append(out, m[key])
			}
		}
		return out
	}
	var panther bytes.Buffer
	for _, l := range lines(filepath.Join(corpus, "panther-analysis/extracted_AWS_CloudTrail_tests.jsonl"), "log") {
		panther.Write(l)
		panther.WriteByte('\n')
	}
	add("panther-cloudtrail.jsonl", panther.Bytes())
	var docs bytes.Buffer
	for _, g := range []string{"cloudtrail-log-file-examples", "cloudtrail-event-reference-aws-console-sign-in-events", "cloudtrail-event-reference-user-identity"} {
		for _, l := range lines(filepath.Join(corpus, "awsdocs/derived", g+".json-blocks.jsonl"), "") {
			docs.Write(l)
			docs.WriteByte('\n')
		}
	}
	add("awsdocs-cloudtrail.jsonl", docs.Bytes())
	var cribl []struct {
		Raw string `json:"_raw"`
	}
	cb, _ := os.ReadFile(filepath.Join(corpus, "cribl-aws-cloudtrail-logs/data/samples/BeVTW2.json"))
	if err := json.Unmarshal(cb, &cribl); err != nil {
		t.Fatal(err)
	}
	var cr bytes.Buffer
	for _, c := range cribl {
		cr.WriteString(c.Raw)
		cr.WriteByte('\n')
	}
	add("cribl-samples.jsonl", cr.Bytes())

	total := 0
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			res := decode(t, bytes.NewReader(s.data))
			if res.ObjectError != "" {
				t.Errorf("object error: %s", res.ObjectError)
			}
			total += len(res.Records)
			formattest.Golden(t, filepath.Join("testdata", "corpus", strings.TrimSuffix(s.name, filepath.Ext(s.name))+".golden"), res)
			checkAgainstSource(t, s.data, res)
		})
	}
	if total < 800 {
		t.Errorf("only %d records decoded from the corpus; expected over 800", total)
	}
	t.Logf("%d corpus samples, %d records", len(samples), total)
}

// checkAgainstSource re-reads each record independently and checks the
// normalized values equal the source values.
func checkAgainstSource(t *testing.T, data []byte, res formattest.Result) {
	r := NewReader(bytes.NewReader(data))
	byPos := map[int64]map[string]any{}
	for _, rec := range res.Records {
		byPos[rec["origin.position"].(int64)] = rec
	}
	for pos := int64(0); ; pos++ {
		raw, err := r.Next()
		if err != nil {
			break
		}
		var src map[string]any
		if json.Unmarshal(raw, &src) != nil {
			continue
		}
		got, ok := byPos[pos]
		if !ok {
			if !quarantined(res, pos) {
				t.Errorf("record %d was neither stored nor quarantined", pos)
			}
			continue
		}
		for srcKey, field := range map[string]string{"eventName": "event_name", "eventSource": "event_source", "eventID": "event_id", "awsRegion": "cloud.region", "errorCode": "error_code", "eventType": "event_type"} {
			sv, ok := src[srcKey].(string)
			if !ok || sv == "" {
				continue
			}
			if got[field] != sv {
				t.Errorf("record %d: %s = %v, source %s = %q", pos, field, got[field], srcKey, sv)
			}
		}
		if ip, ok := src["sourceIPAddress"].(string); ok && ip != "" {
			if got["srcip"] == nil && got["src_host"] != ip {
				t.Errorf("record %d: sourceIPAddress %q is in neither srcip nor src_host", pos, ip)
			}
		}
		if ui, ok := src["userIdentity"].(map[string]any); ok {
			if u, ok := ui["userName"].(string); ok && u != "" && got["user.name"] != u {
				t.Errorf("record %d: user.name = %v, want %q", pos, got["user.name"], u)
			}
			if a, ok := ui["arn"].(string); ok && a != "" && got["user.arn"] != a {
				t.Errorf("record %d: user.arn = %v, want %q", pos, got["user.arn"], a)
			}
		}
	}
}

func quarantined(res formattest.Result, pos int64) bool {
	for _, e := range res.RecordErrors {
		if e.Position == pos {
			return true
		}
	}
	return false
}
