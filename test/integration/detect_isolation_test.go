package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// longRegexRule is a rule with a regular expression of 1,001 bytes, one
// more than a search allows.
func longRegexRule(id string) string {
	return "title: Long regex\nid: " + id + "\nlevel: low\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  selection:\n    userAgent|re: '" +
		strings.Repeat("a", 1001) + "'\n  condition: selection\n"
}

// manyTermsRule has three selections of 400 values each joined by
// "1 of s*": 1,200 terms, more than the 1,024 a search allows.
func manyTermsRule(id string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "title: Many terms\nid: %s\nlevel: low\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n", id)
	for s := 0; s < 3; s++ {
		fmt.Fprintf(&b, "  s%d:\n    eventName:\n", s)
		for v := 0; v < 400; v++ {
			fmt.Fprintf(&b, "      - Event%d_%d\n", s, v)
		}
	}
	b.WriteString("  condition: 1 of s*\n")
	return b.String()
}

// engineRule has a regular expression Go's regexp reads but DuckDB's RE2
// refuses ((?<name>…)): Trawl's own checks pass it, the engine does not.
func engineRule(id string) string {
	return "title: Engine\nid: " + id + "\nlevel: low\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  selection:\n    eventName|re: '(?<x>Stop)Logging'\n  condition: selection\n"
}

// metricsOf reads a server's /metrics with the root token.
func metricsOf(t *testing.T, sv *served) string {
	t.Helper()
	req, _ := http.NewRequest("GET", sv.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+sv.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestRuleThatCannotEvaluateIsRefused: a tenant's rule that compiles but
// whose query evaluation would refuse (a regular expression of 1,001
// bytes; 1,200 terms) is refused when saved, with 400 and an error that
// starts "invalid rule:" and names the field; so are bad ids, a built-in's
// id in another case, and a logsource Trawl holds no logs of. Webhook and
// public-key errors have their own prefixes.
func TestRuleThatCannotEvaluateIsRefused(t *testing.T) {
	data := t.TempDir()
	sv := serveAPI(t, data)
	tok := sv.token("acme")
	post := func(yaml string) (int, map[string]any) {
		t.Helper()
		code, res := sv.call(tok, "POST", "/api/v1/rules", map[string]any{"yaml": yaml})
		e, _ := res["error"].(map[string]any)
		return code, e
	}
	rule := func(id, logsource string) string {
		return "title: T\nid: " + id + "\nlevel: low\nlogsource: " + logsource + "\ndetection:\n  selection:\n    eventName: ListUsers\n  condition: selection\n"
	}
	cases := []struct {
		name, yaml, field, says string
	}{
		{"regex of 1,001 bytes", longRegexRule("acme-long-re"), "detection", "regular expression"},
		{"1,200 terms", manyTermsRule("acme-many"), "detection", "1024 terms"},
		{"a regex Go reads and DuckDB does not", engineRule("acme-engine"), "detection", "search engine refuses"},
		{"id ..", rule(`".."`, "{product: aws, service: cloudtrail}"), "id", "must not start with '.'"},
		{"id a/b", rule("a/b", "{product: aws, service: cloudtrail}"), "id", "letters, digits"},
		{"id with NUL", rule(`"a\0b"`, "{product: aws, service: cloudtrail}"), "id", "letters, digits"},
		{"id of 5,000 characters", rule(strings.Repeat("x", 5000), "{product: aws, service: cloudtrail}"), "id", "at most 128"},
		{"a built-in's id upper-cased", rule("TRAWL-ct-001", "{product: aws, service: cloudtrail}"), "id", "built-in"},
		{"id in HTML", rule(`"<b>x</b>"`, "{product: aws, service: cloudtrail}"), "id", "letters, digits"},
		{"product windows", rule("acme-win", "{product: windows, category: process_creation}"), "logsource", "windows"},
		{"service s3", rule("acme-s3", "{product: aws, service: s3}"), "logsource", "s3"},
	}
	for _, c := range cases {
		code, e := post(c.yaml)
		msg, _ := e["message"].(string)
		if code != 400 || e["field"] != c.field || !strings.HasPrefix(msg, "invalid rule: "+c.field+": ") || !strings.Contains(msg, c.says) {
			t.Errorf("%s: %d %v; want 400 on field %s saying %q", c.name, code, e, c.field, c.says)
		}
	}
	// Nothing of it was stored.
	code, res := sv.call(tok, "GET", "/api/v1/rules", nil)
	if b, _ := json.Marshal(res); code != 200 || strings.Contains(string(b), `"builtin":false`) {
		t.Errorf("rules after the refusals: %d %s", code, b)
	}
	// A good rule with a valid id goes in.
	if code, e := post(rule("acme.list_users-1", "{product: aws, service: cloudtrail}")); code != 201 {
		t.Errorf("a valid rule: %d %v", code, e)
	}
	// Ids in paths are checked too.
	for _, id := range []string{".hidden", strings.Repeat("y", 200), "a%00b"} {
		code, res := sv.call(tok, "POST", "/api/v1/rules/"+id+"/disable", nil)
		e, _ := res["error"].(map[string]any)
		if msg, _ := e["message"].(string); code != 400 || !strings.HasPrefix(msg, "invalid rule: id: ") {
			t.Errorf("disable %.20q: %d %v", id, code, e)
		}
	}
	// The CLI refuses a bad id itself, clearly, before any request.
	for _, id := range []string{"..", "a/b", strings.Repeat("z", 300)} {
		r := trawl(t, data, nil, "rules", "disable", id, "--tenant", "acme")
		if r.code != 2 || !strings.Contains(r.stderr, "invalid rule: id: ") || strings.Contains(r.stderr, "endpoint") {
			t.Errorf("rules disable %.20q: %d %s", id, r.code, r.stderr)
		}
	}
	// Webhooks and public keys say what they are.
	code, res = sv.call(tok, "PUT", "/api/v1/webhook", map[string]any{"url": "ftp://x"})
	if e, _ := res["error"].(map[string]any); code != 400 || !strings.HasPrefix(fmt.Sprint(e["message"]), "invalid webhook: url: ") {
		t.Errorf("a bad webhook: %d %v", code, res)
	}
	if r := trawl(t, data, nil, "rules", "webhook", "ftp://x", "--tenant", "acme"); r.code == 0 || !strings.Contains(r.stderr, "invalid webhook: url: ") {
		t.Errorf("a bad webhook from the CLI: %d %s", r.code, r.stderr)
	}
	code, res = sv.call(sv.root, "POST", "/api/v1/public-keys", map[string]any{"PublicKeyList": "no"})
	if e, _ := res["error"].(map[string]any); code != 400 || !strings.HasPrefix(fmt.Sprint(e["message"]), "invalid public keys: ") {
		t.Errorf("bad public keys: %d %v", code, res)
	}
}

// plantRules stores rules in a data directory's catalog as an older Trawl
// did, without the checks of today's: rules that compile but fail when
// evaluated.
func plantRules(t *testing.T, data, tenant string, yamls map[string]string) {
	t.Helper()
	a, err := app.Open(context.Background(), app.Options{DataDir: data, Catalog: catalogOf(t, data)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for id, y := range yamls {
		if err := a.Lake().PutRule(context.Background(), catalog.StoredRule{Tenant: tenant, ID: id, YAML: y, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFailingRuleStopsNoOtherTenant: tenant aaa holds two rules that fail
// when evaluated (stored before the checks at save existed). Another
// tenant's count rule and new rule still raise their alerts, at ingest
// and on schedule; aaa's rules are marked failed with their reasons in
// `trawl rules list`, the API the console reads, and /metrics.
func TestFailingRuleStopsNoOtherTenant(t *testing.T) {
	srv := s3server.Start(t)
	bucket(t, srv, "iso", nil)
	data := t.TempDir()
	prefix := "AWSLogs/" + acct + "/CloudTrail"
	addConnector(t, srv, data, "a-trail", "iso", prefix, srv.SecretKey, "--tenant", "aaa")
	addConnector(t, srv, data, "z-trail", "iso", prefix, srv.SecretKey, "--tenant", "zeta")
	plantRules(t, data, "aaa", map[string]string{"aaa-long-re": longRegexRule("aaa-long-re"), "aaa-many": manyTermsRule("aaa-many"),
		"aaa-engine": engineRule("aaa-engine")})
	dir := t.TempDir()
	count := filepath.Join(dir, "count.yml")
	os.WriteFile(count, []byte(`title: Trail stopped, counted
id: zeta-stop-count
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventName: StopLogging
  timeframe: 5m
  condition: selection | count() by eventSource > 0
`), 0o644)
	mustTrawl(t, data, "rules", "add", count, "--tenant", "zeta")
	// An old StopLogging (its window closed: the schedule's and the count
	// rule's) and a new one (its window open: only the detector at ingest
	// raises it).
	now := time.Now().UTC()
	putEvents(t, srv, "iso", ctEvent("cloudtrail.amazonaws.com", "StopLogging", now.Add(-time.Hour)), ctEvent("cloudtrail.amazonaws.com", "StopLogging", now))
	// Without a server the CLI evaluates after the collection, as the
	// server does; an evaluation after that must succeed too.
	mustTrawl(t, data, "collect", "--once")
	r := trawl(t, data, nil, "alerts", "--evaluate", "--format", "json", "--since", "-48h")
	if r.code != 0 {
		t.Fatalf("an evaluation with aaa's failing rules: exit %d\n%s", r.code, r.stderr)
	}
	var as []struct {
		RuleID      string    `json:"rule_id"`
		Tenant      string    `json:"tenant"`
		WindowStart time.Time `json:"window_start"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &as); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, a := range as {
		got[a.Tenant+"/"+a.RuleID] = true
		if a.RuleID == "trawl-ct-003" && a.WindowStart.Equal(now.Truncate(5*time.Minute)) {
			got[a.Tenant+"/at-ingest"] = true
		}
	}
	// aaa's own built-in rules go on too: its failing rules are skipped,
	// even the one that fails only in the engine, beside them in one scan.
	for _, want := range []string{"zeta/trawl-ct-003", "zeta/zeta-stop-count", "zeta/at-ingest", "aaa/at-ingest"} {
		if !got[want] {
			t.Errorf("no alert %s among %v", want, got)
		}
	}
	// aaa's rules are marked failed, with why.
	var rules []struct {
		ID     string `json:"id"`
		Failed string `json:"failed"`
	}
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "rules", "list", "--tenant", "aaa", "--format", "json")), &rules); err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{}
	for _, r := range rules {
		if r.Failed != "" {
			failed[r.ID] = r.Failed
		}
	}
	if !strings.Contains(failed["aaa-long-re"], "regular expression") || !strings.Contains(failed["aaa-many"], "1024 terms") ||
		!strings.Contains(failed["aaa-engine"], "search engine refuses") || len(failed) != 3 {
		t.Errorf("aaa's failed rules: %v", failed)
	}
	if out := mustTrawl(t, data, "rules", "list", "--tenant", "aaa"); !strings.Contains(out, "FAILED") || !strings.Contains(out, "rule aaa-many failed") {
		t.Errorf("rules list does not show the failures:\n%s", out)
	}
	// Through a server: the API the console reads, and /metrics.
	sv := serveAPI(t, data)
	code, res := sv.call(sv.token("aaa"), "GET", "/api/v1/rules", nil)
	if b, _ := json.Marshal(res); code != 200 || !strings.Contains(string(b), `"failed":"its query fails`) {
		t.Errorf("GET /api/v1/rules of aaa: %d %s", code, b)
	}
	m := metricsOf(t, sv)
	for _, line := range []string{`trawl_rule_failed{tenant="aaa",rule="aaa-long-re"} 1`, `trawl_rule_failed{tenant="aaa",rule="aaa-many"} 1`} {
		if !strings.Contains(m, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	if strings.Contains(m, `trawl_rule_failed{tenant="zeta"`) {
		t.Error("metrics show a failed rule of zeta")
	}
	// Replaced by a rule that evaluates, a rule loses its mark.
	fixed := filepath.Join(dir, "fixed.yml")
	os.WriteFile(fixed, []byte("title: Fixed\nid: aaa-many\nlevel: low\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  s:\n    eventName: ListUsers\n  condition: s\n"), 0o644)
	mustTrawl(t, data, "rules", "add", fixed, "--tenant", "aaa")
	mustTrawl(t, data, "alerts", "--evaluate")
	if m := metricsOf(t, sv); strings.Contains(m, `rule="aaa-many"`) || !strings.Contains(m, `rule="aaa-long-re"`) {
		t.Errorf("after aaa-many was fixed, metrics:\n%s", m)
	}
}

// hookRecorder is a webhook receiver that records when each tenant's
// alerts arrive.
type hookRecorder struct {
	mu    sync.Mutex
	first map[string]time.Time // tenant -> first delivery
	ids   map[string][]string  // tenant -> rule ids delivered
}

func (h *hookRecorder) handler(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Alerts []struct {
			RuleID string `json:"rule_id"`
			Tenant string `json:"tenant"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		w.WriteHeader(400)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range body.Alerts {
		if _, ok := h.first[a.Tenant]; !ok {
			h.first[a.Tenant] = time.Now()
		}
		h.ids[a.Tenant] = append(h.ids[a.Tenant], a.RuleID)
	}
	w.WriteHeader(204)
}

func (h *hookRecorder) got(tenant string) (time.Time, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.first[tenant], append([]string(nil), h.ids[tenant]...)
}

// TestSlowWebhookDelaysNoOtherTenant: tenant aaa's webhook never answers;
// zeta's alerts still reach zeta's webhook within seconds of their
// collection (deliveries run per tenant, concurrently, outside the
// evaluation's lock).
func TestSlowWebhookDelaysNoOtherTenant(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // (runs before hang.Close)
	rec := &hookRecorder{first: map[string]time.Time{}, ids: map[string][]string{}}
	ok := httptest.NewServer(http.HandlerFunc(rec.handler))
	t.Cleanup(ok.Close)

	srv := s3server.Start(t)
	bucket(t, srv, "slow", nil)
	data := t.TempDir()
	t.Cleanup(startServe(t, data))
	prefix := "AWSLogs/" + acct + "/CloudTrail"
	addConnector(t, srv, data, "a-trail", "slow", prefix, srv.SecretKey, "--tenant", "aaa")
	addConnector(t, srv, data, "z-trail", "slow", prefix, srv.SecretKey, "--tenant", "zeta")
	mustTrawl(t, data, "rules", "webhook", hang.URL, "--tenant", "aaa")
	mustTrawl(t, data, "rules", "webhook", ok.URL, "--tenant", "zeta")
	putEvents(t, srv, "slow", ctEvent("cloudtrail.amazonaws.com", "StopLogging", time.Now()))
	mustTrawl(t, data, "collect", "--once")
	collected := time.Now()
	var at time.Time
	var ids []string
	for deadline := collected.Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if at, ids = rec.got("zeta"); !at.IsZero() {
			break
		}
	}
	if at.IsZero() {
		t.Fatal("zeta's webhook received nothing within 45 s")
	}
	// Behind aaa's webhook they would wait its three 10 s attempts.
	if d := at.Sub(collected); d > 15*time.Second {
		t.Errorf("zeta's alerts arrived %s after the collection, behind aaa's silent webhook; want under 15 s", d.Round(100*time.Millisecond))
	}
	if !strings.Contains(strings.Join(ids, ","), "trawl-ct-003") {
		t.Errorf("zeta's webhook got %v, want the StopLogging alert", ids)
	}
	// An operator's evaluation is not held by aaa's webhook either.
	start := time.Now()
	mustTrawl(t, data, "alerts", "--evaluate")
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("an evaluation took %s while aaa's webhook hangs", d.Round(100*time.Millisecond))
	}
}

// TestNewWebhookTakesPendingAlerts: alerts whose delivery failed are sent
// to the webhook a tenant sets next, not dropped.
func TestNewWebhookTakesPendingAlerts(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	t.Cleanup(failing.Close)
	rec := &hookRecorder{first: map[string]time.Time{}, ids: map[string][]string{}}
	ok := httptest.NewServer(http.HandlerFunc(rec.handler))
	t.Cleanup(ok.Close)
	srv := s3server.Start(t)
	bucket(t, srv, "pending", nil)
	data := t.TempDir()
	addConnector(t, srv, data, "trail", "pending", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, data, "rules", "webhook", failing.URL, "--tenant", "acme")
	putEvents(t, srv, "pending", ctEvent("cloudtrail.amazonaws.com", "StopLogging", time.Now()))
	mustTrawl(t, data, "collect", "--once")
	mustTrawl(t, data, "alerts", "--evaluate") // delivered to the failing webhook: 503
	if _, ids := rec.got("acme"); len(ids) != 0 {
		t.Fatalf("the working webhook got %v before it was set", ids)
	}
	mustTrawl(t, data, "rules", "webhook", ok.URL, "--tenant", "acme")
	mustTrawl(t, data, "alerts", "--evaluate")
	if _, ids := rec.got("acme"); !strings.Contains(strings.Join(ids, ","), "trawl-ct-003") {
		t.Errorf("the new webhook got %v; want the StopLogging alert the failing one never took", ids)
	}
}

// TestCollectOnceRaisesAlerts: without a server, `trawl collect --once`
// evaluates the rules over what it collected, so `trawl alerts` (no
// --evaluate) shows the StopLogging alerts of the collected records.
func TestCollectOnceRaisesAlerts(t *testing.T) {
	srv := s3server.Start(t)
	objs, _ := trailObjects(91, 14, 40)
	bucket(t, srv, "once", objs)
	data := t.TempDir()
	addConnector(t, srv, data, "trail", "once", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	want := stopLoggingWindows(t, objs, time.Now().Add(24*time.Hour))
	if len(want) == 0 {
		t.Fatal("the generated data holds no StopLogging event: the test proves nothing")
	}
	// --timings (the binary benchmark's breakdown) reports every phase,
	// rule evaluation and shut-down included, and the ingest stages.
	r := trawl(t, data, nil, "collect", "--once", "--timings")
	if r.code != 0 {
		t.Fatalf("collect --once --timings exited %d: %s", r.code, r.stderr)
	}
	for _, w := range []string{"wall time: start-up ", ", collection ", ", rules ", ", shut-down ", ", total ",
		"ingest stages (summed over workers): read ", ", commit "} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("collect --timings' report lacks %q:\n%s", w, r.stderr)
		}
	}
	var as []struct {
		RuleID      string    `json:"rule_id"`
		WindowStart time.Time `json:"window_start"`
	}
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "alerts", "--format", "json", "--since", "-48h")), &as); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range as {
		if a.RuleID == "trawl-ct-003" {
			got = append(got, a.WindowStart.UTC().Format(time.RFC3339))
		}
	}
	slices.Sort(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("after collect --once, StopLogging alerts for windows %v, want %v", got, want)
	}
}
