package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// regionCounts counts the generated records per CloudTrail region.
func regionCounts(objs []gen.Object) map[string]int {
	n := map[string]int{}
	for _, o := range objs {
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			if strings.Contains(o.Key, "/CloudTrail/"+region+"/") {
				n[region] += len(o.EventIDs)
			}
		}
	}
	return n
}

// waitCount polls a search count through the running server until it is
// want, for at most a minute, and returns the last count.
func waitCount(t *testing.T, data string, want int, args ...string) int {
	t.Helper()
	n := -1
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if n = count(t, data, args...); n == want {
			return n
		}
	}
	return n
}

// TestRegionIsTheBucketsNotAFilter: the README's AWS flow passes
// --region for the bucket; a trail holding two regions must still be
// collected whole (it used to narrow discovery to that one region,
// silently). A region filter is its own setting (--regions): Test names
// what it leaves out, and clearing it collects the skipped region's
// records from the connector's start, once each.
func TestRegionIsTheBucketsNotAFilter(t *testing.T) {
	srv := s3server.Start(t)
	objs, want := trailObjects(31, 8, 25)
	per := regionCounts(objs)
	if per["us-east-1"] == 0 || per["eu-west-1"] == 0 || per["us-east-1"]+per["eu-west-1"] != len(want) {
		t.Fatalf("generated records per region %v, %d in all: the test needs both regions", per, len(want))
	}
	bucket(t, srv, "org-trail", objs)
	bucket(t, srv, "east-trail", objs)
	data := t.TempDir()
	stop := startServe(t, data)
	defer stop()

	// The README's flow, through the server: --region is the bucket's.
	addConnector(t, srv, data, "org-trail", "org-trail", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey, "--region", "us-east-1")
	mustTrawl(t, data, "collect", "--once", "org-trail")
	for region, n := range per {
		if got := waitCount(t, data, n, "connector:org-trail AND cloud.region:"+region); got != n {
			t.Errorf("--region us-east-1: %d records of %s collected, want %d (the bucket's region must not filter log regions)", got, region, n)
		}
	}
	test := mustTrawl(t, data, "connector", "test", "org-trail")
	if !strings.Contains(test, "2 regions (eu-west-1, us-east-1)") || strings.Contains(test, "NOT collected") {
		t.Errorf("Test of the whole trail should name both regions and leave nothing out:\n%s", test)
	}

	// A region filter: only us-east-1 is collected, and Test says what is not.
	addConnector(t, srv, data, "east-only", "east-trail", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey, "--regions", "us-east-1")
	mustTrawl(t, data, "collect", "--once", "east-only")
	if got := waitCount(t, data, per["us-east-1"], "connector:east-only"); got != per["us-east-1"] {
		t.Fatalf("--regions us-east-1: %d records, want %d", got, per["us-east-1"])
	}
	var res struct {
		OK    bool
		Found struct {
			Regions  []string
			Excluded []struct{ Prefix, Reason string }
		}
	}
	r := trawl(t, data, nil, "connector", "test", "--json", "east-only")
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("connector test --json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	wantLeft := "AWSLogs/" + acct + "/CloudTrail/eu-west-1/"
	if !res.OK || strings.Join(res.Found.Regions, ",") != "eu-west-1,us-east-1" || len(res.Found.Excluded) != 1 ||
		res.Found.Excluded[0].Prefix != wantLeft || !strings.Contains(res.Found.Excluded[0].Reason, "eu-west-1") {
		t.Errorf("Test with --regions us-east-1 should pass and list %s as not collected: %+v", wantLeft, res)
	}
	if human := mustTrawl(t, data, "connector", "test", "east-only"); !strings.Contains(human, "NOT collected: "+wantLeft) {
		t.Errorf("Test's list line does not name the folder left out:\n%s", human)
	}

	// Clearing the filter (what the upgrade does to a connector whose
	// --region used to filter): the next run backfills eu-west-1 from the
	// connector's start, and nothing twice.
	mustTrawl(t, data, "connector", "edit", "east-only", "--regions", "")
	mustTrawl(t, data, "collect", "--once", "east-only")
	if got := waitCount(t, data, len(want), "connector:east-only"); got != len(want) {
		t.Errorf("after clearing --regions: %d records, want all %d", got, len(want))
	}
	ids := map[string]bool{}
	for _, rec := range searchAll(t, data, "connector:east-only") {
		id, _ := rec["id"].(string)
		if ids[id] {
			t.Fatalf("record %s stored twice", id)
		}
		ids[id] = true
	}
	if bad := trawl(t, data, nil, "connector", "edit", "east-only", "--regions", "us-east-1,mars-north-1"); bad.code == 0 || !strings.Contains(bad.stderr+bad.stdout, "mars-north-1") {
		t.Errorf("an unknown region in --regions must be refused naming it: exit %d %s%s", bad.code, bad.stdout, bad.stderr)
	}
}
