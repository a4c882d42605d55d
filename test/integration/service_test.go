package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestLogFilters: drop rules apply before storage and are counted in the
// status; changing a filter never re-collects.
func TestLogFilters(t *testing.T) {
	srv := s3server.Start(t)
	var objs []gen.Object
	rejects, total := 0, 0
	for _, f := range gen.VPCFlow(gen.FlowSpec{Seed: 81, Account: acct, Region: "us-east-1", Start: time.Now().UTC().Add(-2 * time.Hour), Span: time.Hour, Objects: 3, RecordsPerObj: 100}) {
		objs = append(objs, f.Object)
		rejects += f.Matches
		total += f.Records
	}
	bucket(t, srv, "flows", objs)
	e := newAPI(t)
	body := connBody(srv, "flows", "acme", "flows", "AWSLogs", srv.SecretKey)
	body["sub_type"] = "vpcflow"
	body["filters"] = []map[string]string{{"action": "keep", "query": "action:REJECT"}}
	code, c, _ := e.call(e.root, "POST", "/api/v1/connectors", body)
	if code != 201 {
		t.Fatalf("create: %d %v", code, c)
	}
	id := c["id"].(string)
	_, run, _ := e.call(e.root, "POST", "/api/v1/connectors/"+id+"/collect", nil)
	st := run["stats"].(map[string]any)
	if st["records"].(float64) != float64(rejects) || st["dropped"].(float64) != float64(total-rejects) {
		t.Fatalf("stored %v dropped %v, want %d and %d", st["records"], st["dropped"], rejects, total-rejects)
	}
	_, status, _ := e.call(e.root, "GET", "/api/v1/connectors/"+id+"/status", nil)
	if status["last_run"].(map[string]any)["dropped"].(float64) != float64(total-rejects) {
		t.Errorf("status does not show the dropped count: %v", status["last_run"])
	}
	// A bad filter is refused at validation with the field named.
	for k, v := range c {
		body[k] = v
	}
	body["filters"] = []map[string]string{{"action": "drop", "query": "nosuchfield:1"}}
	if code, r, _ := e.call(e.root, "PUT", "/api/v1/connectors/"+id, body); code != 400 || !strings.Contains(fmt.Sprint(r), "filters") {
		t.Errorf("bad filter: %d %v", code, r)
	}
	// Removing the filter does not re-collect what was dropped.
	body["filters"] = []map[string]string{}
	if code, r, _ := e.call(e.root, "PUT", "/api/v1/connectors/"+id, body); code != 200 {
		t.Fatalf("edit: %d %v", code, r)
	}
	_, run, _ = e.call(e.root, "POST", "/api/v1/connectors/"+id+"/collect", nil)
	if run["stats"].(map[string]any)["records"].(float64) != 0 {
		t.Errorf("changing a filter re-collected: %v", run["stats"])
	}
}

// TestWildcardConnectorTestsEveryAccount: a "*" account prefix is tested
// account by account.
func TestWildcardConnectorTestsEveryAccount(t *testing.T) {
	srv := s3server.Start(t)
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 83, OrgID: "o-abc123defg", Accounts: []string{"111111111111", "222222222222"}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-2 * time.Hour), Span: time.Hour, Objects: 2, RecordsPerObj: 5})
	bucket(t, srv, "org", objs)
	e := newAPI(t)
	_, c, _ := e.call(e.root, "POST", "/api/v1/connectors", connBody(srv, "org", "acme", "org", "AWSLogs/o-abc123defg/*/CloudTrail", srv.SecretKey))
	code, res, _ := e.call(e.root, "POST", "/api/v1/connectors/"+c["id"].(string)+"/test", nil)
	accts, _ := res["accounts"].([]any)
	if code != 200 || res["ok"] != true || len(accts) != 2 {
		t.Fatalf("wildcard test: %d %v", code, res)
	}
	for _, a := range accts {
		m := a.(map[string]any)
		if m["ok"] != true || len(m["checks"].([]any)) < 3 {
			t.Errorf("account %v", m)
		}
	}
	// Collect: both accounts' records.
	_, run, _ := e.call(e.root, "POST", "/api/v1/connectors/"+c["id"].(string)+"/collect", nil)
	if run["stats"].(map[string]any)["records"].(float64) != 20 {
		t.Errorf("wildcard collect: %v", run["stats"])
	}
}

// TestEndpointSafety: an endpoint or proxy at the metadata address is
// refused when the connector is saved.
func TestEndpointSafety(t *testing.T) {
	srv := s3server.Start(t)
	e := newAPI(t)
	for _, field := range []string{"endpoint", "proxy_uri"} {
		body := connBody(srv, "meta-"+field, "acme", "trail", "AWSLogs", srv.SecretKey)
		body[field] = "http://169.254.169.254"
		code, r, _ := e.call(e.root, "POST", "/api/v1/connectors", body)
		if code != 400 || !strings.Contains(fmt.Sprint(r), "metadata") {
			t.Errorf("%s at the metadata address: %d %v", field, code, r)
		}
	}
}
