package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// rawCall sends body as it is; chunked leaves the length undeclared, so
// the server finds the size only by reading.
func (s *served) rawCall(tok, method, path string, body []byte, chunked bool) (int, map[string]any) {
	s.t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // not a type http.NewRequest takes the length of
	}
	req, _ := http.NewRequest(method, s.base+path, r)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

func errMessage(r map[string]any) string {
	e, _ := r["error"].(map[string]any)
	m, _ := e["message"].(string)
	f, _ := e["field"].(string)
	return f + ": " + m
}

// TestBodyLimitsAnswer413: a body over an endpoint's own limit (a rule,
// a webhook, a saved search, public keys) answers 413 naming the limit,
// whether its length is declared or only found by reading, instead of
// being cut and failing as "unexpected EOF".
func TestBodyLimitsAnswer413(t *testing.T) {
	s := serveAPI(t, t.TempDir(), "--no-schedule")
	cases := []struct {
		method, path, field string
		size                int
		limit               string
	}{
		{"POST", "/api/v1/rules", "yaml", 200 << 10, "128 KB"},
		{"PUT", "/api/v1/webhook", "url", 20 << 10, "16 KB"},
		{"POST", "/api/v1/searches", "query", 100 << 10, "64 KB"},
		{"POST", "/api/v1/public-keys", "PublicKeyList", 1200 << 10, "1 MB"},
		{"POST", "/api/v1/connectors", "name", 1200 << 10, "1 MB"},
	}
	for _, c := range cases {
		body, _ := json.Marshal(map[string]any{"tenant": "acme", c.field: strings.Repeat("a", c.size)})
		for _, chunked := range []bool{false, true} {
			code, r := s.rawCall(s.root, c.method, c.path, body, chunked)
			msg := errMessage(r)
			if code != 413 || !strings.Contains(msg, c.limit) {
				t.Errorf("%s %s with %d KB (chunked %v): %d %q, want 413 naming the limit of %s", c.method, c.path, c.size>>10, chunked, code, msg, c.limit)
			}
		}
	}
	// Under the limits, the same endpoints still take a body.
	if code, r := s.call(s.root, "PUT", "/api/v1/webhook", map[string]any{"tenant": "acme", "url": ""}); code != 200 {
		t.Errorf("a small webhook body: %d %v", code, r)
	}
}

// TestSavedSearchLimits: a tenant cannot fill the catalog and every
// console's list with huge saved searches: size limits answer 413 naming
// the limit, columns that are neither a field nor raw.<path> 400, and a
// tenant holds at most 200.
func TestSavedSearchLimits(t *testing.T) {
	s := serveAPI(t, t.TempDir(), "--no-schedule")
	tok := s.token("acme")
	save := func(m map[string]any) (int, string) {
		t.Helper()
		if _, ok := m["name"]; !ok {
			m["name"] = "hunt"
		}
		if _, ok := m["query"]; !ok {
			m["query"] = "event_name:ConsoleLogin"
		}
		code, r := s.call(tok, "POST", "/api/v1/searches", m)
		return code, errMessage(r)
	}
	many := make([]string, 100)
	for i := range many {
		many[i] = "event_name"
	}
	over := []struct {
		what  string
		body  map[string]any
		code  int
		wants []string
	}{
		{"a 20 KB query", map[string]any{"query": strings.Repeat("event_name:x OR ", 1300) + "event_name:y"}, 413, []string{"query", "16384"}},
		{"100 columns", map[string]any{"columns": many}, 413, []string{"columns", "64"}},
		{"a 300-byte name", map[string]any{"name": strings.Repeat("n", 300)}, 413, []string{"name", "200"}},
		{"an unknown column", map[string]any{"columns": []string{"event_name", "no_such_field"}}, 400, []string{"columns[1]", "no_such_field", "raw.<path>"}},
		{"a raw column with an empty key", map[string]any{"columns": []string{"raw..x"}}, 400, []string{"columns[0]"}},
	}
	for _, c := range over {
		code, msg := save(c.body)
		ok := code == c.code
		for _, w := range c.wants {
			ok = ok && strings.Contains(msg, w)
		}
		if !ok {
			t.Errorf("%s: %d %q, want %d naming %v", c.what, code, msg, c.code, c.wants)
		}
	}
	// Fields and raw paths are columns; the tenant may keep 200 searches.
	for i := range 200 {
		code, msg := save(map[string]any{"name": fmt.Sprintf("hunt %d", i), "columns": []string{"timestamp", "srcip", "raw.requestParameters.bucketName"}})
		if code != 201 {
			t.Fatalf("saved search %d: %d %s", i, code, msg)
		}
	}
	if code, msg := save(map[string]any{"name": "one too many"}); code != 413 || !strings.Contains(msg, "200") {
		t.Errorf("the 201st saved search: %d %q, want 413 naming the limit of 200", code, msg)
	}
	code, r := s.call(tok, "GET", "/api/v1/searches", nil)
	if list, _ := r["searches"].([]any); code != 200 || len(list) != 200 {
		t.Errorf("the tenant's list: %d, %d searches, want 200", code, len(list))
	}
	// Another tenant's quota is its own.
	if code, r := s.call(s.token("other"), "POST", "/api/v1/searches", map[string]any{"name": "mine", "query": "srcip:10.0.0.0/8"}); code != 201 {
		t.Errorf("another tenant's first search: %d %v", code, r)
	}
}

// serveLogged starts `trawl serve` with its log (stderr) kept in logs; it
// is killed at the test's end.
func serveLogged(t *testing.T, data string, logs *syncBuffer, extra ...string) *served {
	t.Helper()
	cmd := launchLogged(t, data, 30*time.Second, logs, append([]string{"serve", "--addr", "127.0.0.1:0"}, extra...)...)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return servedAt(t, data)
}

// schedStatus is what the backoff test reads of a connector's status.
type schedStatus struct {
	NextRun  *time.Time `json:"next_run"`
	Failures int        `json:"consecutive_failures"`
	LastRun  *struct {
		Result  string     `json:"result"`
		EndedAt *time.Time `json:"ended_at"`
	} `json:"last_run"`
}

func (s *served) schedStatus(id string) schedStatus {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.base+"/api/v1/connectors/"+id+"/status", nil)
	req.Header.Set("Authorization", "Bearer "+s.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st schedStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		s.t.Fatalf("status of %s: %v", id, err)
	}
	return st
}

// TestFailingConnectorBacksOff: a connector collected every 10 s whose
// bucket does not exist is retried after 10 s, then 20 s (not every 10 s
// for ever); its status and the server's log say when the next try is and
// how many runs failed in a row; once the bucket exists the next try
// succeeds and the connector is back on its interval.
func TestFailingConnectorBacksOff(t *testing.T) {
	srv := s3server.Start(t)
	data := t.TempDir()
	addConnector(t, srv, data, "late", "not-created-yet", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey, "--interval", "10s")
	id := connectorID(t, data, "late")
	logs := &syncBuffer{}
	s := serveLogged(t, data, logs)
	waitFor := func(what string, d time.Duration, ok func(schedStatus) bool) schedStatus {
		t.Helper()
		for end := time.Now().Add(d); ; time.Sleep(200 * time.Millisecond) {
			st := s.schedStatus(id)
			if ok(st) {
				return st
			}
			if time.Now().After(end) {
				t.Fatalf("%s: not within %s; status %+v; log:\n%s", what, d, st, logs.String())
			}
		}
	}
	// Two failures: the second retry waits twice the first (10 s less up
	// to 10% jitter, doubled), not the interval again.
	st := waitFor("two failed runs", 40*time.Second, func(st schedStatus) bool {
		return st.Failures >= 2 && st.LastRun != nil && st.LastRun.EndedAt != nil
	})
	if st.Failures != 2 || st.NextRun == nil || st.LastRun.Result != "failed" {
		t.Fatalf("after two failures: %+v", st)
	}
	if wait := st.NextRun.Sub(*st.LastRun.EndedAt); wait < 17*time.Second || wait > 21*time.Second {
		t.Errorf("after two failures the next try is %s after the last, want about 20 s (10 s doubled)", wait)
	}
	for _, want := range []string{"retrying with backoff", "connector=late", "failures=2", "retry_in=", "next_run=" + st.NextRun.UTC().Format(time.RFC3339)} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the server's log does not say %q:\n%s", want, logs.String())
		}
	}
	// Fix the cause: the next try succeeds and resets the backoff.
	srv.Fill(t, "not-created-yet", nil)
	st = waitFor("a successful run after the bucket exists", 40*time.Second, func(st schedStatus) bool {
		return st.LastRun != nil && st.LastRun.Result == "ok"
	})
	if st.Failures != 0 || st.NextRun == nil {
		t.Fatalf("after a success: %+v", st)
	}
	if wait := time.Until(*st.NextRun); wait > 12*time.Second {
		t.Errorf("after a success the next run is in %s, want its 10 s interval", wait)
	}
}

// connectorID is a connector's ID, from `trawl connector show`.
func connectorID(t *testing.T, data, name string) string {
	t.Helper()
	var st struct {
		Connector struct {
			ID string `json:"id"`
		} `json:"connector"`
	}
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "connector", "show", name)), &st); err != nil || st.Connector.ID == "" {
		t.Fatalf("connector show %s: %v", name, err)
	}
	return st.Connector.ID
}
