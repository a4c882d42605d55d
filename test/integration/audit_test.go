package integration

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/audit"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

type auditRow struct {
	Connector string    `json:"connector"`
	Account   string    `json:"account"`
	Region    string    `json:"region"`
	Hour      time.Time `json:"hour"`
	Status    string    `json:"status"`
	Missing   []string  `json:"missing"`
	Altered   []string  `json:"altered"`
	Reason    string    `json:"reason"`
	// MissingMore counts the missing keys beyond the list's 100.
	MissingMore int `json:"missing_more"`
}

func auditJSON(t *testing.T, data string, env []string, args ...string) ([]auditRow, int) {
	t.Helper()
	r := trawl(t, data, env, append([]string{"audit", "--format", "json"}, args...)...)
	var rows []auditRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("audit JSON: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return rows, r.code
}

// TestDigestAudit: a trail with signed, chained digests on versitygw,
// damaged before collection in four hours, one way each: a log object
// deleted (that key missing), one replaced by a re-gzipped copy with one
// event changed (altered), a digest deleted (the chain's gap, that hour
// unverifiable), a digest's signature changed (unverifiable). The other
// hours verify; the deleted log arriving later turns its hour verified.
func TestDigestAudit(t *testing.T) {
	srv := s3server.Start(t)
	data := t.TempDir()
	hour0 := time.Now().UTC().Add(-8 * time.Hour).Truncate(time.Hour)
	logs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 7, Accounts: []string{acct}, Regions: []string{"us-east-1"}, Start: hour0,
		Span: 6 * time.Hour, Objects: 12, RecordsPerObj: 5})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	digests, err := gen.SignedDigests("audit", logs, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(digests) != 6 {
		t.Fatalf("%d digests, want one per hour (6)", len(digests))
	}
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	os.WriteFile(keysFile, audit.KeysJSON(map[string]*rsa.PublicKey{gen.Fingerprint(&key.PublicKey): &key.PublicKey}, hour0, hour0.Add(48*time.Hour)), 0o600)

	// Two log objects per hour: hour 1 loses one, hour 2 has one altered.
	deleted := logs[2]
	logs[4].Body = alterOneEvent(t, logs[4].Body)
	upload := append([]gen.Object{}, logs[:2]...)
	upload = append(upload, logs[3:]...)
	// Hour 3's digest is deleted; hour 4's signature is changed.
	bad := digests[4]
	sig := []byte(bad.Meta["signature"])
	sig[10] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", sig[10])+1)%16]
	digests[4].Meta = map[string]string{"signature": string(sig)}
	upload = append(upload, digests[:3]...)
	upload = append(upload, digests[4:]...)
	bucket(t, srv, "audit", upload)

	addConnector(t, srv, data, "trail", "audit", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, data, "collect", "--once")
	env := []string{"TRAWL_PUBLIC_KEYS=" + keysFile}
	rows, code := auditJSON(t, data, env, "--from", "-24h")
	if code != 1 {
		t.Errorf("audit exit code %d with a file missing and one altered, want 1", code)
	}
	byHour := map[time.Time]auditRow{}
	for _, r := range rows {
		if r.Account == acct && r.Region == "us-east-1" {
			byHour[r.Hour] = r
		}
	}
	want := []struct {
		status, detail string
	}{{"verified", "chain starts"}, {"missing", deleted.Key}, {"altered", logs[4].Key}, {"unverifiable", "gap"}, {"unverifiable", "signature does not verify"}, {"verified", ""}}
	for i, w := range want {
		h := hour0.Add(time.Duration(i) * time.Hour)
		r, ok := byHour[h]
		if !ok {
			t.Errorf("hour %s: no result (results: %+v)", h, rows)
			continue
		}
		if r.Status != w.status || !strings.Contains(strings.Join(append(append(r.Missing, r.Altered...), r.Reason), " "), w.detail) {
			t.Errorf("hour %d (%s): %s %v %v %q, want %s with %q", i, h, r.Status, r.Missing, r.Altered, r.Reason, w.status, w.detail)
		}
		if w.status == "missing" && (len(r.Missing) != 1 || len(r.Altered) != 0) {
			t.Errorf("hour %d: missing %v altered %v, want exactly the deleted key", i, r.Missing, r.Altered)
		}
		if w.status == "altered" && (len(r.Altered) != 1 || len(r.Missing) != 0) {
			t.Errorf("hour %d: altered %v missing %v, want exactly the replaced key", i, r.Altered, r.Missing)
		}
	}

	// The deleted object arrives late: the next run collects it, and its
	// hour verifies.
	bucket(t, srv, "audit", []gen.Object{deleted})
	mustTrawl(t, data, "collect", "--once")
	rows, _ = auditJSON(t, data, env, "--from", "-24h")
	for _, r := range rows {
		if r.Hour.Equal(hour0.Add(time.Hour)) && r.Status != "verified" {
			t.Errorf("after the late file: hour 1 is %s (%v %q)", r.Status, r.Missing, r.Reason)
		}
	}
	// Through a server: the stored results over the API, and the gauges.
	api := serveAPI(t, data, "--no-schedule")
	_, list := api.call(api.root, "GET", "/api/v1/connectors", nil)
	id := list["connectors"].([]any)[0].(map[string]any)["id"].(string)
	code, stored := api.call(api.root, "GET", "/api/v1/connectors/"+id+"/audit?from=-24h", nil)
	if res, _ := stored["results"].([]any); code != 200 || len(res) < 6 {
		t.Errorf("GET audit: %d %v", code, stored)
	}
	req, _ := http.NewRequest("GET", api.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+api.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`trawl_audit_missing_files{tenant="acme",connector="trail",sub_type="cloudtrail"} 0`,
		`trawl_audit_altered_files{tenant="acme",connector="trail",sub_type="cloudtrail"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Without the keys, signatures cannot be checked: said, not hidden.
	other := t.TempDir()
	addConnector(t, srv, other, "trail", "audit", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, other, "collect", "--once")
	rows, _ = auditJSON(t, other, nil, "--from", "-24h")
	for _, r := range rows {
		if r.Status == "verified" || (r.Status == "unverifiable" && r.Reason == "") {
			t.Errorf("without public keys: hour %s is %s %q", r.Hour, r.Status, r.Reason)
		}
	}
}

// alterOneEvent re-gzips a CloudTrail object with one event's name changed.
func alterOneEvent(t *testing.T, body []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(raw, []byte(`"eventName":"`))
	if i < 0 {
		t.Fatal("no eventName to alter")
	}
	raw = append(raw[:i+13:i+13], append([]byte("X"), raw[i+13:]...)...)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(raw)
	zw.Close()
	return out.Bytes()
}

// TestGenDigestsAuditVerified: `trawl gen --digests` writes a trail whose
// every hour the audit verifies with the key file gen wrote.
func TestGenDigestsAuditVerified(t *testing.T) {
	src, data := t.TempDir(), t.TempDir()
	keys := filepath.Join(t.TempDir(), "keys.json")
	out := mustTrawl(t, data, "gen", "--out", src, "--bucket", "gen-trail", "--objects", "6", "--records", "5", "--digests", "--public-keys-out", keys)
	var m gen.Manifest
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.PublicKeyFingerprint == "" {
		t.Fatalf("manifest names no key: %v\n%s", err, out)
	}
	mustTrawl(t, data, "connector", "add", "--name", "g", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "gen-trail",
		"--prefix", m.Prefixes["cloudtrail"], "--endpoint", "file://"+src, "--start", "-72h")
	mustTrawl(t, data, "collect", "--once")
	rows, code := auditJSON(t, data, nil, "--public-keys", keys, "--from", "-24h")
	if code != 0 || len(rows) == 0 {
		t.Fatalf("audit exit %d, %d hours", code, len(rows))
	}
	for _, r := range rows {
		if r.Status != "verified" {
			t.Errorf("hour %s: %s %q", r.Hour, r.Status, r.Reason)
		}
	}
	// The same trail through a "*" account prefix (Control Tower's form):
	// the digest folders of every account are found.
	mustTrawl(t, data, "connector", "add", "--name", "any", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "gen-trail",
		"--prefix", "AWSLogs/*/CloudTrail", "--endpoint", "file://"+src, "--start", "-72h")
	mustTrawl(t, data, "collect", "--once", "any")
	wild, code := auditJSON(t, data, nil, "--from", "-24h", "any")
	if code != 0 || len(wild) != len(rows) {
		t.Fatalf("* prefix: exit %d, %d hours, want %d", code, len(wild), len(rows))
	}
	for _, r := range wild {
		if r.Status != "verified" {
			t.Errorf("* prefix, hour %s: %s %q", r.Hour, r.Status, r.Reason)
		}
	}
}

// TestDemoAuditsEveryHourVerified: the demo's organization trail (signed
// digests, its key imported by the demo) audits verified, hour by hour,
// through the running server.
func TestDemoAuditsEveryHourVerified(t *testing.T) {
	data := t.TempDir()
	cmd := launchUntilServing(t, data, 2*time.Minute, "demo", "--addr", "127.0.0.1:0")
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	rows, code := auditJSON(t, data, nil)
	if code != 0 || len(rows) < 80 {
		t.Fatalf("demo audit: exit %d, %d hours (2 accounts x 2 regions x about 22 hours expected)", code, len(rows))
	}
	for _, r := range rows {
		if r.Status != "verified" {
			t.Errorf("%s %s %s: %s %q", r.Account, r.Region, r.Hour, r.Status, r.Reason)
		}
	}
	// The demo's planted attacks have raised their alerts already.
	var alerts []struct {
		RuleID string `json:"rule_id"`
	}
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "alerts", "--format", "json", "--since", "-48h")), &alerts); err != nil {
		t.Fatal(err)
	}
	rules := map[string]int{}
	for _, a := range alerts {
		rules[a.RuleID]++
	}
	if rules["trawl-ct-003"] == 0 || rules["trawl-ct-016"] == 0 {
		t.Errorf("the demo shows %d alerts by rule %v; want its planted StopLogging and AdministratorAccess among them", len(alerts), rules)
	}
}
