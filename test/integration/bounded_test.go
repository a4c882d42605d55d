package integration

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
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
