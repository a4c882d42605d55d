package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

const acct = "123456789012"

func trailObjects(seed uint64, objects, records int) ([]gen.Object, map[string]string) {
	start := time.Now().UTC().Add(-3 * time.Hour)
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: seed, Accounts: []string{acct}, Regions: []string{"us-east-1", "eu-west-1"},
		Start: start, Span: 2 * time.Hour, Objects: objects, RecordsPerObj: records, Attacks: true})
	want := map[string]string{} // eventID -> key
	for _, o := range objs {
		for _, id := range o.EventIDs {
			want[id] = o.Key
		}
	}
	objs = append(objs, gen.Digest("", "", acct, "us-east-1", start))
	return objs, want
}

// TestCloudTrailEndToEnd: objects uploaded through the AWS SDK in
// CloudTrail's layout are collected exactly once and searchable with every
// Interflow field; a second run adds nothing.
func TestCloudTrailEndToEnd(t *testing.T) {
	srv := s3server.Start(t)
	objs, want := trailObjects(7, 6, 40)
	bucket(t, srv, "trail-logs", objs)
	data := t.TempDir()
	// The prefix stops at the account: discovery finds the CloudTrail
	// region folders and never descends into CloudTrail-Digest.
	addConnector(t, srv, data, "prod-trail", "trail-logs", "AWSLogs/"+acct, srv.SecretKey)

	out := mustTrawl(t, data, "collect", "--once")
	row := collectRow(t, out, "prod-trail")
	if row["RESULT"] != "ok" || row["OBJECTS"] != "12" || row["RECORDS"] != "480" || row["SKIPPED"] != "0" {
		t.Fatalf("first run: %v\n%s", row, out)
	}
	if n := count(t, data); n != len(want) {
		t.Fatalf("search --count = %d, want %d", n, len(want))
	}
	rows := searchAll(t, data, "")
	seen := map[string]int{}
	for _, r := range rows {
		id, _ := r["event_id"].(string)
		seen[id]++
		if want[id] == "" {
			t.Fatalf("record with unknown eventID %q", id)
		}
		if r["origin.key"] != want[id] || r["origin.bucket"] != "trail-logs" {
			t.Errorf("record %s: origin %v/%v, want trail-logs/%s", id, r["origin.bucket"], r["origin.key"], want[id])
		}
		for k, v := range map[string]string{"index": "aws_events", "msg_class": "cloudtrail", "msg_origin.source": "cloudtrail",
			"msg_origin.vendor": "aws", "msg_origin.category": "paas", "tenant": "acme", "connector": "prod-trail", "cloud.account_id": acct} {
			if r[k] != v {
				t.Errorf("record %s: %s = %v, want %s", id, k, r[k], v)
			}
		}
		for _, k := range []string{"timestamp", "event_name", "event_source", "event_type", "user.type", "user.arn", "user.name", "user_agent", "read_only", "raw", "id", "cloud.region"} {
			if r[k] == nil {
				t.Errorf("record %s has no %s", id, k)
			}
		}
		if r["srcip"] == nil && r["src_host"] == nil {
			t.Errorf("record %s has neither srcip nor src_host", id)
		}
		if raw, _ := r["raw"].(string); !strings.Contains(raw, id) {
			t.Errorf("raw of %s does not hold its record", id)
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("eventID %s stored %d times", id, seen[id])
		}
	}
	// Search language over the CLI.
	attacks := count(t, data, "event_name:(CreateUser OR AttachUserPolicy) AND srcip:185.220.0.0/16")
	if attacks == 0 {
		t.Error("attack sequence not found by query")
	}
	if n := count(t, data, "error_code:AccessDenied AND NOT srcip:10.0.0.0/8"); n >= len(want) {
		t.Errorf("filtered count %d not below total", n)
	}

	out = mustTrawl(t, data, "collect", "--once")
	if row := collectRow(t, out, "prod-trail"); row["RECORDS"] != "0" || row["OBJECTS"] != "0" {
		t.Fatalf("second run collected again: %v", row)
	}
	if n := count(t, data); n != len(want) {
		t.Fatalf("after second run: %d records, want %d", n, len(want))
	}
	lists := srv.CountRequests("list-type=2")
	if lists == 0 {
		t.Error("no ListObjectsV2 requests seen in the server log")
	}
}

// TestFreshBucketCountsMatch: against buckets it has never seen, laid out as
// CloudTrail lays them out, search --count equals the records uploaded,
// every time.
func TestFreshBucketCountsMatch(t *testing.T) {
	srv := s3server.Start(t)
	for i, seed := range []uint64{11, 12, 13} {
		objs, want := trailObjects(seed, 3+i, 25+i*7)
		name := []string{"fresh-a", "fresh-b", "fresh-c"}[i]
		bucket(t, srv, name, objs)
		data := t.TempDir()
		addConnector(t, srv, data, "c", name, "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
		mustTrawl(t, data, "collect", "--once")
		if n := count(t, data); n != len(want) {
			t.Errorf("bucket %s: search --count = %d, uploaded %d", name, n, len(want))
		}
	}
}

// TestWrongSecret: a wrong secret fails the run with a clear
// credentials error and a non-zero exit status.
func TestWrongSecret(t *testing.T) {
	srv := s3server.Start(t)
	objs, _ := trailObjects(3, 1, 5)
	bucket(t, srv, "trail-logs", objs)
	data := t.TempDir()
	addConnector(t, srv, data, "bad-secret", "trail-logs", "AWSLogs/"+acct+"/CloudTrail", "not-the-right-secret-key-at-all-x")
	r := trawl(t, data, nil, "collect", "--once")
	if r.code == 0 {
		t.Fatalf("collect with a wrong secret exited 0:\n%s", r.stdout)
	}
	row := collectRow(t, r.stdout, "bad-secret")
	if row["RESULT"] != "failed" {
		t.Errorf("result %q, want failed", row["RESULT"])
	}
	for _, want := range []string{"401", "403 SignatureDoesNotMatch", "secret access key does not match", "Re-enter the secret access key"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "not-the-right-secret-key-at-all-x") {
		t.Error("the secret was printed")
	}
	// Missing bucket: 404.
	addConnector(t, srv, data, "no-bucket", "no-such-bucket", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	r = trawl(t, data, nil, "collect", "--once", "no-bucket")
	if r.code == 0 || !strings.Contains(r.stdout, "404") || !strings.Contains(r.stdout, "NoSuchBucket") {
		t.Errorf("missing bucket: exit %d\n%s", r.code, r.stdout)
	}
}

// TestCLIThroughServer: while `trawl serve` holds the data directory, CLI
// commands go through its API and see the same data.
func TestCLIThroughServer(t *testing.T) {
	srv := s3server.Start(t)
	objs, want := trailObjects(21, 2, 10)
	bucket(t, srv, "trail-logs", objs)
	data := t.TempDir()
	addConnector(t, srv, data, "prod-trail", "trail-logs", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	stop := startServe(t, data)
	defer stop()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if count(t, data) == len(want) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if n := count(t, data); n != len(want) {
		t.Fatalf("through the server: %d records, want %d", n, len(want))
	}
	out := mustTrawl(t, data, "connector", "list")
	if !strings.Contains(out, "prod-trail") {
		t.Errorf("connector list through the server:\n%s", out)
	}
	if strings.Contains(out, srv.SecretKey) || strings.Contains(mustTrawl(t, data, "connector", "show", "prod-trail"), srv.SecretKey) {
		t.Error("secret shown by the CLI")
	}
}
