package integration

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

var updateGoldens = flag.Bool("update", false, "rewrite the goldens")

// corpusDir is the shared corpus of public AWS log samples and SigmaHQ
// rules, beside the project (../shared/corpus from its root).
const corpusDir = "../../../shared/corpus"

// TestSigmaHQConformance: every SigmaHQ rule for AWS CloudTrail is added
// as a user adds it (trawl rules add, through a serving trawl); the
// refused ones, each with its reason, are the golden's; the Stratus Red
// Team captures and the panther-analysis CloudTrail records are then
// collected from a bucket, and each accepted rule's alerts, and its hunt
// searched, hold exactly the records a reference evaluator written from
// the Sigma specification (sigmaref_test.go) selects among the collected
// ones. Among them the console sign-in without MFA, the Lambda layer and
// the login-profile (fieldref) rules fire.
func TestSigmaHQConformance(t *testing.T) {
	rulesDir := filepath.Join(corpusDir, "sigmahq", "rules")
	files, _ := filepath.Glob(filepath.Join(rulesDir, "*.yml"))
	if len(files) == 0 {
		t.Skipf("no SigmaHQ rules in %s: the shared corpus is absent", rulesDir)
	}
	srv := s3server.Start(t)
	data := t.TempDir()
	t.Cleanup(startServe(t, data))
	uploaded := uploadCorpus(t, srv, "sigma")
	addConnector(t, srv, data, "corpus", "sigma", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)

	accepted, refused := addSigmaRules(t, data, files)
	checkRefusedGolden(t, refused)
	if len(accepted) < len(files)*9/10 || len(accepted)+len(refused) != len(files) {
		t.Errorf("%d of %d rules accepted, %d refused", len(accepted), len(files), len(refused))
	}
	refusesNaming(t, data)
	mustTrawl(t, data, "collect", "--once", "corpus")
	stored := storedRecords(t, data)
	if len(stored) != uploaded {
		t.Fatalf("%d records collected of the %d uploaded", len(stored), uploaded)
	}
	t.Logf("%d rules accepted, %d refused; %d records collected", len(accepted), len(refused), len(stored))

	alerts := alertRecords(t, data)
	hunts := ruleHunts(t, data)
	fired := map[string]int{}
	for _, f := range files {
		id, ok := accepted[f]
		if !ok {
			continue
		}
		src, _ := os.ReadFile(f)
		ref, err := parseRefRule(src)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want := map[string]bool{}
		for _, rec := range stored {
			ok, err := ref.matches(&rec.doc, rec.raw)
			if err != nil {
				t.Fatalf("%s: reference: %v", f, err)
			}
			if ok {
				want[rec.id] = true
			}
		}
		huntIDs := searchIDs(t, data, hunts[id])
		name := filepath.Base(f)
		t.Logf("%-70s reference %3d  alerts %3d  hunt %3d", name, len(want), len(alerts[id]), len(huntIDs))
		compareIDs(t, name+": alerts", alerts[id], want)
		compareIDs(t, name+": hunt "+hunts[id], huntIDs, want)
		fired[name] = len(want)
	}
	for _, name := range []string{"aws_cloudtrail_console_login_success_without_mfa.yml", "aws_new_lambda_layer_attached.yml", "aws_update_login_profile.yml"} {
		if fired[name] == 0 {
			t.Errorf("%s does not fire on the corpora (accepted: %v)", name, slices.Contains(mapKeys(accepted), filepath.Join(rulesDir, name)))
		}
	}
}

func mapKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// addSigmaRules adds each rule file for tenant acme: the rule id of each
// one accepted, and the reason of each one refused, by file name.
func addSigmaRules(t *testing.T, data string, files []string) (map[string]string, map[string]string) {
	t.Helper()
	accepted, refused := map[string]string{}, map[string]string{}
	added := regexp.MustCompile(`^added rule (\S+) `)
	for _, f := range files {
		r := trawl(t, data, nil, "rules", "add", f, "--tenant", "acme")
		if r.code == 0 {
			m := added.FindStringSubmatch(r.stdout)
			if m == nil {
				t.Fatalf("rules add %s printed %q", f, r.stdout)
			}
			accepted[f] = m[1]
			continue
		}
		msg := strings.TrimSpace(r.stderr)
		if strings.Contains(msg, "invalid connector") || !strings.Contains(msg, "invalid rule:") || !strings.Contains(msg, "line ") {
			t.Errorf("rules add %s: the refusal does not say it is the rule's, with its line: %s", f, msg)
		}
		refused[filepath.Base(f)] = msg[strings.Index(msg, "invalid rule:"):]
	}
	return accepted, refused
}

// checkRefusedGolden compares the refused rules and their reasons with
// testdata/sigmahq_refused.golden (go test -update rewrites it).
func checkRefusedGolden(t *testing.T, refused map[string]string) {
	t.Helper()
	lines := []string{"# SigmaHQ CloudTrail rules trawl rules add refuses (file: reason)"}
	for f, why := range refused {
		lines = append(lines, f+": "+why)
	}
	sort.Strings(lines)
	got := strings.Join(lines, "\n") + "\n"
	golden := filepath.Join("testdata", "sigmahq_refused.golden")
	if *updateGoldens {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -run TestSigmaHQConformance -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("refused rules:\n%s\nwant (%s):\n%s", got, golden, want)
	}
}

// refusesNaming: what Trawl cannot honour is refused at rules add as the
// rule's error (invalid rule:), naming the construct and its line.
func refusesNaming(t *testing.T, data string) {
	t.Helper()
	for construct, detection := range map[string]string{
		"expand":    "  selection:\n    userIdentity.arn|expand: '%Administrators%'\n  condition: selection\n",
		"near":      "  selection:\n    eventName: CreateUser\n  other:\n    eventName: AttachUserPolicy\n  timeframe: 5m\n  condition: selection | near other\n",
		"timeframe": "  selection1:\n    eventName: CreateUser\n  selection2:\n    eventName: AttachUserPolicy\n  timeframe: 5m\n  condition: selection1 and selection2\n",
		"utf16le":   "  selection:\n    userAgent|utf16le|base64offset|contains: curl\n  condition: selection\n",
	} {
		f := filepath.Join(t.TempDir(), construct+".yml")
		rule := "title: uses " + construct + "\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n" + detection
		if err := os.WriteFile(f, []byte(rule), 0o600); err != nil {
			t.Fatal(err)
		}
		r := trawl(t, data, nil, "rules", "add", f, "--tenant", "acme")
		if r.code == 0 || !strings.Contains(r.stderr, "invalid rule:") || strings.Contains(r.stderr, "invalid connector") ||
			!strings.Contains(r.stderr, construct) || !regexp.MustCompile(`line \d+`).MatchString(r.stderr) {
			t.Errorf("a rule using %s: exit %d, %s", construct, r.code, r.stderr)
		}
	}
}

var eventTime = regexp.MustCompile(`"eventTime"\s*:\s*"[^"]*"`)

// uploadCorpus uploads the Stratus Red Team captures and the
// panther-analysis CloudTrail records as CloudTrail objects of today's
// folder, and returns how many records hold an eventTime (the others
// cannot be collected). Each eventTime is moved into the last hour, in
// order, so that the records are collected and evaluated as new ones; no
// other byte of a record changes.
func uploadCorpus(t *testing.T, srv *s3server.Server, bucketName string) int {
	t.Helper()
	var recs []string
	caps, _ := filepath.Glob(filepath.Join(corpusDir, "stratus-red-team", "docs", "detonation-logs", "*.json"))
	if len(caps) < 30 {
		t.Fatalf("%d Stratus captures", len(caps))
	}
	for _, c := range caps {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		var arr []json.RawMessage
		if err := json.Unmarshal(b, &arr); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		for _, r := range arr {
			recs = append(recs, string(r))
		}
	}
	f, err := os.Open(filepath.Join(corpusDir, "panther-analysis", "extracted_AWS_CloudTrail_tests.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Log json.RawMessage `json:"log"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || len(line.Log) == 0 || line.Log[0] != '{' {
			continue
		}
		recs = append(recs, string(line.Log))
	}
	// 15 s apart: a five-minute window holds at most 20 records, so each
	// alert holds the ids of all its records.
	start := time.Now().UTC().Add(-4 * time.Hour).Truncate(time.Second)
	var withTime []string
	for _, r := range recs {
		if eventTime.MatchString(r) {
			at := start.Add(time.Duration(len(withTime)) * 15 * time.Second).Format(time.RFC3339)
			withTime = append(withTime, eventTime.ReplaceAllLiteralString(r, `"eventTime":"`+at+`"`))
		}
	}
	// Records as they are, 200 to a CloudTrail object.
	var objs []gen.Object
	now := time.Now().UTC()
	for i := 0; i < len(withTime); i += 200 {
		body := `{"Records":[` + strings.Join(withTime[i:min(i+200, len(withTime))], ",") + `]}`
		key := fmt.Sprintf("AWSLogs/%s/CloudTrail/us-east-1/%s/%s_CloudTrail_us-east-1_%s_%04d.json.gz", acct, now.Format("2006/01/02"), acct, now.Format("20060102T1504Z"), i)
		objs = append(objs, gen.Object{Key: key, Body: gzipped([]byte(body))})
	}
	bucket(t, srv, bucketName, objs)
	return len(withTime)
}

type storedRecord struct {
	id, raw string
	doc     jval
}

// storedRecords is every record the lake holds, parsed.
func storedRecords(t *testing.T, data string) []storedRecord {
	t.Helper()
	var out []storedRecord
	for _, row := range searchAll(t, data, "event_name:* OR NOT event_name:*") {
		id, _ := row["id"].(string)
		raw, _ := row["raw"].(string)
		doc, err := parseJSON(raw)
		if err != nil || id == "" {
			t.Fatalf("record %q: raw %q: %v", id, raw, err)
		}
		out = append(out, storedRecord{id: id, raw: raw, doc: doc})
	}
	return out
}

// alertRecords is, by rule id, the records its alerts hold; an alert
// that holds fewer ids than its count fails the test (the corpora are
// small enough for each window's ids to fit).
func alertRecords(t *testing.T, data string) map[string][]string {
	t.Helper()
	var as []struct {
		RuleID  string   `json:"rule_id"`
		Count   int64    `json:"count"`
		Records []string `json:"records"`
	}
	// --evaluate: what the server's detector has not read yet, now.
	out := mustTrawl(t, data, "alerts", "--evaluate", "--format", "json", "--since", "-5h", "--tenant", "acme")
	if err := json.Unmarshal([]byte(out), &as); err != nil {
		t.Fatalf("alerts: %v\n%s", err, out)
	}
	m := map[string][]string{}
	for _, a := range as {
		if int64(len(a.Records)) != a.Count {
			t.Errorf("an alert of %s counts %d records and holds %d", a.RuleID, a.Count, len(a.Records))
		}
		m[a.RuleID] = append(m[a.RuleID], a.Records...)
	}
	return m
}

// ruleHunts is each rule's hunting query, by id.
func ruleHunts(t *testing.T, data string) map[string]string {
	t.Helper()
	var rs []struct {
		ID    string `json:"id"`
		Query string `json:"query"`
	}
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "rules", "list", "--tenant", "acme", "--format", "json")), &rs); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range rs {
		m[r.ID] = r.Query
	}
	return m
}

func searchIDs(t *testing.T, data, q string) []string {
	t.Helper()
	var ids []string
	for _, row := range searchAll(t, data, q) {
		id, _ := row["id"].(string)
		ids = append(ids, id)
	}
	return ids
}

// compareIDs fails the test when got is not exactly the set want.
func compareIDs(t *testing.T, what string, got []string, want map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	var extra, missing []string
	for _, id := range got {
		if !want[id] && !seen[id] {
			extra = append(extra, id)
		}
		seen[id] = true
	}
	for id := range want {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	if len(extra) > 0 || len(missing) > 0 {
		t.Errorf("%s: %d records the reference does not select (%v), %d it selects missing (%v)", what, len(extra), extra[:min(3, len(extra))], len(missing), missing[:min(3, len(missing))])
	}
}
