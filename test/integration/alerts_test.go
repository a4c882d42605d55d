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
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	s3src "github.com/trawlhq/trawl/internal/source/s3"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// collectedTrail serves a data directory whose connector "trail" has
// collected generated CloudTrail (with planted attacks) from a bucket of
// its own; it returns the objects and the directory.
func collectedTrail(t *testing.T, seed uint64, bucketName string) (*s3server.Server, []gen.Object, string) {
	t.Helper()
	srv := s3server.Start(t)
	objs, _ := trailObjects(seed, 14, 40)
	bucket(t, srv, bucketName, objs)
	data := t.TempDir()
	t.Cleanup(startServe(t, data))
	addConnector(t, srv, data, "trail", bucketName, "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, data, "collect", "--once", "trail")
	return srv, objs, data
}

// ctEvent is a CloudTrail record of one event, with an eventID of its own.
func ctEvent(source, name string, at time.Time) map[string]any {
	return map[string]any{"eventVersion": "1.09", "eventTime": at.UTC().Format(time.RFC3339), "eventSource": source,
		"eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "eventID": fmt.Sprintf("%x", time.Now().UnixNano()) + "-" + name,
		"eventType": "AwsApiCall", "recipientAccountId": acct, "readOnly": false, "managementEvent": true,
		"userIdentity":      map[string]any{"type": "IAMUser", "userName": "actor", "accountId": acct},
		"requestParameters": map[string]any{"name": "org-trail"}}
}

// putEvents uploads one CloudTrail object holding recs into today's
// folder of the connector's prefix, named for the current minute.
func putEvents(t *testing.T, srv *s3server.Server, bucketName string, recs ...map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"Records": recs})
	now := time.Now().UTC()
	key := fmt.Sprintf("AWSLogs/%s/CloudTrail/us-east-1/%s/%s_CloudTrail_us-east-1_%s_%x.json.gz", acct, now.Format("2006/01/02"), acct, now.Format("20060102T1504Z"), now.UnixNano())
	b, err := s3src.New(t.Context(), s3src.Config{Bucket: bucketName, Endpoint: srv.Endpoint, PathStyle: true, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	body := gzipped(raw)
	if err := b.PutWithMetadata(t.Context(), key, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		t.Fatal(err)
	}
}

// recordID is the Trawl id of the record with a CloudTrail eventID.
func recordID(t *testing.T, data, eventID string) string {
	t.Helper()
	var hit []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "search", "--format", "json", "--from", "-7d", "event_id:"+eventID)), &hit); err != nil || len(hit) != 1 {
		t.Fatalf("event %s is not searchable once (%v): %v", eventID, err, hit)
	}
	return hit[0].ID
}

// alertsHolding counts the alerts of a rule holding a record.
func alertsHolding(t *testing.T, data, ruleID, id string, args ...string) int {
	t.Helper()
	var as []struct {
		Records []string `json:"records"`
	}
	out := mustTrawl(t, data, append([]string{"alerts", "--format", "json", "--since", "-7d", "--rule", ruleID}, args...)...)
	if err := json.Unmarshal([]byte(out), &as); err != nil {
		t.Fatalf("alerts json: %v\n%s", err, out)
	}
	n := 0
	for _, a := range as {
		if slices.Contains(a.Records, id) {
			n++
		}
	}
	return n
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
	_, objs, data := collectedTrail(t, 91, "detect")

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
	// The server's detector evaluates what a commit stored within
	// seconds, whatever the window: no evaluation is asked for here.
	want := stopLoggingWindows(t, objs, time.Now().Add(24*time.Hour))
	if len(want) == 0 {
		t.Fatal("the generated data holds no StopLogging event: the test proves nothing")
	}
	stopWindows := func(as []alert) []string {
		var hours []string
		for _, a := range as {
			if a.RuleID == "trawl-ct-003" {
				hours = append(hours, a.WindowStart.UTC().Format(time.RFC3339))
				if a.Level != "critical" || a.Tenant != "acme" || len(a.Records) == 0 {
					t.Errorf("alert %+v", a)
				}
			}
		}
		sort.Strings(hours)
		return hours
	}
	var got []alert
	var hours []string
	// Within 15 s: the server's maintenance (which evaluates too) first
	// runs 30 s after its start.
	start := time.Now()
	for deadline := start.Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got = list()
		if hours = stopWindows(got); strings.Join(hours, ",") == strings.Join(want, ",") || time.Now().After(deadline) {
			break
		}
	}
	if strings.Join(hours, ",") != strings.Join(want, ",") {
		t.Errorf("StopLogging alerts raised at ingest for windows %v, want %v", hours, want)
	}
	t.Logf("raised at ingest within %s of the collection", time.Since(start).Round(100*time.Millisecond))
	// The schedule's evaluation of the closed windows finds them raised.
	got = list("--evaluate")
	if again := stopWindows(got); strings.Join(again, ",") != strings.Join(want, ",") {
		t.Errorf("after an evaluation: StopLogging alerts for windows %v, want %v", again, want)
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
	// Every committed segment has been read by the detector.
	if line := "\ntrawl_detect_backlog_segments 0\n"; !strings.Contains(string(metrics), line) {
		t.Errorf("metrics lack %q", line)
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
	srv, _, data := collectedTrail(t, 93, "rules")

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
	if out := mustTrawl(t, data, "rules", "disable", "trawl-ct-003", "--tenant", "acme"); strings.TrimSpace(out) != "rule trawl-ct-003 disabled for tenant acme" {
		t.Errorf("disable says %q, want what it changed", out)
	}
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
	// New records: a StopLogging (its rule is off) and a DeleteTrail
	// (its rule is on) raise only the DeleteTrail alert.
	stop, del := ctEvent("cloudtrail.amazonaws.com", "StopLogging", time.Now()), ctEvent("cloudtrail.amazonaws.com", "DeleteTrail", time.Now())
	putEvents(t, srv, "rules", stop, del)
	mustTrawl(t, data, "collect", "--once", "trail")
	stopID, delID := recordID(t, data, stop["eventID"].(string)), recordID(t, data, del["eventID"].(string))
	if n := alertsHolding(t, data, "trawl-ct-004", delID, "--evaluate"); n != 1 {
		t.Errorf("DeleteTrail: %d alerts hold it, want 1", n)
	}
	if n := alertsHolding(t, data, "trawl-ct-003", stopID); n != 0 {
		t.Errorf("the switched-off StopLogging rule raised %d alerts on a new record", n)
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

// TestAlertWebhook: a tenant's webhook receives each alert raised after
// it was set once (at ingest or on schedule; a failed POST is retried; the
// alert is marked only after a 2xx), nothing more on re-evaluation, and
// none raised before; a webhook on the metadata address is refused.
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
	srv, _, data := collectedTrail(t, 95, "hook")
	type listedAlert struct {
		ID string `json:"id"`
	}
	list := func(args ...string) []listedAlert {
		t.Helper()
		var as []listedAlert
		if err := json.Unmarshal([]byte(mustTrawl(t, data, append([]string{"alerts", "--format", "json", "--since", "-48h"}, args...)...)), &as); err != nil {
			t.Fatal(err)
		}
		return as
	}
	// Alerts raised before the webhook was set are not sent. (An
	// evaluation first: it ends once the detector has read every commit.)
	before := map[string]bool{}
	for _, a := range list("--evaluate") {
		before[a.ID] = true
	}
	if r := trawl(t, data, nil, "rules", "webhook", "http://169.254.169.254/latest", "--tenant", "acme"); r.code == 0 {
		t.Error("a webhook on the metadata address was accepted")
	}
	mustTrawl(t, data, "rules", "webhook", recv.URL+"/alerts", "--tenant", "acme")
	if u := strings.TrimSpace(mustTrawl(t, data, "rules", "webhook", "--tenant", "acme")); u != recv.URL+"/alerts" {
		t.Errorf("webhook shown as %q", u)
	}
	putEvents(t, srv, "hook", ctEvent("cloudtrail.amazonaws.com", "StopLogging", time.Now()), ctEvent("cloudtrail.amazonaws.com", "DeleteTrail", time.Now()))
	mustTrawl(t, data, "collect", "--once", "trail")
	listed := list("--evaluate")
	mustTrawl(t, data, "alerts", "--evaluate", "--since", "-48h")
	// Deliveries run in the background (a tenant's webhook never holds
	// an evaluation): wait for every fresh alert to arrive, then a little
	// longer for any duplicate.
	freshIDs := 0
	for _, a := range listed {
		if !before[a.ID] {
			freshIDs++
		}
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= freshIDs {
			break
		}
	}
	time.Sleep(time.Second)
	mu.Lock()
	defer mu.Unlock()
	fresh := 0
	for _, a := range listed {
		want := 1
		if before[a.ID] {
			want = 0
		} else {
			fresh++
		}
		if got[a.ID] != want {
			t.Errorf("alert %s delivered %d times, want %d", a.ID, got[a.ID], want)
		}
	}
	if fresh < 2 {
		t.Fatalf("%d alerts raised after the webhook was set: the test proves nothing", fresh)
	}
	if len(got) != fresh || posts < 2 {
		t.Errorf("%d alerts delivered in %d posts, %d raised after the webhook was set", len(got), posts, fresh)
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
	m, sf := genBucket(t, srv, data, "planted", "--objects", "30", "--records", "60", "--seed", "17")
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
		// Single-event rules are evaluated at ingest, whatever the window;
		// a count rule's window once it closed.
		if !a.Windowed || !a.Window.Add(5*time.Minute).After(end) {
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

// TestLateRecordRaisesItsAlertAtIngest: a StopLogging event delivered
// three hours after it happened, once the schedule's evaluation has passed
// its window, still raises its alert: the server's detector evaluates each
// commit's records whatever their time. An evaluation afterwards adds no
// second alert.
func TestLateRecordRaisesItsAlertAtIngest(t *testing.T) {
	srv := s3server.Start(t)
	objs, _ := trailObjects(97, 4, 20)
	bucket(t, srv, "late", objs)
	data := t.TempDir()
	t.Cleanup(startServe(t, data))
	addConnector(t, srv, data, "trail", "late", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, data, "collect", "--once", "trail")
	mustTrawl(t, data, "alerts", "--evaluate") // the schedule's marks pass every closed window

	event := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	rec := ctEvent("cloudtrail.amazonaws.com", "StopLogging", event)
	putEvents(t, srv, "late", rec)
	mustTrawl(t, data, "collect", "--once", "trail")
	id := recordID(t, data, rec["eventID"].(string))
	n := 0
	for deadline := time.Now().Add(15 * time.Second); n == 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		n = alertsHolding(t, data, "trawl-ct-003", id)
	}
	if n != 1 {
		t.Fatalf("the late StopLogging of %s raised %d alerts holding it, want 1", event.Format(time.RFC3339), n)
	}
	if n := alertsHolding(t, data, "trawl-ct-003", id, "--evaluate"); n != 1 {
		t.Errorf("after an evaluation: %d alerts hold the late record, want 1", n)
	}
}

// TestPortScanUnderNoiseIsCounted: a port scan (25 distinct ports from
// one source) at the start of a five-minute window, followed in the same
// window by 12,000 rejected flows of noise (no source on more than three
// ports), raises exactly one port-scan alert for the scanner, counting
// its 25 ports: a count rule's window is counted whole in the lake, not
// over its newest few thousand records.
func TestPortScanUnderNoiseIsCounted(t *testing.T) {
	srv := s3server.Start(t)
	w := time.Now().UTC().Add(-time.Hour).Truncate(5 * time.Minute)
	var lines strings.Builder
	lines.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	flow := func(src string, port int, at time.Time) {
		fmt.Fprintf(&lines, "2 %s eni-0a1b2c3d %s 10.0.0.5 44321 %d 6 1 40 %d %d REJECT OK\n", acct, src, port, at.Unix(), at.Unix()+1)
	}
	for p := 0; p < 25; p++ {
		flow("203.0.113.66", 1000+p, w.Add(time.Duration(10+2*p)*time.Second))
	}
	for i := 0; i < 12000; i++ {
		flow(fmt.Sprintf("10.9.%d.%d", i/4/250, i/4%250), 20+i%3, w.Add(2*time.Minute+time.Duration(i%170)*time.Second))
	}
	key := fmt.Sprintf("AWSLogs/%s/vpcflowlogs/us-east-1/%s/%s_vpcflowlogs_us-east-1_fl-0123456789abcdef0_%s_noise.log.gz",
		acct, w.Format("2006/01/02"), acct, w.Add(5*time.Minute).Format("20060102T1504Z"))
	bucket(t, srv, "scan", []gen.Object{{Key: key, Body: gzipped([]byte(lines.String()))}})
	data := t.TempDir()
	addTyped(t, srv, data, "flows", "vpcflow", "scan", "AWSLogs/"+acct+"/vpcflowlogs", "gzip")
	mustTrawl(t, data, "collect", "--once")
	var as []struct {
		WindowStart time.Time `json:"window_start"`
		Group       string    `json:"group"`
		Count       int64     `json:"count"`
		Records     []string  `json:"records"`
		Query       string    `json:"query"`
	}
	out := mustTrawl(t, data, "alerts", "--evaluate", "--format", "json", "--since", "-4h", "--rule", "trawl-vpc-001")
	if err := json.Unmarshal([]byte(out), &as); err != nil {
		t.Fatalf("alerts json: %v\n%s", err, out)
	}
	if len(as) != 1 || as[0].Group != "203.0.113.66" || as[0].Count != 25 || !as[0].WindowStart.Equal(w) || len(as[0].Records) != 25 {
		t.Fatalf("port-scan alerts %+v, want one for 203.0.113.66 with 25 ports in %s", as, w.Format(time.RFC3339))
	}
	// Its hunting query finds its records.
	found := mustTrawl(t, data, "search", "--format", "ndjson", "--limit", "100", "--from", w.Format(time.RFC3339),
		"--to", w.Add(5*time.Minute).Format(time.RFC3339), as[0].Query)
	for _, id := range as[0].Records {
		if !strings.Contains(found, id) {
			t.Fatalf("the alert's query %q does not find record %s", as[0].Query, id)
		}
	}
}
