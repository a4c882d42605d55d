package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
)

// testServer is the API over an App opened on a fresh data directory,
// called in process (no listener).
type testServer struct {
	t    *testing.T
	app  *app.App
	srv  *Server
	root string // the root token
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	a, err := app.Open(context.Background(), app.Options{DataDir: dir, MemoryLimit: "256MB"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	root := "trawl_root_test_" + filepath.Base(dir)
	return &testServer{t: t, app: a, srv: New(a, root, nil, nil), root: root}
}

// token creates a tenant (if new) and a token of it.
func (s *testServer) token(tenant string) string {
	s.t.Helper()
	tok, _, err := s.app.CreateToken(context.Background(), app.RootScope("test"), tenant, "t")
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// call sends a request with a bearer token and a JSON body (when not nil)
// and returns the status and the decoded JSON answer.
func (s *testServer) call(tok, method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	s.srv.ServeHTTP(w, req)
	var out map[string]any
	if w.Body.Len() > 0 {
		if err := json.NewDecoder(w.Body).Decode(&out); err != nil && !strings.HasPrefix(w.Header().Get("Content-Type"), "text/") {
			s.t.Fatalf("%s %s: %d, body not JSON: %v", method, path, w.Code, err)
		}
	}
	return w.Code, out
}

// publishTables commits one record to each index of tenant and publishes
// the snapshots, so the tenant has a table per index.
func (s *testServer) publishTables(tenant string) {
	s.t.Helper()
	ctx := context.Background()
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for i, sch := range []*interflow.Schema{interflow.Events(), interflow.Traffic()} {
		r := interflow.New(sch)
		r.Stamp(interflow.Provenance{Tenant: tenant, Connector: "c", Bucket: "b", Key: "k", ETag: "e"}, int64(i), "cloudtrail", "paas")
		r.Set(interflow.FTimestamp, at)
		r.Set(interflow.FRaw, "{}")
		obj := ingest.ObjectState{Key: tenant + "/" + sch.Index, Version: "e", Position: 1, Done: true}
		if err := s.app.Lake().Commit(ctx, ingest.RecordsBatch("c-"+tenant, obj, r)); err != nil {
			s.t.Fatal(err)
		}
	}
	if err := s.app.Lake().Publish(ctx); err != nil {
		s.t.Fatal(err)
	}
}
