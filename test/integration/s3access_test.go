package integration

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestS3AccessBothKeyFormats: S3 server access logs on versitygw, under
// one target prefix in both of S3's key formats (flat, named by time, and
// date-partitioned), uncompressed as S3 writes them, collected by the
// binary through one s3access connector. Exact counts by search; the one
// garbage line in an otherwise good object is quarantined on its own with
// its reason while the records around it are stored; an object named
// weeks before the connector's start is never listed (the flat folder is
// listed from a start key, not whole); a second run collects nothing.
// The connector's Test finds both formats' folders and decodes them.
func TestS3AccessBothKeyFormats(t *testing.T) {
	srv := s3server.Start(t)
	data := t.TempDir()
	now := time.Now().UTC()
	var objs []gen.Object
	want, probes := 0, 0
	add := func(cs []gen.Counted) {
		for _, c := range cs {
			objs = append(objs, c.Object)
			want += c.Records
			probes += c.Matches
		}
	}
	flat := gen.S3Access(gen.S3AccessSpec{Seed: 21, Account: acct, Region: "eu-west-1", Bucket: "shop-assets", Prefix: "s3-access-logs/",
		Start: now.Add(-2 * time.Hour), Span: time.Hour, Objects: 3, RecordsPerObj: 40, Probes: 1})
	add(flat)
	part := gen.S3Access(gen.S3AccessSpec{Seed: 22, Account: acct, Region: "eu-west-1", Bucket: "shop-assets", Prefix: "s3-access-logs/", Partitioned: true,
		Start: now.Add(-2 * time.Hour), Span: time.Hour, Objects: 2, RecordsPerObj: 25})
	add(part)
	partRecords := part[0].Records + part[1].Records

	// Five good lines with a garbage line among them.
	lines := bytes.SplitAfter(flat[0].Body, []byte("\n"))
	body := append(bytes.Join(lines[:3], nil), "this is not a server access log record\n"...)
	body = append(body, bytes.Join(lines[3:5], nil)...)
	garbage := "s3-access-logs/" + now.Add(-30*time.Minute).Format("2006-01-02-15-04-05") + "-BAD0LINE0000000"
	objs = append(objs, gen.Object{Key: garbage, Body: body})
	want += 5

	// Named three weeks ago, before the connector's start: never listed.
	old := flat[1].Object
	old.Key = "s3-access-logs/" + now.AddDate(0, 0, -21).Format("2006-01-02-15-04-05") + "-OLD0000000000000"
	objs = append(objs, old)
	bucket(t, srv, "access-logs", objs)

	addTyped(t, srv, data, "s3logs", "s3access", "access-logs", "s3-access-logs", "text")
	// Test finds both formats' folders and decodes the newest objects.
	if r := trawl(t, data, nil, "connector", "test", "s3logs"); r.code != 0 || !strings.Contains(r.stdout, "decoded as s3access") ||
		!strings.Contains(r.stdout, "2 folders collected") {
		t.Errorf("connector test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	out := mustTrawl(t, data, "collect", "--once")
	row := collectRow(t, out, "s3logs")
	if row["RESULT"] != "ok" || row["RECORDS"] != strconv.Itoa(want) || row["OBJECTS"] != "6" || row["QUARANTINED"] != "1" {
		t.Fatalf("collect: %v, want %d records from 6 objects, 1 quarantined\n%s", row, want, out)
	}
	if n := count(t, data, "msg_class:s3access"); n != want {
		t.Errorf("msg_class:s3access: %d, want %d", n, want)
	}
	if n := count(t, data, fmt.Sprintf("cloud.account_id:%s AND cloud.region:eu-west-1 AND msg_class:s3access", acct)); n != partRecords {
		t.Errorf("records with the partitioned keys' account and region: %d, want %d", n, partRecords)
	}
	if n := count(t, data, "error_code:AccessDenied AND NOT s3.requester:* AND srcip:"+gen.Attacker); n != probes || probes != gen.ProbeRequests {
		t.Errorf("anonymous AccessDenied from the prober: %d, want %d", n, probes)
	}
	if n := count(t, data, `origin.key:"`+garbage+`"`); n != 5 {
		t.Errorf("records of the object with the garbage line: %d, want 5", n)
	}
	q := quarantined(t, data, "s3logs")
	name := garbage[strings.LastIndex(garbage, "/")+1:]
	if len(q) != 1 || len(q[name]) != 1 || q[name][0]["scope"] != "record" || !strings.Contains(fmt.Sprint(q[name][0]["reason"]), "the line has 8 fields") {
		t.Errorf("quarantine: %v, want the garbage line of %s alone, with its reason", q, name)
	}
	out = mustTrawl(t, data, "collect", "--once")
	if row := collectRow(t, out, "s3logs"); row["RECORDS"] != "0" || row["OBJECTS"] != "0" {
		t.Errorf("second run: %v", row)
	}
}
