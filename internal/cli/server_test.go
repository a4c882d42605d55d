package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiStub is a loopback server that notes the token of each request.
type apiStub struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tokens []string
}

func newAPIStub(t *testing.T) *apiStub {
	s := &apiStub{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.tokens = append(s.tokens, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		s.mu.Unlock()
		_, _ = io.WriteString(w, `{"connectors":[]}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *apiStub) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The order the package comment promises: --server, then the saved login
// (unless a data directory was named), then the data directory.
func TestWhereACommandGoes(t *testing.T) {
	flagged, saved := newAPIStub(t), newAPIStub(t)
	cfg := filepath.Join(t.TempDir(), "config.json")
	t.Setenv("TRAWL_CONFIG", cfg)
	if err := os.WriteFile(cfg, []byte(`{"server":"`+saved.srv.URL+`","token":"login-token"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	list := func(g *globals) error {
		b, err := openBackend1(testCtx(t), g)
		if err != nil {
			return err
		}
		defer b.Close()
		_, err = b.ListConnectors(testCtx(t), "")
		return err
	}
	var errOut bytes.Buffer
	empty := t.TempDir()

	if err := list(&globals{server: flagged.srv.URL, token: "flag-token", dataDir: empty, stderr: &errOut}); err != nil {
		t.Fatal(err)
	}
	if got := flagged.seen(); len(got) != 1 || got[0] != "flag-token" || len(saved.seen()) != 0 {
		t.Fatalf("--server: flagged saw %v, login's server %v", got, saved.seen())
	}
	if err := list(&globals{dataDir: empty, stderr: &errOut}); err != nil {
		t.Fatal(err)
	}
	if got := saved.seen(); len(got) != 1 || got[0] != "login-token" {
		t.Fatalf("login: its server saw %v, want its token once", got)
	}
	err := list(&globals{dataDir: empty, dataDirGiven: true, stderr: &errOut})
	if err == nil || !strings.Contains(err.Error(), "no Trawl data directory at") || len(saved.seen()) != 1 {
		t.Fatalf("a named, never set-up directory: %v (the login's server saw %d requests)", err, len(saved.seen()))
	}
}

// A login file that is not one is an error naming it and the fix, not a
// silent fallback to the data directory.
func TestABrokenLoginIsReported(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.json")
	t.Setenv("TRAWL_CONFIG", cfg)
	if l, err := readLogin(); l != nil || err != nil {
		t.Fatalf("no file: %v %v, want no login and no error", l, err)
	}
	if err := os.WriteFile(cfg, []byte(`{"token":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := readLogin()
	if err == nil || !strings.Contains(err.Error(), cfg) || !strings.Contains(err.Error(), "trawl login again") {
		t.Fatalf("a login without a server: %v", err)
	}
}

// Settings of the process that opens the directory are refused through a
// server, each named, with where they belong.
func TestServerOnlyFlagsAreRefusedThroughAServer(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	g := &globals{}
	fs.StringVar(&g.lake.location, "lake", "", "")
	fs.StringVar(&g.catalog, "catalog", "", "")
	fs.StringVar(&g.dataDir, "data-dir", "", "")
	fs.BoolVar(&g.verbose, "v", false, "")
	if err := fs.Parse([]string{"--lake", "s3://b/p", "--catalog", "postgres://x", "--data-dir", "d", "-v"}); err != nil {
		t.Fatal(err)
	}
	g.noteFlags(fs)
	if !g.dataDirGiven {
		t.Error("--data-dir given, not noted")
	}
	err := g.refuseServerFlags("http://127.0.0.1:8080")
	if err == nil {
		t.Fatal("--lake and --catalog through a server were not refused")
	}
	for _, want := range []string{"--catalog, --lake are", "http://127.0.0.1:8080", "give them to `trawl serve`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	g.noteFlags(flag.NewFlagSet("y", flag.ContinueOnError))
	if err := g.refuseServerFlags("http://127.0.0.1:8080"); err != nil {
		t.Errorf("no server-only flag given: %v", err)
	}
}

// A command waits for a directory a starting server is filling, and takes
// it once the catalog appears.
func TestACommandWaitsForADirectoryBeingSetUp(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "master.key"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &globals{dataDir: dir}
	if setUp(dir) {
		t.Fatal("a directory with only a key is not set up")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(300 * time.Millisecond)
		_ = os.WriteFile(filepath.Join(dir, "catalog.id"), []byte("c"), 0o600)
	}()
	base, ok := g.awaitSetUp(testCtx(t))
	<-done
	if !ok || base != "" {
		t.Fatalf("awaitSetUp: %q %v, want the directory itself once set up", base, ok)
	}
}
