package integration

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// gdExport is what a generated export object holds, finding by finding.
type gdExport struct {
	ID        string  `json:"id"`
	Severity  float64 `json:"severity"`
	UpdatedAt string  `json:"updatedAt"`
	Service   struct {
		Count int `json:"count"`
	} `json:"service"`
}

func gdFindings(t *testing.T, body []byte) ([]gdExport, [][]byte) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(zr)
	lines := bytes.SplitAfter(text, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	var out []gdExport
	for _, l := range lines {
		var f gdExport
		if err := json.Unmarshal(l, &f); err != nil {
			t.Fatalf("generated finding: %v", err)
		}
		out = append(out, f)
	}
	return out, lines
}

// TestGuardDutyFindingsThroughTheBinary: GuardDuty findings exported to
// S3 on versitygw, as GuardDuty lays them out under an export's log file
// prefix (<prefix>/AWSLogs/<account>/GuardDuty/<region>/YYYY/MM/DD/
// <uuid>.jsonl.gz) in two regions, collected by the binary through one
// guardduty connector. Exact counts by search (all, by region, by
// severity); the one garbage line in an otherwise good object is
// quarantined on its own with its reason, record number and byte offset
// while the findings around it are stored; a finding exported several
// times is that many records, newest first; the High finding raised
// trawl-gd-001 at ingest, its alert holding that record; the connector's
// Test finds both region folders and decodes the findings; a second run
// collects nothing.
func TestGuardDutyFindingsThroughTheBinary(t *testing.T) {
	srv := s3server.Start(t)
	data := t.TempDir()
	now := time.Now().UTC()
	const exportPrefix = "findings/"
	var objs []gen.Object
	var all []gdExport
	want, highs, east := 0, 0, 0
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		hi := 0
		if region == "us-east-1" {
			hi = 1
		}
		for _, c := range gen.GuardDuty(gen.GuardDutySpec{Seed: 31, Account: acct, Region: region, Start: now.Add(-2 * time.Hour), Span: time.Hour,
			Objects: 3, RecordsPerObj: 12, Highs: hi}) {
			c.Key = exportPrefix + c.Key
			objs = append(objs, c.Object)
			fs, _ := gdFindings(t, c.Body)
			all = append(all, fs...)
			want += c.Records
			highs += c.Matches
			if region == "us-east-1" {
				east += c.Records
			}
		}
	}
	if highs != 1 {
		t.Fatalf("%d High findings generated, want 1", highs)
	}

	// Three good findings, a garbage line, two more, in one object.
	fs, lines := gdFindings(t, objs[1].Body)
	garbageLine := "this is not a finding\n"
	body := append(bytes.Join(lines[:3], nil), garbageLine...)
	body = append(body, bytes.Join(lines[3:5], nil)...)
	garbage := objs[1].Key[:strings.LastIndex(objs[1].Key, "/")+1] + "0bad1ine-0000-4000-8000-000000000000.jsonl.gz"
	objs = append(objs, gen.Object{Key: garbage, Body: gzipped(body)})
	all = append(all, fs[:5]...)
	want, east = want+5, east+5 // objs[1] is in us-east-1's folder
	bucket(t, srv, "security-findings", objs)

	addTyped(t, srv, data, "gd", "guardduty", "security-findings", exportPrefix+"AWSLogs/"+acct+"/GuardDuty", "gzip")
	if r := trawl(t, data, nil, "connector", "test", "gd"); r.code != 0 || !strings.Contains(r.stdout, "decoded as guardduty") ||
		!strings.Contains(r.stdout, "2 folders collected") {
		t.Errorf("connector test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	out := mustTrawl(t, data, "collect", "--once")
	row := collectRow(t, out, "gd")
	if row["RESULT"] != "ok" || row["RECORDS"] != strconv.Itoa(want) || row["OBJECTS"] != "7" || row["QUARANTINED"] != "1" {
		t.Fatalf("collect: %v, want %d records from 7 objects, 1 quarantined\n%s", row, want, out)
	}
	if n := count(t, data, "msg_class:guardduty"); n != want {
		t.Errorf("msg_class:guardduty: %d, want %d", n, want)
	}
	if n := count(t, data, "msg_class:guardduty AND cloud.region:us-east-1 AND cloud.account_id:"+acct); n != east {
		t.Errorf("us-east-1's findings: %d, want %d", n, east)
	}
	if n := count(t, data, "finding.severity:>=7"); n != 1 {
		t.Errorf("finding.severity:>=7: %d, want the one High finding", n)
	}
	if n := count(t, data, `finding.severity_label:High AND finding.type:"`+gen.GuardDutyHighType+`" AND dstip:`+gen.Attacker); n != 1 {
		t.Errorf("the High finding by its label, type and destination: %d, want 1", n)
	}
	if n := count(t, data, "finding.severity:[0 TO 7} AND msg_class:guardduty"); n != want-1 {
		t.Errorf("findings below High: %d, want %d", n, want-1)
	}
	if n := count(t, data, `origin.key:"`+garbage+`"`); n != 5 {
		t.Errorf("findings of the object with the garbage line: %d, want 5", n)
	}

	checkGarbageLine(t, data, garbage, int64(len(bytes.Join(lines[:3], nil))+len(garbageLine)), garbageLine)
	checkVersions(t, data, all)
	checkHighAlert(t, data)

	out = mustTrawl(t, data, "collect", "--once")
	if row := collectRow(t, out, "gd"); row["RECORDS"] != "0" || row["OBJECTS"] != "0" {
		t.Errorf("second run: %v", row)
	}
}

// checkGarbageLine: the garbage line of the object at key is the
// connector's one quarantined item, alone, as record 3 ending at byte end,
// with its reason and its bytes.
func checkGarbageLine(t *testing.T, data, key string, end int64, line string) {
	t.Helper()
	q := quarantined(t, data, "gd")
	name := key[strings.LastIndex(key, "/")+1:]
	if len(q) != 1 || len(q[name]) != 1 {
		t.Fatalf("quarantine: %v, want one item, of %s", q, name)
	}
	it := q[name][0]
	if it["scope"] != "record" || it["position"] != 3.0 || it["offset"] != float64(end) || !strings.Contains(fmt.Sprint(it["reason"]), "not valid JSON") ||
		it["raw"] != strings.TrimSuffix(line, "\n") {
		t.Errorf("quarantined: %v, want the garbage line of %s alone (record 3, ending at byte %d), with its reason", it, name, end)
	}
}

// checkVersions: the finding exported most often is that many records,
// the newest (greatest updatedAt, greatest count) first.
func checkVersions(t *testing.T, data string, all []gdExport) {
	t.Helper()
	byID := map[string][]gdExport{}
	for _, f := range all {
		byID[f.ID] = append(byID[f.ID], f)
	}
	var id string
	for k, v := range byID {
		if len(v) > len(byID[id]) || len(v) == len(byID[id]) && k < id {
			id = k
		}
	}
	exports := byID[id]
	if len(exports) < 2 {
		t.Fatalf("no finding is exported twice among %d: the generator makes updates", len(all))
	}
	latest := slices.MaxFunc(exports, func(a, b gdExport) int { return strings.Compare(a.UpdatedAt, b.UpdatedAt) })
	rows := searchAll(t, data, "finding.id:"+id)
	if len(rows) != len(exports) {
		t.Fatalf("finding.id:%s: %d records, want one per export (%d)", id, len(rows), len(exports))
	}
	got, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(rows[0]["timestamp"]))
	wantT, _ := time.Parse(time.RFC3339Nano, latest.UpdatedAt)
	if !got.Equal(wantT) || rows[0]["finding.count"] != float64(latest.Service.Count) {
		t.Errorf("the finding's first record: timestamp %v, count %v; want its latest export, %s with count %d", rows[0]["timestamp"], rows[0]["finding.count"], latest.UpdatedAt, latest.Service.Count)
	}
}

// checkHighAlert: the High finding raised trawl-gd-001 at ingest, once,
// holding its record.
func checkHighAlert(t *testing.T, data string) {
	t.Helper()
	high := searchAll(t, data, "finding.severity:>=7")
	if len(high) != 1 {
		t.Fatalf("%d High findings", len(high))
	}
	id := fmt.Sprint(high[0]["id"])
	var alerts []struct {
		RuleID  string   `json:"rule_id"`
		Count   int64    `json:"count"`
		Records []string `json:"records"`
	}
	out := mustTrawl(t, data, "alerts", "--format", "json", "--since", "-7d")
	if err := json.Unmarshal([]byte(out), &alerts); err != nil {
		t.Fatalf("alerts json: %v\n%s", err, out)
	}
	var gd int
	for _, a := range alerts {
		if a.RuleID != "trawl-gd-001" {
			continue
		}
		gd++
		if a.Count != 1 || !slices.Contains(a.Records, id) {
			t.Errorf("trawl-gd-001 alert: count %d, records %v; want the High finding %s alone", a.Count, a.Records, id)
		}
	}
	if gd != 1 {
		t.Errorf("%d trawl-gd-001 alerts, want 1 (the High finding's)\n%s", gd, out)
	}
}
