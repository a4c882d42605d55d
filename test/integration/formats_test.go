package integration

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

func addTyped(t *testing.T, srv *s3server.Server, data, name, subtype, bucketName, prefix, fileType string) {
	t.Helper()
	sf := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(sf, []byte(srv.SecretKey), 0o600)
	mustTrawl(t, data, "connector", "add", "--name", name, "--tenant", "acme", "--subtype", subtype, "--bucket", bucketName,
		"--prefix", prefix, "--access-key-id", srv.AccessKey, "--secret-access-key-file", sf, "--endpoint", srv.Endpoint,
		"--path-style", "--start", "-72h", "--file-type", fileType)
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// TestThreeSubTypes: one bucket per sub type on versitygw, collected by
// three connectors; exact counts per index, exact query results, and bad
// input (a corrupt object, a truncated one, a bad line) in the quarantine
// while every good record is stored once.
func TestThreeSubTypes(t *testing.T) {
	srv := s3server.Start(t)
	start := time.Now().UTC().Add(-2 * time.Hour)

	trail, trailIDs := trailObjects(31, 3, 30)
	bucket(t, srv, "ct-bucket", trail)

	flows := gen.VPCFlow(gen.FlowSpec{Seed: 5, Account: acct, Region: "eu-west-1", Start: start, Span: time.Hour, Objects: 4, RecordsPerObj: 120})
	hive := gen.VPCFlow(gen.FlowSpec{Seed: 6, Account: acct, Region: "eu-west-1", Start: start, Span: time.Hour, Objects: 2, RecordsPerObj: 50, Hive: true,
		Fields: strings.Fields("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type region flow-direction")})
	var flowObjs []gen.Object
	flowRecords, rejects := 0, 0
	for _, f := range append(flows, hive...) {
		flowObjs = append(flowObjs, f.Object)
		flowRecords += f.Records
		rejects += f.Matches
	}
	// A bad line in an otherwise good object: 2 good records, 1 quarantined.
	badLine := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n" +
		"2 " + acct + " eni-1 10.0.0.1 10.0.0.2 1 22 6 1 40 " + epoch(start) + " " + epoch(start) + " REJECT OK\n" +
		"2 " + acct + " eni-1 10.0.0.1 10.0.0.2 1 22 6 1 40 " + epoch(start) + " REJECT OK\n" +
		"2 " + acct + " eni-1 10.0.0.1 10.0.0.2 1 443 6 1 40 " + epoch(start) + " " + epoch(start) + " ACCEPT OK\n"
	// Bad objects sit in today's folders, as AWS would deliver them.
	day := start.Format("2006/01/02/")
	flowObjs = append(flowObjs, gen.Object{Key: "AWSLogs/" + acct + "/vpcflowlogs/eu-west-1/" + day + "bad-line.log.gz", Body: gzipped([]byte(badLine))})
	flowRecords += 2
	rejects++
	// A corrupt object: not gzip, not a flow log.
	flowObjs = append(flowObjs, gen.Object{Key: "AWSLogs/" + acct + "/vpcflowlogs/eu-west-1/" + day + "corrupt.log.gz", Body: append([]byte{0x1f, 0x8b, 8, 0}, bytes.Repeat([]byte{0xde, 0xad}, 500)...)})
	bucket(t, srv, "flow-bucket", flowObjs)

	wafs := gen.WAF(gen.WAFSpec{Seed: 8, Account: acct, Region: "eu-west-1", WebACL: "shop-acl", Start: start, Span: time.Hour, Objects: 3, RecordsPerObj: 70})
	wafs = append(wafs, gen.WAF(gen.WAFSpec{Seed: 9, Account: acct, Region: "eu-west-1", WebACL: "shop-acl", Start: start, Span: time.Hour, Objects: 1, RecordsPerObj: 30, Concatenated: true})...)
	var wafObjs []gen.Object
	wafRecords, blocks := 0, 0
	for _, w := range wafs {
		wafObjs = append(wafObjs, w.Object)
		wafRecords += w.Records
		blocks += w.Matches
	}
	// A truncated object: the first 10 records are whole, the rest is cut.
	whole := gen.WAF(gen.WAFSpec{Seed: 10, Account: acct, Region: "eu-west-1", WebACL: "shop-acl", Start: start, Span: time.Hour, Objects: 1, RecordsPerObj: 20, Plain: true})[0]
	lines := bytes.SplitAfter(whole.Body, []byte("\n"))
	cut := append(bytes.Join(lines[:10], nil), lines[10][:len(lines[10])/2]...)
	wafObjs = append(wafObjs, gen.Object{Key: "AWSLogs/" + acct + "/WAFLogs/eu-west-1/shop-acl/" + day + "10/00/truncated.log.gz", Body: gzipped(cut)})
	wafRecords += 10
	for _, l := range lines[:10] {
		if bytes.Contains(l, []byte(`"action":"BLOCK"`)) {
			blocks++
		}
	}
	bucket(t, srv, "waf-bucket", wafObjs)

	data := t.TempDir()
	addConnector(t, srv, data, "trail", "ct-bucket", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	addTyped(t, srv, data, "flows", "vpcflow", "flow-bucket", "AWSLogs", "gzip")
	addTyped(t, srv, data, "waf", "waf", "waf-bucket", "AWSLogs/"+acct+"/WAFLogs", "gzip")

	out := mustTrawl(t, data, "collect", "--once")
	if r := collectRow(t, out, "flows"); r["QUARANTINED"] != "2" || r["RESULT"] != "ok" {
		t.Errorf("flows: %v\n%s", r, out)
	}
	if r := collectRow(t, out, "waf"); r["QUARANTINED"] != "1" || r["RESULT"] != "ok" {
		t.Errorf("waf: %v\n%s", r, out)
	}
	for q, want := range map[string]int{
		"":                                    len(trailIDs) + flowRecords + wafRecords,
		"index:aws_events":                    len(trailIDs) + wafRecords,
		"index:traffic":                       flowRecords,
		"msg_class:cloudtrail":                len(trailIDs),
		"msg_class:vpcflow AND action:REJECT": rejects,
		"msg_class:aws_waf AND action:BLOCK":  blocks,
		"msg_class:aws_waf AND msg_origin.category:waf":                               wafRecords,
		"msg_class:vpcflow AND msg_origin.category:paas AND cloud.account_id:" + acct: flowRecords,
		"log_status:NODATA AND NOT srcip:*":                                           countNoData(flows, hive),
		"labels:awswaf\\:managed\\:aws\\:sql-database*":                               blocks,
	} {
		if n := count(t, data, q); n != want {
			t.Errorf("count(%q) = %d, want %d", q, n, want)
		}
	}
	if n := count(t, data, "--index", "traffic"); n != flowRecords {
		t.Errorf("--index traffic: %d, want %d", n, flowRecords)
	}
	// Every stored record is stored once.
	for _, q := range []string{"msg_class:vpcflow", "msg_class:aws_waf"} {
		rows := searchAll(t, data, q)
		seen := map[string]bool{}
		for _, r := range rows {
			key := r["origin.key"].(string) + "#" + jsonNum(r["origin.position"])
			if seen[key] {
				t.Fatalf("%s stored twice", key)
			}
			seen[key] = true
		}
	}
	// The quarantine names what failed and why.
	var items []map[string]any
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "quarantine", "list", "--json")), &items); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, it := range items {
		reasons[filepath.Base(it["key"].(string))] = it["reason"].(string)
	}
	for k, want := range map[string]string{"bad-line.log.gz": "has 13 fields", "corrupt.log.gz": "gzip", "truncated.log.gz": "truncated"} {
		if !strings.Contains(reasons[k], want) {
			t.Errorf("quarantine for %s: %q, want it to mention %q (all: %v)", k, reasons[k], want, reasons)
		}
	}
	// A second run collects nothing and does not retry quarantined objects.
	out = mustTrawl(t, data, "collect", "--once")
	for _, n := range []string{"trail", "flows", "waf"} {
		if r := collectRow(t, out, n); r["RECORDS"] != "0" || r["QUARANTINED"] != "0" || r["OBJECTS"] != "0" {
			t.Errorf("second run %s: %v", n, r)
		}
	}
	// Retry: the bad line is still bad; the truncated object is requeued,
	// read again from its committed position, and quarantined again
	// without storing any record twice.
	out = mustTrawl(t, data, "quarantine", "retry", "--connector", "waf")
	if !strings.Contains(out, "waf") {
		t.Errorf("retry output: %s", out)
	}
	mustTrawl(t, data, "collect", "--once")
	if n := count(t, data, "msg_class:aws_waf"); n != wafRecords {
		t.Errorf("after retry: %d WAF records, want %d", n, wafRecords)
	}
}

func epoch(t time.Time) string { return jsonNum(float64(t.Unix())) }

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func countNoData(sets ...[]gen.Counted) int {
	n := 0
	for _, s := range sets {
		for _, o := range s {
			zr, _ := gzip.NewReader(bytes.NewReader(o.Body))
			var b bytes.Buffer
			b.ReadFrom(zr)
			n += strings.Count(b.String(), " NODATA")
		}
	}
	return n
}
