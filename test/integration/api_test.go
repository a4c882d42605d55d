package integration

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/api"
	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// apiEnv is a real HTTP server over an App, recording every response body
// and log line so tests can check a secret never leaves.
type apiEnv struct {
	t       *testing.T
	srv     *httptest.Server
	app     *app.App
	root    string
	dataDir string
	mu      sync.Mutex
	bodies  bytes.Buffer
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newAPI(t *testing.T) *apiEnv {
	t.Helper()
	e := &apiEnv{t: t, dataDir: t.TempDir(), logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.Open(context.Background(), app.Options{DataDir: e.dataDir, Catalog: catalogOf(t, e.dataDir), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.app = a
	e.root, _, err = api.LoadOrCreateRootToken(e.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(api.New(a, e.root, nil, log))
	t.Cleanup(func() {
		e.srv.Close()
		a.Close()
	})
	return e
}

// call makes a request and returns the status and decoded JSON body.
func (e *apiEnv) call(tok, method, path string, body any, hdr ...string) (int, map[string]any, http.Header) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, r)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	e.mu.Lock()
	e.bodies.Write(raw)
	e.mu.Unlock()
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, resp.Header
}

func connBody(srv *s3server.Server, name, tenant, bucketName, prefix, secret string) map[string]any {
	return map[string]any{"name": name, "tenant": tenant, "sub_type": "cloudtrail", "bucket": bucketName, "prefix": prefix,
		"access_key_id": srv.AccessKey, "secret_access_key": secret, "endpoint": srv.Endpoint, "path_style": true,
		"start": time.Now().Add(-72 * time.Hour).Format(time.RFC3339)}
}

func checkOf(t *testing.T, res map[string]any, name string) map[string]any {
	t.Helper()
	checks, _ := res["checks"].([]any)
	for _, c := range checks {
		m := c.(map[string]any)
		if m["name"] == name {
			return m
		}
	}
	t.Fatalf("no %s check in %v", name, res)
	return nil
}

func TestAPIConnectorLifecycle(t *testing.T) {
	srv := s3server.Start(t)
	objs, want := trailObjects(41, 2, 15)
	bucket(t, srv, "trail", objs)
	e := newAPI(t)
	const canary = "CANARY-s3cr3t-never-shown-0123456789abcdef"
	// The canary is not the server's secret, so make it the server's user.
	srv.CreateUser(context.Background(), t, "CANARYUSERKEY0001", canary)
	body := connBody(srv, "prod", "acme", "trail", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)

	if code, _, _ := e.call("", "GET", "/api/v1/connectors", nil); code != 401 {
		t.Errorf("no token: %d, want 401", code)
	}
	if code, _, _ := e.call("wrong", "GET", "/api/v1/connectors", nil); code != 401 {
		t.Errorf("bad token: %d, want 401", code)
	}
	bad := map[string]any{"name": "é", "tenant": "acme", "sub_type": "cloudtrail", "bucket": "B_ad", "prefix": "AWSLogs/", "file_type": "text"}
	code, res, _ := e.call(e.root, "POST", "/api/v1/connectors", bad)
	if code != 400 || res["error"].(map[string]any)["code"] != "validation" {
		t.Fatalf("invalid connector: %d %v", code, res)
	}
	if probs := res["error"].(map[string]any)["problems"].([]any); len(probs) < 4 {
		t.Errorf("validation reports every problem at once: %v", probs)
	}
	code, c, hdr := e.call(e.root, "POST", "/api/v1/connectors", body)
	if code != 201 || hdr.Get("ETag") != `"1"` || c["enabled"] != true || c["secret_access_key"] != "********" {
		t.Fatalf("create: %d %v %v", code, hdr, c)
	}
	id := c["id"].(string)
	code, _, _ = e.call(e.root, "POST", "/api/v1/connectors", body)
	if code != 409 {
		t.Errorf("duplicate name: %d, want 409", code)
	}
	// Collect, then status.
	code, run, _ := e.call(e.root, "POST", "/api/v1/connectors/"+id+"/collect", nil)
	if code != 200 || run["stats"].(map[string]any)["records"].(float64) != float64(len(want)) {
		t.Fatalf("collect: %d %v", code, run)
	}
	code, st, _ := e.call(e.root, "GET", "/api/v1/connectors/"+id+"/status", nil)
	if code != 200 || st["last_run"].(map[string]any)["result"] != "ok" || st["totals"].(map[string]any)["records"].(float64) != float64(len(want)) || st["lag_seconds"] == nil {
		t.Errorf("status: %v", st)
	}
	// Edit with If-Match; a stale version is refused; the masked secret keeps the stored one.
	edit := map[string]any{}
	for k, v := range c {
		edit[k] = v
	}
	edit["prefix"] = "AWSLogs/" + acct
	code, c2, hdr := e.call(e.root, "PUT", "/api/v1/connectors/"+id, edit, "If-Match", `"1"`)
	if code != 200 || hdr.Get("ETag") != `"2"` || c2["prefix"] != "AWSLogs/"+acct {
		t.Fatalf("edit: %d %v", code, c2)
	}
	if code, _, _ := e.call(e.root, "PUT", "/api/v1/connectors/"+id, edit, "If-Match", `"1"`); code != 412 {
		t.Errorf("stale If-Match: %d, want 412", code)
	}
	edit["tenant"] = "other"
	if code, r, _ := e.call(e.root, "PUT", "/api/v1/connectors/"+id, edit, "If-Match", `"2"`); code != 400 || !strings.Contains(fmt.Sprint(r), "fixed at creation") {
		t.Errorf("editing a general field: %d %v", code, r)
	}
	code, tr, _ := e.call(e.root, "POST", "/api/v1/connectors/"+id+"/test", nil)
	if code != 200 || tr["ok"] != true || tr["preview"] == nil {
		t.Fatalf("test after a masked-secret edit: %d %v", code, tr)
	}
	// Set the canary as secret through an edit, and check it never comes back.
	edit["tenant"] = "acme"
	edit["access_key_id"] = "CANARYUSERKEY0001"
	edit["secret_access_key"] = canary
	if code, r, _ := e.call(e.root, "PUT", "/api/v1/connectors/"+id, edit, "If-Match", `"2"`); code != 200 {
		t.Fatalf("edit secret: %d %v", code, r)
	}
	e.call(e.root, "POST", "/api/v1/connectors/"+id+"/test", nil) // a 403 for this user, with its own error text
	e.call(e.root, "GET", "/api/v1/connectors/"+id, nil)
	e.call(e.root, "GET", "/api/v1/connectors", nil)
	e.call(e.root, "GET", "/api/v1/audit", nil)
	for _, p := range []string{"disable", "enable"} {
		if code, r, _ := e.call(e.root, "POST", "/api/v1/connectors/"+id+"/"+p, nil); code != 200 || r["enabled"] != (p == "enable") {
			t.Errorf("%s: %d %v", p, code, r)
		}
	}
	code, audit, _ := e.call(e.root, "GET", "/api/v1/audit", nil)
	actions := fmt.Sprint(audit)
	for _, a := range []string{"connector.create", "connector.edit", "connector.test", "connector.disable"} {
		if !strings.Contains(actions, a) {
			t.Errorf("audit lacks %s", a)
		}
	}
	if code, _, _ := e.call(e.root, "DELETE", "/api/v1/connectors/"+id, nil); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _, _ := e.call(e.root, "GET", "/api/v1/connectors/"+id, nil); code != 404 {
		t.Errorf("get after delete: %d", code)
	}
	if code, r, _ := e.call(e.root, "GET", "/api/v1/openapi.json", nil); code != 200 || r["openapi"] == nil {
		t.Errorf("openapi: %d", code)
	}
	// The canary never left: not in a response, a log line, or the data
	// directory's bytes.
	e.mu.Lock()
	bodies := e.bodies.String()
	e.mu.Unlock()
	if strings.Contains(bodies, canary) || strings.Contains(bodies, srv.SecretKey) {
		t.Error("a secret appeared in a response body")
	}
	if strings.Contains(e.logs.String(), canary) {
		t.Error("the secret appeared in the log")
	}
	e.app.Close()
	filepath.Walk(e.dataDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(canary)) {
			t.Errorf("the secret is stored in clear in %s", p)
		}
		return nil
	})
}

func TestAPITestOutcomes(t *testing.T) {
	srv := s3server.Start(t)
	objs, _ := trailObjects(43, 1, 5)
	bucket(t, srv, "trail", objs)
	srv.CreateUser(context.Background(), t, "LIMITEDUSER000001", "limited-user-secret-key-000001")
	e := newAPI(t)
	refused := freeAddr(t) // nothing listens there
	cases := []struct {
		name   string
		mutate func(map[string]any)
		check  string
		status float64
		text   string
	}{
		{"wrong-secret", func(b map[string]any) { b["secret_access_key"] = "not-the-secret-key-at-all-0000" }, "credentials", 401, "secret access key does not match"},
		{"missing-bucket", func(b map[string]any) { b["bucket"] = "no-such-bucket" }, "list", 404, "bucket does not exist"},
		{"missing-prefix", func(b map[string]any) { b["prefix"] = "AWSLogs/999999999999/CloudTrail" }, "list", 404, "no log objects were found"},
		{"no-list-permission", func(b map[string]any) {
			b["access_key_id"], b["secret_access_key"] = "LIMITEDUSER000001", "limited-user-secret-key-000001"
		}, "list", 403, "not allowed to list"},
		{"proxy-refuses", func(b map[string]any) { b["proxy_uri"] = "http://" + refused }, "endpoint", 502, "proxy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := connBody(srv, c.name, "acme", "trail", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
			c.mutate(body)
			code, conn, _ := e.call(e.root, "POST", "/api/v1/connectors", body)
			if code != 201 {
				t.Fatalf("create: %d %v", code, conn)
			}
			code, res, _ := e.call(e.root, "POST", "/api/v1/connectors/"+conn["id"].(string)+"/test", nil)
			if code != 200 || res["ok"] != false {
				t.Fatalf("test: %d %v", code, res)
			}
			ch := checkOf(t, res, c.check)
			if ch["ok"] == true || ch["status"] != c.status || !strings.Contains(fmt.Sprint(ch["explanation"]), c.text) || ch["recommendation"] == "" {
				t.Errorf("%s check: %v", c.check, ch)
			}
			if !strings.Contains(fmt.Sprint(res["summary"]), "Failure") {
				t.Errorf("summary %v", res["summary"])
			}
		})
	}
	// A passing test is shown beside the failed status; it writes no run.
	body := connBody(srv, "flaky", "acme", "trail", "AWSLogs/"+acct+"/CloudTrail", "not-the-secret-key-at-all-0000")
	_, conn, _ := e.call(e.root, "POST", "/api/v1/connectors", body)
	id := conn["id"].(string)
	e.call(e.root, "POST", "/api/v1/connectors/"+id+"/collect", nil)
	_, st, _ := e.call(e.root, "GET", "/api/v1/connectors/"+id+"/status", nil)
	if st["last_run"].(map[string]any)["result"] != "failed" || st["last_run"].(map[string]any)["status"].(float64) != 401 {
		t.Fatalf("status after a bad run: %v", st["last_run"])
	}
	for k, v := range conn {
		body[k] = v
	}
	body["secret_access_key"] = srv.SecretKey
	if code, r, _ := e.call(e.root, "PUT", "/api/v1/connectors/"+id, body); code != 200 {
		t.Fatalf("fix: %d %v", code, r)
	}
	if _, res, _ := e.call(e.root, "POST", "/api/v1/connectors/"+id+"/test", nil); res["ok"] != true {
		t.Fatalf("test after fix: %v", res)
	}
	_, st, _ = e.call(e.root, "GET", "/api/v1/connectors/"+id+"/status", nil)
	if lt, _ := st["last_test"].(map[string]any); lt == nil || lt["ok"] != true {
		t.Errorf("status does not show the passing test: %v", st["last_test"])
	}
	_, runs, _ := e.call(e.root, "GET", "/api/v1/connectors/"+id+"/runs", nil)
	if n := len(runs["runs"].([]any)); n != 1 {
		t.Errorf("the run history has %d runs after one run and two tests, want 1: %v", n, runs)
	}
}

// TestAPIOneTestAtATime: while a test hangs on an endpoint that never
// answers, a second test gets 409.
func TestAPIOneTestAtATime(t *testing.T) {
	srv := s3server.Start(t)
	e := newAPI(t)
	slow := connBody(srv, "slow", "acme", "trail", "AWSLogs", srv.SecretKey)
	slow["endpoint"] = hangingEndpoint(t)
	_, c1, _ := e.call(e.root, "POST", "/api/v1/connectors", slow)
	_, c2, _ := e.call(e.root, "POST", "/api/v1/connectors", connBody(srv, "other", "acme", "trail", "AWSLogs", srv.SecretKey))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/api/v1/connectors/"+c1["id"].(string)+"/test", nil)
		req.Header.Set("Authorization", "Bearer "+e.root)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	got409 := false
	for time.Now().Before(deadline) && !got409 {
		time.Sleep(100 * time.Millisecond)
		code, res, _ := e.call(e.root, "POST", "/api/v1/connectors/"+c2["id"].(string)+"/test", nil)
		if code == 409 {
			got409 = true
			if !strings.Contains(fmt.Sprint(res), "already running") {
				t.Errorf("409 message: %v", res)
			}
		}
	}
	cancel()
	<-done
	if !got409 {
		t.Fatal("a second concurrent test was not refused with 409")
	}
}

// TestAPITenantIsolation probes every endpoint with another tenant's token.
func TestAPITenantIsolation(t *testing.T) {
	srv := s3server.Start(t)
	objs, want := trailObjects(47, 1, 10)
	bucket(t, srv, "trail", objs)
	e := newAPI(t)
	_, ta, _ := e.call(e.root, "POST", "/api/v1/tokens", map[string]any{"tenant": "alpha", "name": "a"})
	_, tb, _ := e.call(e.root, "POST", "/api/v1/tokens", map[string]any{"tenant": "beta", "name": "b"})
	tokA, tokB := ta["token"].(string), tb["token"].(string)
	code, ca, _ := e.call(tokA, "POST", "/api/v1/connectors", connBody(srv, "a-trail", "alpha", "trail", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey))
	if code != 201 {
		t.Fatalf("tenant token creates in its tenant: %d %v", code, ca)
	}
	if code, _, _ := e.call(tokA, "POST", "/api/v1/connectors", connBody(srv, "x", "beta", "trail", "AWSLogs", srv.SecretKey)); code != 400 {
		t.Errorf("tenant token creating in another tenant: %d", code)
	}
	idA := ca["id"].(string)
	e.call(tokA, "POST", "/api/v1/connectors/"+idA+"/collect", nil)
	if _, r, _ := e.call(tokA, "GET", "/api/v1/count?from=-30d", nil); r["count"].(float64) != float64(len(want)) {
		t.Fatalf("alpha sees %v records, want %d", r["count"], len(want))
	}
	probes := []struct{ method, path string }{
		{"GET", "/api/v1/connectors/" + idA}, {"PUT", "/api/v1/connectors/" + idA}, {"DELETE", "/api/v1/connectors/" + idA},
		{"POST", "/api/v1/connectors/" + idA + "/enable"}, {"POST", "/api/v1/connectors/" + idA + "/disable"},
		{"POST", "/api/v1/connectors/" + idA + "/test"}, {"POST", "/api/v1/connectors/" + idA + "/collect"},
		{"GET", "/api/v1/connectors/" + idA + "/status"}, {"GET", "/api/v1/connectors/" + idA + "/runs"},
		{"POST", "/api/v1/connectors/" + idA + "/quarantine/retry"}, {"GET", "/api/v1/quarantine?connector_id=" + idA},
		{"GET", "/api/v1/search?tenant=alpha&from=-30d"}, {"GET", "/api/v1/count?tenant=alpha&from=-30d"},
		{"GET", "/api/v1/histogram?tenant=alpha&from=-30d"}, {"GET", "/api/v1/top?tenant=alpha&field=srcip&from=-30d"},
		{"GET", "/api/v1/connectors?tenant=alpha"}, {"GET", "/api/v1/export?tenant=alpha&from=-30d"},
		{"GET", "/api/v1/connectors/" + idA + "/audit"}, {"POST", "/api/v1/connectors/" + idA + "/audit"},
	}
	for _, p := range probes {
		var body any
		if p.method == "PUT" {
			body = map[string]any{"name": "a-trail"}
		}
		if code, r, _ := e.call(tokB, p.method, p.path, body); code != 404 {
			t.Errorf("beta %s %s: %d %v (want 404)", p.method, p.path, code, r)
		}
	}
	for _, p := range []string{"/api/v1/tokens", "/metrics"} {
		if code, _, _ := e.call(tokB, "GET", p, nil); code != 403 {
			t.Errorf("beta GET %s: %d, want 403", p, code)
		}
	}
	if code, _, _ := e.call(tokB, "POST", "/api/v1/public-keys", map[string]any{"PublicKeyList": []any{}}); code != 403 {
		t.Errorf("beta imports public keys: %d, want 403", code)
	}
	// Export: alpha's whole result, streamed, in both formats; beta's
	// export of everything holds only the header.
	csvOf := func(tok, query string) (int, [][]string, string) {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/export?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil && resp.StatusCode == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("export is not CSV: %v", err)
		}
		return resp.StatusCode, recs, string(body)
	}
	code, recs, body := csvOf(tokA, "from=-30d&format=csv")
	if code != 200 || len(recs) != len(want)+1 || strings.Count(body, "\r\n") != len(want)+1 || recs[0][0] != "id" {
		t.Errorf("alpha's CSV export: %d, %d records for %d, %d CRLF lines", code, len(recs)-1, len(want), strings.Count(body, "\r\n"))
	}
	ids := map[string]bool{}
	for _, r := range recs[1:] {
		ids[r[0]] = true
	}
	if len(ids) != len(want) {
		t.Errorf("export holds %d distinct ids for %d records", len(ids), len(want))
	}
	if code, _, body := csvOf(tokA, "from=-30d&format=ndjson"); code != 200 || strings.Count(body, "\n") != len(want) {
		t.Errorf("alpha's NDJSON export: %d, %d lines for %d", code, strings.Count(body, "\n"), len(want))
	}
	if code, recs, _ := csvOf(tokB, "from=-30d"); code != 200 || len(recs) != 1 {
		t.Errorf("beta's export: %d, %d rows (alpha's records leaked?)", code, len(recs))
	}
	if code, _, body := csvOf(tokA, "from=-30d&q=event_name:("); code != 400 || !strings.Contains(body, "position") {
		t.Errorf("export of a bad query: %d %s", code, body)
	}
	// Saved searches belong to their tenant.
	code, saved, _ := e.call(tokA, "POST", "/api/v1/searches", map[string]any{"name": "logins", "query": "event_name:ConsoleLogin", "range": "-7d", "tenant": "beta"})
	if code != 201 || saved["tenant"] != "alpha" {
		t.Fatalf("alpha saves a search (naming beta): %d %v", code, saved)
	}
	if code, r, _ := e.call(tokA, "POST", "/api/v1/searches", map[string]any{"name": " ", "query": "event_name:(", "index": "x", "range": "yesterday"}); code != 400 || fmt.Sprint(r["error"].(map[string]any)["problems"]) == "" || len(r["error"].(map[string]any)["problems"].([]any)) != 4 {
		t.Errorf("a bad saved search: %d %v (want every problem at once)", code, r)
	}
	if _, r, _ := e.call(tokB, "GET", "/api/v1/searches", nil); len(r["searches"].([]any)) != 0 {
		t.Errorf("beta lists alpha's saved searches: %v", r)
	}
	if code, _, _ := e.call(tokB, "DELETE", "/api/v1/searches/"+saved["id"].(string), nil); code != 404 {
		t.Errorf("beta deletes alpha's saved search: %d", code)
	}
	if _, r, _ := e.call(tokA, "GET", "/api/v1/searches", nil); len(r["searches"].([]any)) != 1 {
		t.Errorf("alpha's saved searches: %v", r)
	}
	if code, _, _ := e.call(tokA, "DELETE", "/api/v1/searches/"+saved["id"].(string), nil); code != 204 {
		t.Errorf("alpha deletes its saved search: %d", code)
	}
	if _, r, _ := e.call(tokB, "GET", "/api/v1/count?from=-30d", nil); r["count"].(float64) != 0 {
		t.Errorf("beta counts %v records of alpha", r["count"])
	}
	if _, r, _ := e.call(tokB, "GET", "/api/v1/search?from=-30d&q=*", nil); len(r["rows"].([]any)) != 0 {
		t.Error("beta's search returned alpha's rows")
	}
	if _, r, _ := e.call(tokB, "GET", "/api/v1/connectors", nil); len(r["connectors"].([]any)) != 0 {
		t.Error("beta lists alpha's connectors")
	}
	if _, r, _ := e.call(tokB, "GET", "/api/v1/tenants", nil); fmt.Sprint(r["tenants"]) != "[beta]" {
		t.Errorf("beta's tenants: %v", r["tenants"])
	}
	// The connector still exists and is unchanged for alpha.
	if code, r, _ := e.call(tokA, "GET", "/api/v1/connectors/"+idA, nil); code != 200 || r["enabled"] != true {
		t.Errorf("alpha's connector after beta's probes: %d %v", code, r)
	}
	// Root sees both tenants' metrics.
	req, _ := http.NewRequest("GET", e.srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+e.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `trawl_records_total{tenant="alpha",connector="a-trail",sub_type="cloudtrail"} `+itoa(len(want))) {
		t.Errorf("metrics:\n%s", m)
	}
}
