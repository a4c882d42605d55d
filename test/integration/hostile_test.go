package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/testutil/dnsserver"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// served is a `trawl serve` process reached over its HTTP API, as a user's
// script or an attacker's would.
type served struct {
	t    *testing.T
	base string
	root string
}

func serveAPI(t *testing.T, data string, extra ...string) *served {
	t.Helper()
	stop := startServe(t, data, extra...)
	t.Cleanup(stop)
	return servedAt(t, data)
}

// startServeCmd starts `trawl serve` and leaves stopping it to the test.
func startServeCmd(t *testing.T, data string, extra ...string) (*exec.Cmd, *served) {
	t.Helper()
	cmd := launchServe(t, "127.0.0.1:0", data, extra...)
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, servedAt(t, data)
}

func servedAt(t *testing.T, data string) *served {
	t.Helper()
	var si struct{ Addr string }
	b, err := os.ReadFile(filepath.Join(data, "server.json"))
	if err != nil || json.Unmarshal(b, &si) != nil {
		t.Fatalf("server.json: %v", err)
	}
	tok, err := os.ReadFile(filepath.Join(data, "root.token"))
	if err != nil {
		t.Fatal(err)
	}
	return &served{t: t, base: "http://" + si.Addr, root: strings.TrimSpace(string(tok))}
}

func (s *served) call(tok, method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, r)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

func (s *served) token(tenant string) string {
	code, r := s.call(s.root, "POST", "/api/v1/tokens", map[string]any{"tenant": tenant, "name": tenant})
	if code != 201 {
		s.t.Fatalf("token: %d %v", code, r)
	}
	return r["token"].(string)
}

// TestHostileTenant: a tenant token tries to reach the server's disk, the
// server's own AWS identity and the metadata service, with literal
// addresses and with host names served by a DNS server the test controls
// (including a name that changes after it was saved, and a redirect).
func TestHostileTenant(t *testing.T) {
	srv := s3server.Start(t)
	objs, _ := trailObjects(3, 1, 5)
	bucket(t, srv, "hostile", objs)
	dns := dnsserver.Start(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.Endpoint, "http://"))
	dns.Set("s3.corp.test", "127.0.0.1")
	dns.Set("meta.test", "169.254.169.254")
	dns.Set("meta6.test", "fd00:ec2::254")
	dns.Set("nat64.test", "64:ff9b::a9fe:a9fe")
	dns.Set("sixtofour.test", "2002:a9fe:a9fe::1")
	dns.Set("rebind.test", "127.0.0.1")
	var redirected atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { redirected.Add(1) }))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	// A forward proxy that forwards nothing, so a request that reaches it
	// is visible.
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer proxy.Close()

	data := t.TempDir()
	allowed := t.TempDir()
	s := serveAPI(t, data, "--no-schedule", "--dns-server", dns.Addr, "--allow-folder", allowed)
	tok := s.token("evil")
	body := func(name string, over map[string]any) map[string]any {
		b := map[string]any{"name": name, "tenant": "evil", "sub_type": "cloudtrail", "bucket": "hostile", "prefix": "AWSLogs/" + acct + "/CloudTrail",
			"access_key_id": srv.AccessKey, "secret_access_key": srv.SecretKey, "endpoint": "http://s3.corp.test:" + port, "path_style": true,
			"start": time.Now().Add(-72 * time.Hour).Format(time.RFC3339)}
		for k, v := range over {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	refused := []struct {
		name string
		tok  string
		over map[string]any
		code int
		text string
	}{
		{"disk", tok, map[string]any{"endpoint": "file:///etc"}, 403, "server's own disk"},
		{"disk-allowed-folder", tok, map[string]any{"endpoint": "file://" + allowed}, 403, "server's own disk"},
		{"root-outside-folder", s.root, map[string]any{"endpoint": "file:///etc"}, 400, "outside the folders"},
		{"ambient", tok, map[string]any{"credentials": "ambient", "access_key_id": nil, "secret_access_key": nil}, 403, "server's own AWS identity"},
		{"blank-keys", tok, map[string]any{"access_key_id": nil, "secret_access_key": nil}, 400, "credentials"},
		{"literal-metadata", tok, map[string]any{"endpoint": "http://169.254.169.254"}, 400, "metadata"},
		{"name-metadata", tok, map[string]any{"endpoint": "http://meta.test"}, 400, "metadata"},
		{"name-metadata-v6", tok, map[string]any{"endpoint": "http://meta6.test"}, 400, "metadata"},
		{"name-nat64", tok, map[string]any{"endpoint": "http://nat64.test"}, 400, "NAT64"},
		{"name-6to4", tok, map[string]any{"endpoint": "http://sixtofour.test"}, 400, "embeds a refused address"},
		{"unresolvable", tok, map[string]any{"endpoint": "http://nowhere.test"}, 400, "does not resolve"},
		{"proxy-to-metadata", tok, map[string]any{"endpoint": "http://meta.test", "proxy_uri": proxy.URL}, 400, "metadata"},
		{"proxy-is-metadata", tok, map[string]any{"proxy_uri": "http://meta.test:3128"}, 400, "metadata"},
	}
	for _, c := range refused {
		code, r := s.call(c.tok, "POST", "/api/v1/connectors", body(c.name, c.over))
		if code != c.code || !strings.Contains(fmt.Sprint(r), c.text) {
			t.Errorf("%s: %d %v, want %d mentioning %q", c.name, code, r, c.code, c.text)
		}
	}
	// A root token may choose ambient credentials and an allowed folder.
	if code, r := s.call(s.root, "POST", "/api/v1/connectors", body("root-ambient", map[string]any{"tenant": "ops", "credentials": "ambient", "access_key_id": nil, "secret_access_key": nil})); code != 201 {
		t.Errorf("root ambient: %d %v", code, r)
	}
	if code, r := s.call(s.root, "POST", "/api/v1/connectors", body("root-folder", map[string]any{"tenant": "ops", "endpoint": "file://" + allowed})); code != 201 {
		t.Errorf("root allowed folder: %d %v", code, r)
	}
	// Nothing a tenant saved reads the server's disk: its quarantine is empty.
	if _, r := s.call(tok, "GET", "/api/v1/connectors", nil); len(r["connectors"].([]any)) != 0 {
		t.Errorf("refused connectors were saved: %v", r)
	}

	// Rebinding: saved while the name pointed at loopback, then moved to
	// the metadata address: the dial is refused.
	code, c := s.call(tok, "POST", "/api/v1/connectors", body("rebind", map[string]any{"endpoint": "http://rebind.test:" + port}))
	if code != 201 {
		t.Fatalf("rebind.test while loopback: %d %v", code, c)
	}
	dns.Set("rebind.test", "169.254.169.254")
	_, res := s.call(tok, "POST", "/api/v1/connectors/"+c["id"].(string)+"/test", nil)
	if res["ok"] != false || !strings.Contains(fmt.Sprint(res), "refused address") {
		t.Errorf("test after rebinding: %v", res)
	}
	// The same through a proxy: the endpoint is resolved and checked
	// before the request, and the proxy never sees it.
	dns.Set("rebind.test", "127.0.0.1")
	code, c = s.call(tok, "POST", "/api/v1/connectors", body("rebind-proxy", map[string]any{"endpoint": "http://rebind.test:" + port, "proxy_uri": proxy.URL}))
	if code != 201 {
		t.Fatalf("rebind via proxy: %d %v", code, c)
	}
	dns.Set("rebind.test", "169.254.169.254")
	before := proxied.Load()
	_, res = s.call(tok, "POST", "/api/v1/connectors/"+c["id"].(string)+"/collect", nil)
	if !strings.Contains(fmt.Sprint(res), "refused address") || proxied.Load() != before {
		t.Errorf("collect through a proxy after rebinding: proxied %d, %v", proxied.Load()-before, res)
	}
	// A redirect is never followed.
	code, c = s.call(tok, "POST", "/api/v1/connectors", body("redirect", map[string]any{"endpoint": redirector.URL}))
	if code != 201 {
		t.Fatalf("redirecting endpoint: %d %v", code, c)
	}
	_, res = s.call(tok, "POST", "/api/v1/connectors/"+c["id"].(string)+"/test", nil)
	if res["ok"] != false || redirected.Load() != 0 {
		t.Errorf("redirect followed %d times: %v", redirected.Load(), res)
	}
	if dns.Asked("meta.test") == 0 {
		t.Error("the test's DNS server was never asked: the names were not resolved through --dns-server")
	}
}
