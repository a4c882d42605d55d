package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/connector"
)

// seen is what a test server received.
type seen struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (s *seen) record(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
	s.body = append(s.body, b)
	return b
}

func server(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body []byte)) (*Client, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r, s.record(r))
	}))
	t.Cleanup(srv.Close)
	return New(srv.URL, "tok-1"), s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// Every request carries the token; a connector's new secret travels in the
// request (json.Marshal alone would send the mask), and its version as
// If-Match.
func TestRequestsCarryTokenSecretAndVersion(t *testing.T) {
	c, s := server(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		_, _ = io.WriteString(w, `{"id":"c1","name":"n"}`)
	})
	in := connector.Connector{Name: "n", SecretAccessKey: connector.NewSecret("s3cr3t")}
	out, err := c.UpdateConnector(ctx(t), "c/1", in, 7)
	if err != nil || out.ID != "c1" {
		t.Fatalf("update: %+v %v", out, err)
	}
	r, body := s.reqs[0], s.body[0]
	if got := r.Header.Get("Authorization"); got != "Bearer tok-1" {
		t.Errorf("Authorization %q", got)
	}
	if got := r.Header.Get("If-Match"); got != `"7"` {
		t.Errorf("If-Match %q", got)
	}
	if r.Method != "PUT" || r.URL.EscapedPath() != "/api/v1/connectors/c%2F1" {
		t.Errorf("request %s %s: the id is one escaped path segment", r.Method, r.URL.EscapedPath())
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m["secret_access_key"] != "s3cr3t" {
		t.Errorf("body %s: the new secret is sent as given", body)
	}

	// A masked secret (as the server answers it) is left out: "keep it".
	in.SecretAccessKey = connector.NewSecret(connector.Masked)
	if _, err := c.CreateConnector(ctx(t), in); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s.body[1], []byte("secret_access_key")) {
		t.Errorf("body %s: a masked secret is not sent back", s.body[1])
	}
}

// The server's error body becomes an APIError with its status, code,
// field and problems; a body that is not JSON still gives the status.
func TestErrorsKeepTheServersAnswer(t *testing.T) {
	c, _ := server(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if strings.Contains(r.URL.RawQuery, "q=bad") {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":{"code":"bad_query","message":"unexpected ')' at 3","field":"q","position":3}}`)
			return
		}
		if r.URL.Path == "/api/v1/connectors" {
			w.WriteHeader(422)
			_, _ = io.WriteString(w, `{"error":{"problems":[{"field":"bucket","message":"is required"}]}}`)
			return
		}
		w.WriteHeader(502)
		_, _ = io.WriteString(w, "<html>proxy</html>")
	})
	_, err := c.Search(ctx(t), SearchParams{Query: "bad"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "bad_query" || ae.Field != "q" || ae.Position == nil || *ae.Position != 3 {
		t.Fatalf("search error %#v", err)
	}
	if err.Error() != "unexpected ')' at 3" {
		t.Errorf("message %q", err.Error())
	}
	_, err = c.CreateConnector(ctx(t), connector.Connector{})
	if !errors.As(err, &ae) || ae.Status != 422 || len(ae.Problems) != 1 || !strings.Contains(err.Error(), "bucket") {
		t.Fatalf("validation error %#v (%v): the problems name the field", err, err)
	}
	_, err = c.Status(ctx(t), "x")
	if !errors.As(err, &ae) || ae.Status != 502 || !strings.Contains(err.Error(), "502") {
		t.Fatalf("non-JSON error %#v: the HTTP status is the message", err)
	}
}

// Search parameters go as the API reads them: one index parameter each,
// the cursor as JSON, no limit when none was given.
func TestSearchParameters(t *testing.T) {
	c, s := server(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		_, _ = io.WriteString(w, `{"rows":[]}`)
	})
	at := time.Date(2026, 12, 1, 2, 3, 4, 0, time.UTC)
	p := SearchParams{Indices: []string{"aws_events", "traffic"}, Tenant: "acme", From: "-1h", Query: `user.name:"a b"`, Cursor: &apiv1.Cursor{Timestamp: at, ID: "r9"}}
	if _, err := c.Search(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	q := s.reqs[0].URL.Query()
	if got := q["index"]; len(got) != 2 || got[0] != "aws_events" || got[1] != "traffic" {
		t.Errorf("index %v", got)
	}
	if q.Get("tenant") != "acme" || q.Get("from") != "-1h" || q.Has("to") || q.Has("limit") || q.Get("q") != `user.name:"a b"` {
		t.Errorf("query %v", q)
	}
	var cur apiv1.Cursor
	if err := json.Unmarshal([]byte(q.Get("cursor")), &cur); err != nil || !cur.Timestamp.Equal(at) || cur.ID != "r9" {
		t.Errorf("cursor %q", q.Get("cursor"))
	}
}

// A digest audit's pages share one period: a relative time is resolved
// once, the first page is the POST that runs it, the rest GETs with the
// page's cursor.
func TestAuditPagesShareOnePeriod(t *testing.T) {
	c, s := server(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		next := map[string]string{"": "p2", "p2": "p3", "p3": ""}[r.URL.Query().Get("cursor")]
		_ = json.NewEncoder(w).Encode(apiv1.AuditPage{Results: []apiv1.AuditResult{{Digest: "d-" + r.URL.Query().Get("cursor")}}, Next: next})
	})
	var got []string
	err := c.AuditDigests(ctx(t), "c1", "-2h", "", func(rs []apiv1.AuditResult) error {
		for _, r := range rs {
			got = append(got, r.Digest)
		}
		return nil
	})
	if err != nil || strings.Join(got, ",") != "d-,d-p2,d-p3" {
		t.Fatalf("pages %v %v", got, err)
	}
	if len(s.reqs) != 3 || s.reqs[0].Method != "POST" || s.reqs[1].Method != "GET" || s.reqs[2].Method != "GET" {
		t.Fatalf("requests: %d", len(s.reqs))
	}
	from := s.reqs[0].URL.Query().Get("from")
	ft, err := time.Parse(time.RFC3339Nano, from)
	if err != nil || time.Since(ft) < 2*time.Hour-time.Minute || time.Since(ft) > 2*time.Hour+time.Minute {
		t.Fatalf("from %q: -2h is sent as the time it means", from)
	}
	for _, r := range s.reqs[1:] {
		if r.URL.Query().Get("from") != from {
			t.Errorf("page %s has from %q, not the first page's %q", r.URL.Query().Get("cursor"), r.URL.Query().Get("from"), from)
		}
	}
}

// An export is copied as it arrives; a body cut short is an error, never
// a short export passed as whole.
func TestExportStreamsAndReportsABrokenTransfer(t *testing.T) {
	c, s := server(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Query().Get("tenant") == "cut" {
			w.Header().Set("Content-Length", "1000")
			_, _ = io.WriteString(w, "a,b\n1,2\n")
			// Hijack and close: the client sees fewer bytes than promised.
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		_, _ = io.WriteString(w, "a,b\n1,2\n")
	})
	var out bytes.Buffer
	if err := c.Export(ctx(t), SearchParams{Tenant: "t", Limit: 5}, "csv", []string{"a", "b"}, &out); err != nil || out.String() != "a,b\n1,2\n" {
		t.Fatalf("export %q %v", out.String(), err)
	}
	q := s.reqs[0].URL.Query()
	if q.Has("limit") || q.Get("format") != "csv" || q.Get("columns") != "a,b" {
		t.Errorf("export query %v: an export has no limit", q)
	}
	out.Reset()
	if err := c.Export(ctx(t), SearchParams{Tenant: "cut"}, "csv", nil, &out); err == nil || !strings.Contains(err.Error(), "transfer broke") {
		t.Fatalf("cut export: %v", err)
	}
}

func TestHealthy(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(404)
		}
	}))
	defer ok.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer sick.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	if !Healthy(ctx(t), ok.URL) || Healthy(ctx(t), sick.URL) || Healthy(ctx(t), closed) {
		t.Fatal("Healthy: true only for a server answering 200 at /healthz")
	}
}
