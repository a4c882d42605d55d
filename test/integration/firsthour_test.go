package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/pgserver"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// trailFolder writes a CloudTrail bucket folder (one account and region)
// whose files carry their delivery time as their modification time, as S3
// reports it, and returns each object's time with its record count.
func trailFolder(t *testing.T, bucketName string, spec gen.CloudTrailSpec) (string, map[time.Time]int) {
	t.Helper()
	src := t.TempDir()
	times := map[time.Time]int{}
	for _, o := range gen.CloudTrail(spec) {
		p := filepath.Join(src, bucketName, filepath.FromSlash(o.Key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, o.Body, 0o644); err != nil {
			t.Fatal(err)
		}
		at := keyTime(t, o.Key)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		times[at] += o.Records
	}
	return src, times
}

// recordsIn sums the records of the objects delivered in [from, to).
func recordsIn(times map[time.Time]int, from, to time.Time) int {
	n := 0
	for at, recs := range times {
		if !at.Before(from) && at.Before(to) {
			n += recs
		}
	}
	return n
}

// TestCollectOnceWindow: `trawl collect --once --from T --to T`, as the CLI
// reference and `trawl --help` write it, collects exactly the objects
// delivered in that window, without a server and through one; a window
// that ends before it starts is refused naming both flags.
func TestCollectOnceWindow(t *testing.T) {
	start := time.Now().UTC().Add(-60 * time.Hour).Truncate(time.Hour)
	src, times := trailFolder(t, "window-trail", gen.CloudTrailSpec{Seed: 29, Accounts: []string{acct}, Regions: []string{"us-east-1"},
		Start: start, Span: 48 * time.Hour, Objects: 16, RecordsPerObj: 5})
	data := t.TempDir()
	mustTrawl(t, data, "connector", "add", "--name", "trail", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "window-trail",
		"--prefix", "AWSLogs/"+acct+"/CloudTrail", "--endpoint", "file://"+src, "--start", "-72h")

	r := trawl(t, data, nil, "collect", "--once", "--from", start.Add(20*time.Hour).Format(time.RFC3339), "--to", start.Add(10*time.Hour).Format(time.RFC3339))
	if r.code != 2 || contains("--from", "--to")(r.stdout, r.stderr) != "" {
		t.Errorf("a window ending before it starts: exit %d, %q; want 2 naming --from and --to", r.code, r.stderr)
	}

	from, to := start.Add(6*time.Hour), start.Add(18*time.Hour)
	want := recordsIn(times, from, to)
	if want == 0 || want == recordsIn(times, start, start.Add(49*time.Hour)) {
		t.Fatalf("the window holds %d records: it proves nothing", want)
	}
	out := mustTrawl(t, data, "collect", "--once", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "trail")
	if got := collectRow(t, out, "trail")["RECORDS"]; got != strconv.Itoa(want) {
		t.Errorf("collect --once over [%s, %s): %s records, want %d\n%s", from, to, got, want, out)
	}
	if n := count(t, data, "--from", "-7d"); n != want {
		t.Errorf("the lake holds %d records after the window, want %d", n, want)
	}

	// Through a server (that collects nothing by itself).
	stop := startServe(t, data, "--no-schedule")
	defer stop()
	from2, to2 := start.Add(30*time.Hour), start.Add(40*time.Hour)
	want2 := recordsIn(times, from2, to2)
	out = mustTrawl(t, data, "collect", "--once", "--from", from2.Format(time.RFC3339), "--to", to2.Format(time.RFC3339))
	if got := collectRow(t, out, "trail")["RECORDS"]; got != strconv.Itoa(want2) {
		t.Errorf("through the server, collect --once over [%s, %s): %s records, want %d\n%s", from2, to2, got, want2, out)
	}
	if n := count(t, data, "--from", "-7d"); n != want+want2 {
		t.Errorf("the lake holds %d records after both windows, want %d", n, want+want2)
	}
}

// makeDemo starts `make demo ARGS="--addr addr"` from the repository root,
// running the test's binary (GO=true skips the build), in its own process
// group so that trawl, make's child, is stopped with it. done receives
// make's exit code.
func makeDemo(t *testing.T, data, addr string) (done chan int, out *syncBuffer) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(root, trawlBin)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-s", "-C", root, "demo", "GO=true", "BIN="+rel, "ARGS=--addr "+addr)
	cmd.Env = append(os.Environ(), dataEnv(t, data)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, done := make(chan struct{}), make(chan int, 1)
	go func() {
		_ = cmd.Wait()
		done <- cmd.ProcessState.ExitCode()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Error("make demo did not end on SIGKILL")
		}
	})
	return done, out
}

// TestMakeDemoTakesAnAddress: `make demo ARGS="--addr …"` serves the demo
// on that address; with the address taken it fails at once, before
// collecting anything, saying how to pass another one.
func TestMakeDemoTakesAnAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	data := t.TempDir()
	done, out := makeDemo(t, data, busy.Addr().String())
	select {
	case code := <-done:
		if code == 0 || !strings.Contains(out.String(), `make demo ARGS="--addr`) || strings.Contains(out.String(), "collected") {
			t.Errorf("make demo on a taken address: exit %d; want a failure before collecting that says how to pass --addr:\n%s", code, out.String())
		}
	case <-time.After(time.Minute):
		t.Errorf("make demo on a taken address did not exit within a minute:\n%s", out.String())
	}

	data = t.TempDir()
	addr := freeAddr(t)
	_, out = makeDemo(t, data, addr)
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "serving on http://"+addr) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "serving on http://"+addr) {
		t.Fatalf("make demo ARGS=\"--addr %s\" did not serve there:\n%s", addr, out.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("the demo on %s: %v", addr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the demo on %s answers /healthz with %d", addr, resp.StatusCode)
	}
}

// demoAlerts runs a fresh demo in its own data directory, on a port of
// its own, and returns its alerts, each as rule, group, count and window
// (as an offset from the earliest alert's window: two demos started in
// different hours lay their data out an hour apart), sorted.
func demoAlerts(t *testing.T) []string {
	t.Helper()
	data := t.TempDir()
	cmd := launchUntilServing(t, data, 3*time.Minute, "demo", "--addr", "127.0.0.1:0")
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var alerts []struct {
		RuleID      string    `json:"rule_id"`
		Group       string    `json:"group"`
		Count       int64     `json:"count"`
		Records     []string  `json:"records"`
		WindowStart time.Time `json:"window_start"`
	}
	out := mustTrawl(t, data, "alerts", "--format", "json", "--since", "-48h")
	if err := json.Unmarshal([]byte(out), &alerts); err != nil {
		t.Fatalf("alerts json: %v\n%s", err, out)
	}
	if len(alerts) == 0 {
		t.Fatal("the demo raised no alert")
	}
	first := alerts[0].WindowStart
	for _, a := range alerts {
		if a.WindowStart.Before(first) {
			first = a.WindowStart
		}
	}
	var got []string
	for _, a := range alerts {
		got = append(got, fmt.Sprintf("%s group=%q count=%d records=%d window=+%s", a.RuleID, a.Group, a.Count, len(a.Records), a.WindowStart.Sub(first)))
	}
	sort.Strings(got)
	return got
}

// TestDemoAlertsAreTheSameEveryTime: two fresh demos, started one after
// the other, raise exactly the same alerts, among them the port scan and
// the SQL injection burst the README promises (VPC flow logs with
// rejected scans, WAF logs with blocked injections), and the alerts of
// the two High GuardDuty findings.
func TestDemoAlertsAreTheSameEveryTime(t *testing.T) {
	one := demoAlerts(t)
	two := demoAlerts(t)
	if strings.Join(one, "\n") != strings.Join(two, "\n") {
		t.Errorf("two fresh demos raised different alerts:\nfirst (%d):\n%s\nsecond (%d):\n%s", len(one), strings.Join(one, "\n"), len(two), strings.Join(two, "\n"))
	}
	for _, want := range []string{`trawl-vpc-001 group="185.220.101.47"`, `trawl-waf-001 group="185.220.101.47"`, "trawl-gd-001 "} {
		n := 0
		for _, a := range one {
			if strings.HasPrefix(a, want) {
				n++
			}
		}
		if n != 2 {
			t.Errorf("the demo raised %d alerts %s, want 2 (its two planted attacks):\n%s", n, want, strings.Join(one, "\n"))
		}
	}
}

// dirEntries lists a data directory's top-level names with their sizes.
func dirEntries(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		size := info.Size()
		if e.IsDir() {
			size = 0
		}
		out = append(out, fmt.Sprintf("%s:%d", e.Name(), size))
	}
	return strings.Join(out, " ")
}

// pgTables counts the tables of a PostgreSQL database.
func pgTables(t *testing.T, url string) int {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRefusedCatalogLeavesNoTrace: a data directory opened with a catalog
// it is not bound to is refused, and the refusal changes nothing: an
// embedded directory offered an empty PostgreSQL database, a migrated one
// opened without --catalog (no new, empty trawl.db), and the migrated one
// offered another, empty database (no schema created there).
func TestRefusedCatalogLeavesNoTrace(t *testing.T) {
	pg := pgserver.Start(t)
	data := t.TempDir()
	embedded := []string{"TRAWL_CATALOG="} // even under TRAWL_TEST_CATALOG=postgres
	if r := trawl(t, data, embedded, "connector", "add", "--name", "trail", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "refusals",
		"--prefix", "AWSLogs/"+acct+"/CloudTrail", "--endpoint", "file://"+t.TempDir()); r.code != 0 {
		t.Fatalf("connector add: %s", r.stderr)
	}
	other := pg.Database(t)
	refused := func(what string, env []string, args ...string) {
		t.Helper()
		before := dirEntries(t, data)
		r := trawl(t, data, env, append([]string{"connector", "list"}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "catalog") {
			t.Errorf("%s: exit %d, %q; want 1 and a message naming the catalog to use", what, r.code, r.stderr)
		}
		if after := dirEntries(t, data); after != before {
			t.Errorf("%s changed the data directory:\nbefore %s\nafter  %s", what, before, after)
		}
		if n := pgTables(t, other); n != 0 {
			t.Errorf("%s left %d tables in the refused database", what, n)
		}
	}
	refused("an embedded directory with --catalog "+other, embedded, "--catalog", other)

	first := pg.Database(t)
	if r := trawl(t, data, embedded, "catalog", "migrate", "--to", first); r.code != 0 {
		t.Fatalf("migrate: %s", r.stderr)
	}
	refused("the migrated directory without --catalog", embedded)
	if _, err := os.Stat(filepath.Join(data, "trawl.db")); err == nil {
		t.Error("a refused open left a new, empty trawl.db")
	}
	refused("the migrated directory with another database", embedded, "--catalog", other)
	if out := mustTrawl(t, data, "connector", "list", "--catalog", first); !strings.Contains(out, "trail") {
		t.Errorf("with its own catalog the directory lists:\n%s", out)
	}
}

// TestS3LakeCreatesItsBucket: `trawl serve --lake s3://BUCKET/PREFIX` on a
// bucket that does not exist creates it when the credentials may, and its
// segments land there; with credentials that may not, it exits 1 saying
// which bucket to create, in which region, and the permission to grant,
// and creates nothing.
func TestS3LakeCreatesItsBucket(t *testing.T) {
	pg := pgserver.Start(t)
	srv := s3server.Start(t)
	objs, want := trailObjects(29, 1, 6)
	bucket(t, srv, "logs", objs)
	srv.CreateUserRole(context.Background(), t, "LAKEREADONLYUSER01", "lake-limited-secret-key-for-tests", "user")
	lake := []string{"--lake", "s3://trawl-lake/segments", "--lake-endpoint", srv.Endpoint, "--lake-path-style", "--lake-region", "us-east-1"}
	limited := []string{"AWS_ACCESS_KEY_ID=LAKEREADONLYUSER01", "AWS_SECRET_ACCESS_KEY=lake-limited-secret-key-for-tests", "TRAWL_CATALOG=" + pg.Database(t)}
	r := trawl(t, t.TempDir(), limited, append([]string{"serve", "--addr", freeAddr(t)}, lake...)...)
	if r.code != 1 || contains("trawl-lake", "us-east-1", "s3:CreateBucket", "create-bucket")(r.stdout, r.stderr) != "" {
		t.Errorf("serve on a missing lake bucket without the right to create it: exit %d\n%s%s\nwant 1 naming the bucket, the region and s3:CreateBucket", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, "trawl-lake")); err == nil {
		t.Fatal("the bucket was created with credentials that may not")
	}

	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("TRAWL_CATALOG", pg.Database(t))
	data := t.TempDir()
	cmd := launchServe(t, freeAddr(t), data, append(lake, "--no-schedule")...)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if _, err := os.Stat(filepath.Join(srv.Dir, "trawl-lake")); err != nil {
		t.Fatalf("serve started, but the lake's bucket was not created: %v", err)
	}
	addConnector(t, srv, data, "trail", "logs", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, data, "collect", "--once", "trail")
	if n := count(t, data); n != len(want) {
		t.Errorf("count %d, want %d", n, len(want))
	}
	segs := 0
	filepath.WalkDir(filepath.Join(srv.Dir, "trawl-lake", "segments"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") {
			segs++
		}
		return nil
	})
	if segs == 0 {
		t.Error("no segment in the created bucket")
	}
}

// genTrail writes `trawl gen --digests` into a folder and adds a connector
// for its CloudTrail prefix; it returns the folder's bucket path, the
// public key file and the prefix.
func genTrail(t *testing.T, data, name string) (bucketDir, keys, prefix string) {
	t.Helper()
	src := t.TempDir()
	keys = filepath.Join(t.TempDir(), "keys.json")
	var m gen.Manifest
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "gen", "--out", src, "--bucket", "gen-trail", "--objects", "6", "--records", "5",
		"--digests", "--public-keys-out", keys)), &m); err != nil {
		t.Fatal(err)
	}
	mustTrawl(t, data, "connector", "add", "--name", name, "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "gen-trail",
		"--prefix", m.Prefixes["cloudtrail"], "--endpoint", "file://"+src, "--start", "-72h")
	return filepath.Join(src, "gen-trail"), keys, m.Prefixes["cloudtrail"]
}

// TestAuditUnlistedHourIsNotVerified: an hour whose digest verifies but
// that also holds a collected log file no digest lists is not shown
// `verified`: the table's row, its detail and the summary's counts agree
// (the file is AWS's only once a digest lists it).
func TestAuditUnlistedHourIsNotVerified(t *testing.T) {
	data := t.TempDir()
	dir, keys, _ := genTrail(t, data, "trail")
	// A log file no digest lists, delivered in an hour that has a digest:
	// a copy of a listed one under a name of its own, with its time.
	var listed string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, "CloudTrail-Digest") && strings.HasSuffix(p, ".json.gz") && listed == "" {
			listed = p
		}
		return nil
	})
	if listed == "" {
		t.Fatal("gen wrote no CloudTrail log file")
	}
	body, err := os.ReadFile(listed)
	if err != nil {
		t.Fatal(err)
	}
	extra := listed[:strings.LastIndex(listed, "_")] + "_0000000000unlist.json.gz"
	at := keyTime(t, listed)
	if err := os.WriteFile(extra, body, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{listed, extra} { // delivered in the hour their names give
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	mustTrawl(t, data, "collect", "--once")
	r := trawl(t, data, nil, "audit", "--public-keys", keys, "--from", "-24h")
	if r.code != 0 {
		t.Fatalf("audit exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	counts := map[string]int{}
	found := false
	for _, l := range lines[1 : len(lines)-1] {
		f := strings.Fields(l)
		counts[f[5]]++
		if strings.Contains(l, "no digest") || strings.Contains(l, " unlisted") { // (the detail's words before this change)
			found = true
			if f[5] == "verified" {
				t.Errorf("an hour holding a file no digest lists is shown verified: %s", l)
			}
		}
	}
	if !found {
		t.Fatalf("no hour shows the unlisted file:\n%s", r.stdout)
	}
	summary := lines[len(lines)-1]
	for _, st := range []string{"verified", "unlisted", "unverifiable"} {
		if !strings.Contains(summary, fmt.Sprintf(" %d %s", counts[st], st)) {
			t.Errorf("the summary %q disagrees with the rows: %d %s", summary, counts[st], st)
		}
	}
	if len(lines) == 3 && !strings.HasPrefix(summary, "1 hour:") || strings.Contains(r.stdout, " 1 collected files") {
		t.Errorf("counts of one in the plural:\n%s", r.stdout)
	}
}

// TestConnectorMessagesOfOne: what `trawl connector test` and `connector
// policy` print of a one-account organization trail: counts of one in
// the singular, the Organization's folder listed once in the policy, and
// a trust policy asked of a keys connector refused with exit 1, saying
// what it uses and what to do.
func TestConnectorMessagesOfOne(t *testing.T) {
	data := t.TempDir()
	dir, _, _ := genTrail(t, data, "unused")
	src := filepath.Dir(dir)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("a-secret-key\n"), 0o600)
	mustTrawl(t, data, "connector", "add", "--name", "org", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "gen-trail",
		"--prefix", "AWSLogs/*/CloudTrail", "--endpoint", "file://"+src, "--start", "-72h")
	out := mustTrawl(t, data, "connector", "test", "org")
	if !strings.Contains(out, "1 account found") || !strings.Contains(out, "in its one account") || strings.Contains(out, "1 accounts") {
		t.Errorf("connector test of a one-account prefix:\n%s", out)
	}

	mustTrawl(t, data, "connector", "add", "--name", "keys", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "org-trail",
		"--prefix", "AWSLogs/o-abc123defg/*/CloudTrail", "--access-key-id", "AKIAABCDEFGHIJKLMNOP", "--secret-access-key-file", secret,
		"--region", "us-east-1")
	var perms struct {
		Statement []struct {
			Sid       string                         `json:"Sid"`
			Condition map[string]map[string][]string `json:"Condition"`
		}
	}
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "connector", "policy", "keys", "--part", "permissions")), &perms); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	n := 0
	for _, st := range perms.Statement {
		for _, p := range st.Condition["StringLike"]["s3:prefix"] {
			n++
			if seen[p] {
				t.Errorf("%s lists %s twice under s3:prefix", st.Sid, p)
			}
			seen[p] = true
		}
	}
	if n == 0 || !seen["AWSLogs/o-abc123defg/"] {
		t.Errorf("the list statement does not let Trawl discover the accounts: %v", seen)
	}
	r := trawl(t, data, nil, "connector", "policy", "keys", "--part", "trust")
	if r.code != 1 || contains("access key", "--part permissions", "--credentials role")(r.stdout, r.stderr) != "" {
		t.Errorf("trust policy of a keys connector: exit %d %q; want 1 saying it uses an access key and what to do", r.code, r.stderr)
	}
}

// TestShortAccessKeysForS3CompatibleStores: an S3-compatible store's own
// key form (here a two-character access key on versitygw; MinIO's are as
// short as three) is accepted with a custom --endpoint and collects; the
// AWS form (16 to 128 letters, digits or _) is still required without one,
// and the refusal names the field and --endpoint.
func TestShortAccessKeysForS3CompatibleStores(t *testing.T) {
	srv := s3server.Start(t)
	srv.CreateUserRole(context.Background(), t, "mk", "short-key-store-secret-01", "userplus")
	objs, want := trailObjects(31, 2, 5)
	srv.FillAs(t, "mk", "short-key-store-secret-01", "own-logs", objs)
	data := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("short-key-store-secret-01\n"), 0o600)
	add := func(name string, extra ...string) result {
		return trawl(t, data, nil, append([]string{"connector", "add", "--name", name, "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "own-logs",
			"--prefix", "AWSLogs/" + acct + "/CloudTrail", "--access-key-id", "mk", "--secret-access-key-file", secret, "--start", "-72h"}, extra...)...)
	}
	if r := add("aws"); r.code != 1 || contains("access_key_id", "16 to 128", "endpoint")(r.stdout, r.stderr) != "" {
		t.Errorf("a two-character key for AWS: exit %d %q; want 1 naming access_key_id, the AWS form and the endpoint", r.code, r.stderr)
	}
	if r := add("store", "--endpoint", srv.Endpoint, "--path-style"); r.code != 0 {
		t.Fatalf("a two-character key for an S3-compatible store: exit %d %s", r.code, r.stderr)
	}
	out := mustTrawl(t, data, "collect", "--once", "store")
	if got := collectRow(t, out, "store")["RECORDS"]; got != strconv.Itoa(len(want)) {
		t.Errorf("collected %s records with the short key, want %d\n%s", got, len(want), out)
	}
}

// TestREADMEListsTheDataDirectory: every file a running server keeps in
// its data directory (after a collect) is named in the README's "Data
// directory" section, so an operator knows what to back up and keep.
func TestREADMEListsTheDataDirectory(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## Data directory")
	if start < 0 {
		t.Fatal("README has no Data directory section")
	}
	section = section[start+1:]
	section = section[:strings.Index(section, "\n### ")]
	data := t.TempDir()
	genTrail(t, data, "trail")
	stop := startServe(t, data, "--no-schedule")
	defer stop()
	mustTrawl(t, data, "collect", "--once")
	es, err := os.ReadDir(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		if !strings.Contains(section, "`"+name+"`") {
			t.Errorf("the data directory holds %s; README's Data directory section does not name it", name)
		}
	}
}
