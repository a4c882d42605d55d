package integration

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// collectedTrail serves a data directory whose connector "trail" has
// collected generated CloudTrail (with planted attacks) from a bucket of
// its own; it returns the objects and the directory.
func collectedTrail(t *testing.T, seed uint64, bucketName string) ([]gen.Object, string) {
	t.Helper()
	srv := s3server.Start(t)
	objs, _ := trailObjects(seed, 14, 40)
	bucket(t, srv, bucketName, objs)
	data := t.TempDir()
	t.Cleanup(startServe(t, data))
	addConnector(t, srv, data, "trail", bucketName, "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, data, "collect", "--once", "trail")
	return objs, data
}

// stopLoggingWindows are the five-minute windows (a single-event rule's)
// holding a StopLogging event among the objects, up to end.
func stopLoggingWindows(t *testing.T, objs []gen.Object, end time.Time) []string {
	t.Helper()
	set := map[string]bool{}
	for _, o := range objs {
		zr, err := gzip.NewReader(bytes.NewReader(o.Body))
		if err != nil {
			continue // a digest or other non-log object
		}
		body, _ := io.ReadAll(zr)
		var f struct {
			Records []struct {
				EventName string    `json:"eventName"`
				EventTime time.Time `json:"eventTime"`
			}
		}
		if json.Unmarshal(body, &f) != nil {
			continue
		}
		for _, r := range f.Records {
			if h := r.EventTime.UTC().Truncate(5 * time.Minute); r.EventName == "StopLogging" && !h.Add(5*time.Minute).After(end) {
				set[h.Format(time.RFC3339)] = true
			}
		}
	}
	var out []string
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// TestDetectionAlerts: collected CloudTrail with planted attack sequences
// raises, through the server, exactly one "CloudTrail logging stopped"
// alert per five-minute window that holds a StopLogging event; evaluating again adds
// nothing; an alert's hunting query, searched over its window, finds its
// records; a tenant's token sees only its tenant's alerts.
func TestDetectionAlerts(t *testing.T) {
	objs, data := collectedTrail(t, 91, "detect")

	type alert struct {
		Rule, RuleID, Level, Tenant, Query string
		WindowStart, WindowEnd             time.Time
		Records                            []string
	}
	list := func(args ...string) []alert {
		t.Helper()
		var as []struct {
			Rule        string    `json:"rule"`
			RuleID      string    `json:"rule_id"`
			Level       string    `json:"level"`
			Tenant      string    `json:"tenant"`
			Query       string    `json:"query"`
			WindowStart time.Time `json:"window_start"`
			WindowEnd   time.Time `json:"window_end"`
			Records     []string  `json:"records"`
		}
		out := mustTrawl(t, data, append([]string{"alerts", "--format", "json", "--since", "-48h"}, args...)...)
		if err := json.Unmarshal([]byte(out), &as); err != nil {
			t.Fatalf("alerts json: %v\n%s", err, out)
		}
		var res []alert
		for _, a := range as {
			res = append(res, alert{a.Rule, a.RuleID, a.Level, a.Tenant, a.Query, a.WindowStart, a.WindowEnd, a.Records})
		}
		return res
	}
	var got []alert
	var want []string
	for try := 0; try < 3; try++ { // the windows' end moves every five minutes: recompute if it moved
		before := time.Now().UTC().Add(-15 * time.Minute).Truncate(5 * time.Minute)
		got = list("--evaluate")
		after := time.Now().UTC().Add(-15 * time.Minute).Truncate(5 * time.Minute)
		if before.Equal(after) {
			want = stopLoggingWindows(t, objs, before)
			break
		}
	}
	var hours []string
	for _, a := range got {
		if a.RuleID == "trawl-ct-003" {
			hours = append(hours, a.WindowStart.UTC().Format(time.RFC3339))
			if a.Level != "critical" || a.Tenant != "acme" || len(a.Records) == 0 {
				t.Errorf("alert %+v", a)
			}
		}
	}
	sort.Strings(hours)
	if len(want) == 0 {
		t.Fatal("the generated data holds no StopLogging event before the evaluated windows' end: the test proves nothing")
	}
	if strings.Join(hours, ",") != strings.Join(want, ",") {
		t.Errorf("StopLogging alerts for hours %v, want %v", hours, want)
	}
	t.Logf("%d alerts; StopLogging hours %v (want %v)", len(got), hours, want)
	if again := list("--evaluate"); len(again) != len(got) {
		t.Errorf("evaluating again: %d alerts, then %d", len(got), len(again))
	}
	// Evaluations at once (operators, the server's minute) neither fail
	// nor raise twice.
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = trawl(t, data, nil, "alerts", "--evaluate", "--format", "json").code
		}()
	}
	wg.Wait()
	if codes[0] != 0 || codes[1] != 0 || codes[2] != 0 {
		t.Errorf("concurrent evaluations exited %v", codes)
	}
	if again := list(); len(again) != len(got) {
		t.Errorf("after concurrent evaluations: %d alerts, want %d", len(again), len(got))
	}
	// The alert's hunting query over its window finds its records.
	for _, a := range got {
		if a.RuleID != "trawl-ct-003" {
			continue
		}
		out := mustTrawl(t, data, "search", "--format", "ndjson", "--limit", "1000", "--from", a.WindowStart.Format(time.RFC3339),
			"--to", a.WindowEnd.Format(time.RFC3339), a.Query)
		for _, id := range a.Records {
			if !strings.Contains(out, id) {
				t.Errorf("the hunting query %q over %s..%s does not find record %s", a.Query, a.WindowStart, a.WindowEnd, id)
			}
		}
		break
	}
	// /metrics counts them per tenant, rule and level.
	sv := servedAt(t, data)
	code, _ := sv.call(sv.root, "GET", "/api/v1/whoami", nil)
	if code != 200 {
		t.Fatalf("whoami %d", code)
	}
	req, _ := http.NewRequest("GET", sv.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+sv.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if line := fmt.Sprintf(`trawl_alerts_total{tenant="acme",rule_id="trawl-ct-003",level="critical"} %d`, len(hours)); !strings.Contains(string(metrics), line) {
		t.Errorf("metrics lack %s", line)
	}
	// Another tenant's token sees none of acme's alerts.
	tok := strings.TrimSpace(mustTrawl(t, data, "token", "create", "--tenant", "globex", "--name", "g"))
	r := trawl(t, data, []string{"TRAWL_TOKEN=" + tok}, "alerts", "--format", "json", "--since", "-48h")
	if r.code != 0 || strings.Contains(r.stdout, "acme") {
		t.Errorf("globex's token: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := trawl(t, data, []string{"TRAWL_TOKEN=" + tok}, "alerts", "--evaluate"); r.code == 0 {
		t.Error("a tenant's token evaluated the rules")
	}
}

// TestTenantRules: a tenant adds its own Sigma rule and switches a
// built-in one off, through the server; the next evaluation raises the
// tenant's rule and not the switched-off one; a rule that does not compile
// is refused naming its line; a tenant's token manages only its tenant's
// rules, and built-in rules cannot be deleted.
func TestTenantRules(t *testing.T) {
	_, data := collectedTrail(t, 93, "rules")

	dir := t.TempDir()
	own := filepath.Join(dir, "own.yml")
	os.WriteFile(own, []byte(`title: Users listed
id: acme-list-users
level: low
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventSource: iam.amazonaws.com
    eventName: ListUsers
  condition: selection
`), 0o644)
	if out := mustTrawl(t, data, "rules", "add", own, "--tenant", "acme"); !strings.Contains(out, "acme-list-users") {
		t.Fatalf("add: %s", out)
	}
	mustTrawl(t, data, "rules", "disable", "trawl-ct-003", "--tenant", "acme")
	var rules []struct {
		ID      string `json:"id"`
		Enabled bool   `json:"enabled"`
		Builtin bool   `json:"builtin"`
	}
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "rules", "list", "--tenant", "acme", "--format", "json")), &rules); err != nil {
		t.Fatal(err)
	}
	state := map[string]bool{}
	for _, r := range rules {
		state[r.ID] = r.Enabled
	}
	if len(rules) < 22 || !state["acme-list-users"] || state["trawl-ct-003"] || !state["trawl-ct-004"] {
		t.Errorf("rules after add and disable: %+v", rules)
	}
	out := mustTrawl(t, data, "alerts", "--evaluate", "--format", "json", "--since", "-48h")
	if !strings.Contains(out, `"rule_id": "acme-list-users"`) {
		t.Errorf("the tenant's rule raised nothing:\n%s", out)
	}
	if strings.Contains(out, `"rule_id": "trawl-ct-003"`) {
		t.Errorf("a switched-off built-in rule raised alerts")
	}

	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("title: Bad\nlevel: low\ndetection:\n  selection:\n    eventName|re: '^(Get'\n  condition: selection\n"), 0o644)
	if r := trawl(t, data, nil, "rules", "add", bad, "--tenant", "acme"); r.code == 0 || !strings.Contains(r.stderr, "line 5") {
		t.Errorf("a rule that does not compile: %d %s", r.code, r.stderr)
	}
	if r := trawl(t, data, nil, "rules", "delete", "trawl-ct-004", "--tenant", "acme"); r.code == 0 {
		t.Error("a built-in rule was deleted")
	}
	tok := strings.TrimSpace(mustTrawl(t, data, "token", "create", "--tenant", "globex", "--name", "g"))
	env := []string{"TRAWL_TOKEN=" + tok}
	if r := trawl(t, data, env, "rules", "disable", "acme-list-users", "--tenant", "acme"); r.code == 0 {
		t.Error("globex's token switched acme's rule")
	}
	if r := trawl(t, data, env, "rules", "add", own); r.code != 0 {
		t.Errorf("globex adds its own rule: %s", r.stderr)
	}
	mustTrawl(t, data, "rules", "delete", "acme-list-users", "--tenant", "acme")
	if out := mustTrawl(t, data, "rules", "list", "--tenant", "acme"); strings.Contains(out, "acme-list-users") {
		t.Errorf("a deleted rule is still listed:\n%s", out)
	}
}

// TestAlertWebhook: a tenant's webhook receives each new alert once (a
// failed POST is retried; the alert is marked only after a 2xx), nothing
// more on re-evaluation; a webhook on the metadata address is refused.
func TestAlertWebhook(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	posts := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		posts++
		if posts == 1 {
			w.WriteHeader(500) // the first delivery fails; it is retried
			return
		}
		var body struct {
			Alerts []struct {
				ID     string `json:"id"`
				RuleID string `json:"rule_id"`
				Tenant string `json:"tenant"`
			} `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(400)
			return
		}
		for _, a := range body.Alerts {
			got[a.ID]++
		}
		w.WriteHeader(204)
	}))
	defer recv.Close()
	_, data := collectedTrail(t, 95, "hook")
	if r := trawl(t, data, nil, "rules", "webhook", "http://169.254.169.254/latest", "--tenant", "acme"); r.code == 0 {
		t.Error("a webhook on the metadata address was accepted")
	}
	mustTrawl(t, data, "rules", "webhook", recv.URL+"/alerts", "--tenant", "acme")
	if u := strings.TrimSpace(mustTrawl(t, data, "rules", "webhook", "--tenant", "acme")); u != recv.URL+"/alerts" {
		t.Errorf("webhook shown as %q", u)
	}
	var listed []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "alerts", "--evaluate", "--format", "json", "--since", "-48h")), &listed); err != nil {
		t.Fatal(err)
	}
	mustTrawl(t, data, "alerts", "--evaluate", "--since", "-48h")
	mu.Lock()
	defer mu.Unlock()
	if len(listed) == 0 {
		t.Fatal("no alerts to deliver: the test proves nothing")
	}
	for _, a := range listed {
		if got[a.ID] != 1 {
			t.Errorf("alert %s delivered %d times, want once", a.ID, got[a.ID])
		}
	}
	if len(got) != len(listed) || posts < 2 {
		t.Errorf("%d alerts delivered in %d posts, %d listed", len(got), posts, len(listed))
	}
}

// TestGeneratedAttacksRaiseExactlyTheirAlerts: `trawl gen` plants attack
// sequences among benign CloudTrail, VPC flow and WAF noise, and its
// manifest lists the alerts the built-in rules must raise. After
// collection, an evaluation raises exactly those (for the windows already
// evaluated): none missing, none extra, once each.
func TestGeneratedAttacksRaiseExactlyTheirAlerts(t *testing.T) {
	srv := s3server.Start(t)
	data := t.TempDir()
	sf := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(sf, []byte(srv.SecretKey), 0o600)
	mf := filepath.Join(t.TempDir(), "manifest.json")
	mustTrawl(t, data, "gen", "--endpoint", srv.Endpoint, "--access-key-id", srv.AccessKey, "--secret-access-key-file", sf,
		"--bucket", "planted", "--account", acct, "--objects", "30", "--records", "60", "--seed", "17", "--manifest", mf)
	var m gen.Manifest
	b, _ := os.ReadFile(mf)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"cloudtrail", "vpcflow", "waf"} {
		mustTrawl(t, data, "connector", "add", "--name", st, "--tenant", "acme", "--subtype", st, "--bucket", "planted", "--prefix", m.Prefixes[st],
			"--access-key-id", srv.AccessKey, "--secret-access-key-file", sf, "--endpoint", srv.Endpoint, "--path-style", "--start", "-72h")
	}
	mustTrawl(t, data, "collect", "--once")
	var got []struct {
		RuleID      string    `json:"rule_id"`
		WindowStart time.Time `json:"window_start"`
	}
	var end time.Time
	for try := 0; try < 3; try++ {
		before := time.Now().UTC().Add(-15 * time.Minute).Truncate(5 * time.Minute)
		if err := json.Unmarshal([]byte(mustTrawl(t, data, "alerts", "--evaluate", "--format", "json", "--since", "-48h")), &got); err != nil {
			t.Fatal(err)
		}
		if end = time.Now().UTC().Add(-15 * time.Minute).Truncate(5 * time.Minute); end.Equal(before) {
			break
		}
	}
	var want, have []string
	for _, a := range m.Alerts {
		if !a.Window.Add(5 * time.Minute).After(end) {
			want = append(want, a.RuleID+"@"+a.Window.UTC().Format(time.RFC3339))
		}
	}
	for _, a := range got {
		have = append(have, a.RuleID+"@"+a.WindowStart.UTC().Format(time.RFC3339))
	}
	sort.Strings(want)
	sort.Strings(have)
	t.Logf("manifest: %d alerts (%d in evaluated windows); raised: %d", len(m.Alerts), len(want), len(have))
	if len(want) == 0 {
		t.Fatal("no planted alert falls in an evaluated window: the test proves nothing")
	}
	if strings.Join(want, ",") != strings.Join(have, ",") {
		t.Errorf("raised %v\nwant   %v", have, want)
	}
}
