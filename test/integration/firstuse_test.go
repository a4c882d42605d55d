package integration

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestConnectorTestSamplesPastEmptyFiles: CloudTrail delivers
// {"Records":[]} when an account is quiet. Test reads the newest objects
// until one has records; when every sampled one is empty, it passes and
// says so.
func TestConnectorTestSamplesPastEmptyFiles(t *testing.T) {
	srv := s3server.Start(t)
	objs, _ := trailObjects(5, 2, 5)
	bucket(t, srv, "quiet", objs)
	day := time.Now().UTC().Format("2006/01/02")
	empty := func(name string) gen.Object {
		return gen.Object{Key: "AWSLogs/" + acct + "/CloudTrail/us-east-1/" + day + "/" + acct + "_CloudTrail_us-east-1_" + name + ".json.gz", Body: gz([]byte(`{"Records":[]}`))}
	}
	// S3 times are whole seconds: the empty objects must be newer.
	time.Sleep(1100 * time.Millisecond)
	srv.Fill(t, "quiet", []gen.Object{empty("z1"), empty("z2")})
	data := t.TempDir()
	addConnector(t, srv, data, "quiet", "quiet", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	r := trawl(t, data, nil, "connector", "test", "quiet")
	if r.code != 0 || !strings.Contains(r.stdout, "Success") || !strings.Contains(r.stdout, "decoded as cloudtrail") {
		t.Fatalf("test with empty newest objects: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A newest object of garbage is damage, not a wrong sub type: Test
	// passes on the older objects and names the one that will be
	// quarantined.
	time.Sleep(1100 * time.Millisecond)
	garbage := gen.Object{Key: "AWSLogs/" + acct + "/CloudTrail/us-east-1/" + day + "/" + acct + "_CloudTrail_us-east-1_zz-garbage.json.gz", Body: []byte("\x00\xffnot a log at all")}
	srv.Fill(t, "quiet", []gen.Object{garbage})
	r = trawl(t, data, nil, "connector", "test", "quiet")
	if r.code != 0 || !strings.Contains(r.stdout, "decoded as cloudtrail") || !strings.Contains(r.stdout, "zz-garbage.json.gz") || !strings.Contains(r.stdout, "quarantined") {
		t.Fatalf("test with a garbage newest object: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The same objects read as VPC flow logs: every sample fails, and Test
	// fails with the sub type advice.
	addConnector(t, srv, data, "wrongtype", "quiet", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey, "--subtype", "vpcflow")
	r = trawl(t, data, nil, "connector", "test", "wrongtype")
	if r.code == 0 || !strings.Contains(r.stdout, "none of the") || !strings.Contains(r.stdout, "sub type") {
		t.Fatalf("test of CloudTrail objects as vpcflow: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Only empty objects: readable, nothing to decode yet, and it says so.
	srv.Fill(t, "allquiet", []gen.Object{empty("a"), empty("b")})
	addConnector(t, srv, data, "allquiet", "allquiet", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	r = trawl(t, data, nil, "connector", "test", "allquiet")
	if r.code != 0 || !strings.Contains(r.stdout, "Success") || !strings.Contains(r.stdout, "hold no records") {
		t.Fatalf("test with only empty objects: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// quarantined returns `trawl quarantine list --json` entries by key suffix.
func quarantined(t *testing.T, data, connector string) map[string][]map[string]any {
	t.Helper()
	out := mustTrawl(t, data, "quarantine", "list", "--json", "--limit", "1000", "--connector", connector)
	var items []map[string]any
	if err := json.Unmarshal([]byte(out), &items); err != nil {
		t.Fatalf("quarantine list --json: %v\n%s", err, out)
	}
	byKey := map[string][]map[string]any{}
	for _, it := range items {
		k := it["key"].(string)
		byKey[k[strings.LastIndex(k, "/")+1:]] = append(byKey[k[strings.LastIndex(k, "/")+1:]], it)
	}
	return byKey
}

// TestGarbageNeverStopsAConnector: objects no decoder can read sit before
// good ones in the same folders (keys sort first, so they are met first).
// The run succeeds, every good record is stored once, each bad object is
// quarantined with a reason (bytes kept exactly, even when not UTF-8), and
// the next run neither fails on them nor reads them again.
func TestGarbageNeverStopsAConnector(t *testing.T) {
	srv := s3server.Start(t)
	start := time.Now().UTC().Add(-2 * time.Hour)
	day := start.Format("2006/01/02/")
	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rnd.UintN(256))
	}
	// A 10 MB line of random letters: compressible like real text, so it
	// is not mistaken for a decompression bomb.
	long := make([]byte, 10<<20)
	for i := range long {
		long[i] = 'a' + byte(rnd.UintN(26))
	}
	header := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
	line := func(iface string) string {
		return "2 " + acct + " " + iface + " 10.0.0.1 10.0.0.2 1 22 6 1 40 " + epoch(start) + " " + epoch(start) + " REJECT OK\n"
	}
	flowDir := "AWSLogs/" + acct + "/vpcflowlogs/eu-west-1/" + day
	bad := []gen.Object{
		{Key: flowDir + "000-random.log.gz", Body: random},
		{Key: flowDir + "001-random-gzip-magic.log.gz", Body: append([]byte{0x1f, 0x8b, 8, 0}, random...)},
		{Key: flowDir + "002-empty.log.gz", Body: gz(nil)},
		{Key: flowDir + "003-header-only.log.gz", Body: gz([]byte(header))},
		{Key: flowDir + "004-long-line.log.gz", Body: gz(long)},
		{Key: flowDir + "005-nul.log.gz", Body: gz([]byte(header + line("eni-\x00nul") + line("eni-ok")))},
		{Key: flowDir + "006-not-utf8.log.gz", Body: gz([]byte(header + line("eni-\xff\xfe") + line("eni-ok2")))},
	}
	flows := gen.VPCFlow(gen.FlowSpec{Seed: 3, Account: acct, Region: "eu-west-1", Start: start, Span: time.Hour, Objects: 3, RecordsPerObj: 100})
	objs := append([]gen.Object(nil), bad...)
	good := 0
	for _, f := range flows {
		objs = append(objs, f.Object)
		good += f.Records
	}
	good += 3 // eni-ok, eni-ok2, and the line with a NUL byte (valid UTF-8)
	bucket(t, srv, "garbage-flow", objs)

	trail, trailIDs := trailObjects(17, 2, 20)
	trailDir := "AWSLogs/" + acct + "/CloudTrail/us-east-1/" + day
	rec := func(name, extra string) string {
		return `{"eventVersion":"1.08","eventTime":"` + start.Format(time.RFC3339) + `","eventSource":"iam.amazonaws.com","eventName":"` + name + `","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"` + extra + `","recipientAccountId":"` + acct + `"}`
	}
	trailBad := []gen.Object{
		{Key: trailDir + "000-random.json.gz", Body: random},
		{Key: trailDir + "001-empty.json.gz", Body: gz(nil)},
		{Key: trailDir + "002-not-utf8.json.gz", Body: gz([]byte(`{"Records":[` + rec("Bad", "agent-\xc3\x28") + `,` + rec("Good1", "agent") + `]}`))},
		{Key: trailDir + "003-nul.json.gz", Body: gz([]byte(`{"Records":[` + rec("Nul", `agent\u0000x`) + `]}`))},
		{Key: trailDir + "004-long-line.json.gz", Body: gz(append([]byte(`{"Records":[{"eventTime":"`+start.Format(time.RFC3339)+`","eventName":"Long","pad":"`), append(long, []byte(`"}]}`)...)...))},
	}
	bucket(t, srv, "garbage-trail", append(trailBad, trail...))
	goodTrail := len(trailIDs) + 3 // Good1, Nul, Long

	data := t.TempDir()
	addTyped(t, srv, data, "flows", "vpcflow", "garbage-flow", "AWSLogs/"+acct+"/vpcflowlogs", "gzip")
	addTyped(t, srv, data, "trail", "cloudtrail", "garbage-trail", "AWSLogs/"+acct+"/CloudTrail", "gzip")
	for round := 0; round < 2; round++ {
		r := trawl(t, data, nil, "collect", "--once")
		if r.code != 0 {
			t.Fatalf("round %d: collect failed: exit %d\n%s%s", round, r.code, r.stdout, r.stderr)
		}
		if round == 1 {
			for _, name := range []string{"flows", "trail"} {
				if row := collectRow(t, r.stdout, name); row["RECORDS"] != "0" || row["ERRORS"] != "0" || row["QUARANTINED"] != "0" {
					t.Errorf("second run of %s touched something: %v", name, row)
				}
			}
		}
	}
	if n := count(t, data, "--index", "traffic"); n != good {
		t.Errorf("traffic holds %d records, want %d", n, good)
	}
	if n := count(t, data, "--index", "aws_events"); n != goodTrail {
		t.Errorf("aws_events holds %d records, want %d", n, goodTrail)
	}
	if n := count(t, data, `interface_id:eni-ok2`); n != 1 {
		t.Errorf("the good line after a non-UTF-8 line: %d", n)
	}
	q := quarantined(t, data, "flows")
	for _, k := range []string{"000-random.log.gz", "001-random-gzip-magic.log.gz", "004-long-line.log.gz", "006-not-utf8.log.gz"} {
		if len(q[k]) == 0 || q[k][0]["reason"] == "" {
			t.Errorf("flows: %s is not in the quarantine with a reason: %v", k, q[k])
		}
	}
	for _, k := range []string{"002-empty.log.gz", "003-header-only.log.gz"} {
		if len(q[k]) != 0 {
			t.Errorf("flows: %s holds no records but was quarantined: %v", k, q[k])
		}
	}
	// Bytes that are not UTF-8 are kept exactly.
	if e := q["006-not-utf8.log.gz"]; len(e) == 0 || !strings.Contains(fmt.Sprint(e[0]["reason"]), "UTF-8") || e[0]["raw_base64"] == nil {
		t.Errorf("non-UTF-8 line: %v", e)
	} else if raw, _ := base64.StdEncoding.DecodeString(e[0]["raw_base64"].(string)); !bytes.Contains(raw, []byte("eni-\xff\xfe")) {
		t.Errorf("non-UTF-8 bytes not kept exactly: %q", raw)
	}
	qt := quarantined(t, data, "trail")
	for _, k := range []string{"000-random.json.gz", "002-not-utf8.json.gz"} {
		if len(qt[k]) == 0 {
			t.Errorf("trail: %s is not in the quarantine", k)
		}
	}
	if n := count(t, data, "event_name:Nul"); n != 1 {
		t.Errorf("a record with an escaped NUL: %d", n)
	}
}
