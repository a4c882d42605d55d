package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestIncrementalListing: a bucket with 20,000+ historical objects across 3
// accounts (one under an Organization ID), 2 regions and 30 days. After the
// first run, a run with 10 new objects (3 of them late, keyed before the
// watermark) collects exactly those 10, and its ListObjectsV2 requests are
// bounded by the partitions, not by the bucket size.
func TestIncrementalListing(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	srv := s3server.Start(t)
	const bucketName = "history"
	now := time.Now().UTC()
	start := now.Add(-30 * 24 * time.Hour)
	specs := []gen.CloudTrailSpec{
		{Seed: 1, OrgID: "o-abc123defg", Accounts: []string{"333333333333"}, Regions: []string{"us-east-1", "eu-west-1"}, Start: start, Span: 30*24*time.Hour - 2*time.Hour, Objects: 3400, RecordsPerObj: 1},
		{Seed: 2, Accounts: []string{"111111111111", "222222222222"}, Regions: []string{"us-east-1", "eu-west-1"}, Start: start, Span: 30*24*time.Hour - 2*time.Hour, Objects: 3400, RecordsPerObj: 1},
	}
	// History is written straight into the server's folder (versitygw serves
	// it as objects), with each file's time set to its delivery time.
	bucket(t, srv, bucketName, nil)
	historical := 0
	var newest time.Time
	for _, spec := range specs {
		for _, o := range gen.CloudTrail(spec) {
			p := filepath.Join(srv.Dir, bucketName, filepath.FromSlash(o.Key))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, o.Body, 0o644); err != nil {
				t.Fatal(err)
			}
			ts := keyTime(t, o.Key).Add(5 * time.Minute)
			os.Chtimes(p, ts, ts)
			if ts.After(newest) {
				newest = ts
			}
			historical++
		}
	}
	if historical < 20000 {
		t.Fatalf("only %d historical objects", historical)
	}
	data := t.TempDir()
	sf := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(sf, []byte(srv.SecretKey), 0o600)
	mustTrawl(t, data, "connector", "add", "--name", "org", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", bucketName,
		"--prefix", "AWSLogs", "--access-key-id", srv.AccessKey, "--secret-access-key-file", sf, "--endpoint", srv.Endpoint, "--start", "-31d")
	out := mustTrawl(t, data, "collect", "--once")
	if r := collectRow(t, out, "org"); r["OBJECTS"] != itoa(historical) || r["RESULT"] != "ok" {
		t.Fatalf("first run: %v\n%s", r, out)
	}

	// Ten new objects: seven on time, three late with keys before the
	// newest collected object's time.
	var fresh []gen.Object
	for i, acct := range []string{"111111111111", "222222222222", "333333333333", "111111111111", "222222222222", "333333333333", "111111111111", "222222222222", "333333333333", "111111111111"} {
		at := now.Add(time.Duration(i) * time.Second)
		if i < 3 {
			at = newest.Add(-40 * time.Minute) // late: keyed before the watermark
		}
		org := ""
		if acct == "333333333333" {
			org = "o-abc123defg"
		}
		objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: uint64(100 + i), OrgID: org, Accounts: []string{acct}, Regions: []string{"us-east-1"},
			Start: at, Span: time.Minute, Objects: 1, RecordsPerObj: 2})
		fresh = append(fresh, objs[0])
	}
	bucket(t, srv, bucketName, fresh)
	before := srv.CountRequests("list-type=2")
	out = mustTrawl(t, data, "collect", "--once")
	lists := srv.CountRequests("list-type=2") - before
	r := collectRow(t, out, "org")
	if r["OBJECTS"] != "10" || r["RECORDS"] != "20" {
		t.Fatalf("second run: %v (want exactly the 10 new objects)\n%s", r, out)
	}
	// Partitions: 3 accounts x 2 regions. Discovery walks AWSLogs, the
	// organization, 3 accounts, 3 CloudTrail folders and 6 regions (14
	// requests); then each partition lists at most two days. After the
	// run, the digest audit looks for CloudTrail-Digest folders: AWSLogs,
	// the organization and the 3 accounts (5 requests; there are none).
	const partitions, discovery, audit = 6, 14, 5
	bound := discovery + 2*partitions + audit
	t.Logf("steady-state run over %d historical objects: %d ListObjectsV2 requests (bound %d; a full listing would need at least %d)",
		historical, lists, bound, historical/1000+1)
	if lists > bound {
		t.Errorf("%d ListObjectsV2 requests, bound %d", lists, bound)
	}
	if n := count(t, data, "--from", "-32d"); n != historical+20 {
		t.Errorf("lake holds %d records, want %d", n, historical+20)
	}
}

func itoa(n int) string { return jsonNum(float64(n)) }

// keyTime reads the delivery time from a CloudTrail key (..._20240501T1005Z_...).
func keyTime(t *testing.T, key string) time.Time {
	for _, part := range strings.Split(filepath.Base(key), "_") {
		if ts, err := time.Parse("20060102T1504Z", part); err == nil {
			return ts
		}
	}
	t.Fatalf("no time in %s", key)
	return time.Time{}
}
