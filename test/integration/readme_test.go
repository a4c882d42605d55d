package integration

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/awspolicy"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
	"github.com/trawlhq/trawl/internal/testutil/stsserver"
)

// The README test runs README.md's command blocks as written, in order, in
// bash, and checks each command's exit code and the facts the text states
// beside it. What stands in for what a reader has and a test cannot:
//
//   - AWS S3: versitygw on loopback. The walkthrough's `connector add` gets
//     `--endpoint URL --path-style --sts-endpoint URL` appended, and its
//     bucket holds an Organization trail of two accounts and two regions.
//   - AWS STS: the documented-response stand-in (internal/testutil/
//     stsserver), which checks the role ARN, the external ID and the SigV4
//     signature of the server's identity; its sessions are a versitygw user.
//   - The aws CLI: a stand-in on PATH for `aws iam create-role` and `aws
//     iam put-role-policy`. create-role makes the STS stand-in require the
//     trust policy's external ID (and checks its principal); put-role-policy
//     installs the permissions policy as the bucket's policy for the
//     session user, so the connector reads with exactly what Trawl wrote.
//   - The server's own AWS identity: AWS_ACCESS_KEY_ID and
//     AWS_SECRET_ACCESS_KEY in the shell's environment.
//   - /var/lib/trawl: a folder of the test's.
//   - `make demo`: the built binary's `trawl demo` on a free port, in a
//     folder holding ./bin/trawl (the searches after it run as written).
//   - Between two blocks a reader reads the text; the runner waits for the
//     server's detector to finish with what was collected.
//
// A block the runner does not know fails the test: a command added to the
// README is either run here or listed in readmeCoveredElsewhere with the
// test that runs it.

// readmeCoveredElsewhere are README blocks (by the start of their first
// line) that this test does not run, with the reason.
var readmeCoveredElsewhere = map[string]string{
	"make test":                                        "the suite this test is part of",
	"aws sqs create-queue --queue-name":                "configures AWS itself (no server here turns an S3 upload into an SQS message); TestQueueEnvelopesAndKeys, TestQueueAddedToPollingConnector and TestQueueKill9 run the trawl side against fauxqs, and TestQueueTestAndPolicy its test and policy",
	"make demo ARGS=":                                  "TestMakeDemoTakesAnAddress runs make demo with ARGS",
	"source (s3 | local)":                              "a diagram, not commands",
	"trawl serve --catalog postgres://":                "TestPostgresCatalog runs serve and catalog migrate on PostgreSQL",
	"AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… \\":   "TestS3Lake runs serve with --lake on versitygw",
	"# once: the master key every node shares":         "TestCluster runs several nodes on one catalog and lake; TestKeyGenerate the key",
	"export TRAWL_DATA_DIR=/var/lib/trawl":             "",
	"trawl alerts --since -24h --level high":           "",
	"make demo":                                        "",
	"./bin/trawl search --data-dir trawl-demo 'event_": "",
}

// readmeBlock is one code block of the README.
type readmeBlock struct {
	line int // where it starts
	text string
}

// readmeBlocks returns the README's code blocks: fenced ones and indented
// ones (four spaces after a blank line).
func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	var out []readmeBlock
	for i := 0; i < len(lines); i++ {
		switch {
		case strings.HasPrefix(lines[i], "```"):
			j := i + 1
			for j < len(lines) && !strings.HasPrefix(lines[j], "```") {
				j++
			}
			out = append(out, readmeBlock{line: i + 2, text: strings.Join(lines[i+1:j], "\n")})
			i = j
		case strings.HasPrefix(lines[i], "    ") && (i == 0 || strings.TrimSpace(lines[i-1]) == ""):
			j := i
			var body []string
			for j < len(lines) && (strings.HasPrefix(lines[j], "    ") || strings.TrimSpace(lines[j]) == "" && j+1 < len(lines) && strings.HasPrefix(lines[j+1], "    ")) {
				body = append(body, strings.TrimPrefix(lines[j], "    "))
				j++
			}
			out = append(out, readmeBlock{line: i + 1, text: strings.Join(body, "\n")})
			i = j - 1
		}
	}
	return out
}

// blockKey is the entry of readmeCoveredElsewhere a block matches.
func blockKey(b readmeBlock) (string, bool) {
	first := strings.SplitN(strings.TrimSpace(b.text), "\n", 2)[0]
	best := ""
	for k := range readmeCoveredElsewhere {
		if strings.HasPrefix(first, k) && len(k) > len(best) {
			best = k // the longest: "make demo ARGS=" before "make demo"
		}
	}
	if best == "" {
		return first, false
	}
	return best, true
}

// shellCommands splits a block into commands: a line ending in '\' goes on,
// and a here-document runs to its end marker.
func shellCommands(text string) []string {
	var out []string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		cmd := lines[i]
		if strings.TrimSpace(cmd) == "" || strings.HasPrefix(strings.TrimSpace(cmd), "#") {
			continue
		}
		for strings.HasSuffix(strings.TrimRight(cmd, " "), "\\") && i+1 < len(lines) {
			i++
			cmd += "\n" + lines[i]
		}
		if at := strings.Index(cmd, "<<'"); at >= 0 {
			end := strings.SplitN(cmd[at+3:], "'", 2)[0]
			for i+1 < len(lines) {
				i++
				cmd += "\n" + lines[i]
				if lines[i] == end {
					break
				}
			}
		}
		out = append(out, cmd)
	}
	return out
}

// ran is one command of a block as bash ran it.
type ran struct {
	cmd            string
	stdout, stderr string
	code           int
}

// readmeShell is the environment the blocks run in.
type readmeShell struct {
	t    *testing.T
	dir  string // working directory
	env  []string
	subs func(string) string
}

// run runs the commands in one bash, each in a brace group whose output
// goes to files (a background job keeps its own), and returns what each
// printed and its exit code. between runs after the commands of each
// block but the last (the runner's pause for reading).
func (sh *readmeShell) run(blocks [][]string, between string) []ran {
	t := sh.t
	out := t.TempDir()
	var script strings.Builder
	script.WriteString("set -u\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n")
	var cmds []string
	for bi, block := range blocks {
		if bi > 0 && between != "" {
			script.WriteString(between + "\n")
		}
		for _, c := range block {
			n := len(cmds)
			cmds = append(cmds, c)
			fmt.Fprintf(&script, "{ %s\n} >%s/%d.out 2>%s/%d.err\necho $? >%s/%d.code\n", sh.subs(c), out, n, out, n, out, n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir, cmd.Env = sh.dir, sh.env
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Logf("bash: %v\n%s", err, b)
	}
	res := make([]ran, len(cmds))
	for i, c := range cmds {
		read := func(ext string) string {
			b, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("%d.%s", i, ext)))
			return string(b)
		}
		code, err := strconv.Atoi(strings.TrimSpace(read("code")))
		if err != nil {
			code = -1 // never ran: the script stopped before it
		}
		res[i] = ran{cmd: c, stdout: read("out"), stderr: read("err"), code: code}
	}
	return res
}

// awsStandIn is the `aws` command on the README test's PATH: it takes
// `iam create-role` and `iam put-role-policy`, reads the policy file as the
// aws CLI does (file://), and hands it to the test's control endpoint.
func awsStandIn(args []string) int {
	flags := map[string]string{}
	for i := 2; i+1 < len(args); i += 2 {
		flags[args[i]] = args[i+1]
	}
	if len(args) < 2 || args[0] != "iam" {
		fmt.Fprintln(os.Stderr, "aws stand-in: only iam create-role and iam put-role-policy")
		return 252
	}
	doc := flags["--assume-role-policy-document"] + flags["--policy-document"]
	body, err := os.ReadFile(strings.TrimPrefix(doc, "file://"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "aws stand-in:", err)
		return 255
	}
	resp, err := http.Post(os.Getenv("TRAWL_TEST_AWS_CONTROL")+"/"+args[1]+"?role="+flags["--role-name"], "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, "aws stand-in:", err)
		return 255
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		fmt.Fprintf(os.Stderr, "An error occurred (MalformedPolicyDocument) when calling the %s operation: %s\n", args[1], msg)
		return 254
	}
	os.Stdout.Write(msg)
	return 0
}

// readmeWaitDetector is the runner's pause between two blocks: the
// stand-in binary waits until the server's detector has evaluated every
// committed segment (a reader reads the text meanwhile).
const readmeWaitDetector = "readme-wait-detector"

// waitDetector polls the server holding $TRAWL_DATA_DIR until its
// /metrics says no segment awaits detection, for a minute at most.
func waitDetector() int {
	dir := os.Getenv("TRAWL_DATA_DIR")
	var si struct{ Addr string }
	b, err := os.ReadFile(filepath.Join(dir, "server.json"))
	if err != nil || json.Unmarshal(b, &si) != nil {
		fmt.Fprintln(os.Stderr, "readme-wait-detector: no server.json:", err)
		return 1
	}
	tok, _ := os.ReadFile(filepath.Join(dir, "root.token"))
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest("GET", "http://"+si.Addr+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() == "trawl_detect_backlog_segments 0" {
				resp.Body.Close()
				return 0
			}
		}
		resp.Body.Close()
	}
	fmt.Fprintln(os.Stderr, "readme-wait-detector: the detection backlog did not empty within a minute")
	return 1
}

// iamStandIn is the control side of the aws stand-in: it checks what the
// walkthrough gives IAM and applies it to the STS and S3 stand-ins.
type iamStandIn struct {
	t         *testing.T
	srv       *s3server.Server
	sts       *stsserver.Server
	bucket    string
	principal string
	mu        sync.Mutex
	calls     []string
}

func (s *iamStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var doc awspolicy.Document
	if err := json.NewDecoder(r.Body).Decode(&doc); err != nil || len(doc.Statement) == 0 {
		http.Error(w, fmt.Sprintf("not a policy document: %v", err), 400)
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, r.URL.Path)
	s.mu.Unlock()
	switch r.URL.Path {
	case "/create-role":
		st := doc.Statement[0]
		ext := st.Condition["StringEquals"]["sts:ExternalId"]
		if st.Principal["AWS"] != s.principal || len(ext) != 1 {
			http.Error(w, fmt.Sprintf("trust policy principal %v, external ID %v: want %s and one external ID", st.Principal, ext, s.principal), 400)
			return
		}
		s.sts.SetExternalID(ext[0])
		fmt.Fprintf(w, `{"Role": {"RoleName": %q, "Arn": "arn:aws:iam::123456789012:role/%s"}}`+"\n", r.URL.Query().Get("role"), r.URL.Query().Get("role"))
	case "/put-role-policy":
		s.srv.SetBucketPolicy(s.t, s.bucket, bucketPolicy(s.t, doc, "sessionkey01", ""))
	default:
		http.Error(w, "unknown operation", 400)
	}
}

// readmeTrail is the walkthrough's bucket: an Organization trail of two
// accounts and two regions, with attacks (for the Detections block).
func readmeTrail(t *testing.T, srv *s3server.Server) (objs []gen.Object, records int) {
	objs = gen.CloudTrail(gen.CloudTrailSpec{Seed: 77, OrgID: orgID, Accounts: []string{"111111111111", "222222222222"}, Regions: []string{"us-east-1", "eu-west-1"},
		Start: time.Now().UTC().Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: 4, RecordsPerObj: 30, Attacks: true})
	for _, o := range objs {
		records += o.Records
	}
	srv.Fill(t, "acme-cloudtrail-logs", objs)
	return objs, records
}

// consoleLoginsOutside10 tallies, from the generated objects themselves,
// the records the walkthrough's search selects.
func consoleLoginsOutside10(t *testing.T, objs []gen.Object) int {
	n := 0
	ten := netip.MustParsePrefix("10.0.0.0/8")
	for _, o := range objs {
		zr, err := gzip.NewReader(bytes.NewReader(o.Body))
		if err != nil {
			t.Fatal(err)
		}
		var f struct{ Records []map[string]any }
		if err := json.NewDecoder(zr).Decode(&f); err != nil {
			t.Fatal(err)
		}
		for _, r := range f.Records {
			ip, err := netip.ParseAddr(fmt.Sprint(r["sourceIPAddress"]))
			if r["eventName"] == "ConsoleLogin" && !(err == nil && ten.Contains(ip)) {
				n++
			}
		}
	}
	return n
}

// TestREADME runs the README's blocks (see the comment at the top).
func TestREADME(t *testing.T) {
	blocks := readmeBlocks(t, "../../README.md")
	byKey := map[string][]string{}
	for _, b := range blocks {
		k, known := blockKey(b)
		if !known {
			t.Errorf("README.md:%d: a block this test neither runs nor lists as covered elsewhere (%q): run it here, or add it to readmeCoveredElsewhere with the test that runs it", b.line, k)
			continue
		}
		byKey[k] = shellCommands(b.text)
	}
	for k, why := range readmeCoveredElsewhere {
		if _, ok := byKey[k]; !ok {
			t.Errorf("readmeCoveredElsewhere lists %q, which is no longer in README.md", k)
		}
		_ = why
	}
	if t.Failed() {
		return
	}
	t.Run("docs-rules", readmeDocsRules)
	t.Run("demo", func(t *testing.T) {
		readmeDemo(t, byKey["make demo"], byKey["./bin/trawl search --data-dir trawl-demo 'event_"])
	})
	t.Run("aws", func(t *testing.T) {
		readmeAWS(t, byKey["export TRAWL_DATA_DIR=/var/lib/trawl"], byKey["trawl alerts --since -24h --level high"])
	})
}

// readmeBin is a folder for PATH holding trawl and the aws stand-in.
func readmeBin(t *testing.T) string {
	bin := t.TempDir()
	if err := os.Symlink(trawlBin, filepath.Join(bin, "trawl")); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]string{"aws": "aws", readmeWaitDetector: "wait"} {
		script := "#!/bin/sh\nTRAWL_TEST_STANDIN=" + mode + " exec '" + self + "' \"$@\"\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// readmeEnv is a clean environment: no TRAWL_ or AWS_ variable of the
// machine's, PATH starting with bin.
func readmeEnv(bin string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TRAWL_") || strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "PATH="+bin+":"+os.Getenv("PATH")), extra...)
}

func readmeDemo(t *testing.T, demo, searches []string) {
	if len(demo) != 1 || demo[0] != "make demo" {
		t.Fatalf("the demo block is %q; this test stands in for `make demo` only", demo)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(trawlBin, filepath.Join(dir, "bin", "trawl")); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "trawl-demo")
	cmd := launchUntilServing(t, data, 3*time.Minute, "demo", "--addr", freeAddr(t))
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	catalog := []string{}
	if c := catalogOf(t, data); c != "" {
		catalog = append(catalog, "TRAWL_CATALOG="+c)
	}
	sh := &readmeShell{t: t, dir: dir, env: readmeEnv(t.TempDir(), catalog...), subs: func(s string) string { return s }}
	res := sh.run([][]string{searches}, "")
	if len(res) != 2 {
		t.Fatalf("the demo's search block has %d commands, this test checks 2", len(res))
	}
	if r := res[0]; r.code != 0 || len(strings.Split(strings.TrimSpace(r.stdout), "\n")) < 2 {
		t.Errorf("%s\nexit %d, want 0 and the demo's records:\n%s%s", r.cmd, r.code, r.stdout, r.stderr)
	}
	if r := res[1]; r.code != 0 || strings.TrimSpace(r.stdout) == "0" {
		t.Errorf("%s\nexit %d, want 0 and a count of the demo's records:\n%s%s", r.cmd, r.code, r.stdout, r.stderr)
	} else if _, err := strconv.Atoi(strings.TrimSpace(r.stdout)); err != nil {
		t.Errorf("%s printed %q, not a count", r.cmd, r.stdout)
	}
}

func readmeAWS(t *testing.T, walk, detections []string) {
	srv := s3server.Start(t)
	ctx := context.Background()
	objs, records := readmeTrail(t, srv)
	srv.CreateUser(ctx, t, "sessionkey01", "sessionsecret0001")
	const principal = "arn:aws:iam::111122223333:role/trawl"
	sts := stsserver.Start(t, stsserver.Role{ARN: "arn:aws:iam::123456789012:role/TrawlLogReader", SourceAccess: "AKIASOURCEKEY0000001",
		SourceSecret: "sourcesecret", SessionAccess: "sessionkey01", SessionSecret: "sessionsecret0001"})
	iam := &iamStandIn{t: t, srv: srv, sts: sts, bucket: "acme-cloudtrail-logs", principal: principal}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: iam, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	work := t.TempDir()
	varlib := filepath.Join(work, "var", "lib", "trawl")
	env := []string{"TRAWL_TEST_AWS_CONTROL=http://" + ln.Addr().String(), "TRAWL_CONFIG=" + filepath.Join(work, "login.json"),
		"AWS_ACCESS_KEY_ID=AKIASOURCEKEY0000001", "AWS_SECRET_ACCESS_KEY=sourcesecret", "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"}
	if c := catalogOf(t, varlib); c != "" {
		env = append(env, "TRAWL_CATALOG="+c)
	}
	sh := &readmeShell{t: t, dir: work, env: readmeEnv(readmeBin(t), env...), subs: func(s string) string {
		s = strings.ReplaceAll(s, "/var/lib/trawl", varlib)
		if strings.HasPrefix(s, "trawl connector add ") {
			s += " --endpoint " + srv.Endpoint + " --path-style --sts-endpoint " + sts.URL
		}
		return s
	}}
	// Between the blocks: wait (a minute at most) until the server's
	// detector has evaluated every committed segment.
	between := `for i in $(seq 600); do trawl alerts --since -1m >/dev/null 2>&1; ` +
		`[ "$(cat "$TRAWL_DATA_DIR/.readme-backlog" 2>/dev/null)" = 0 ] && break; sleep 0.1; done`
	_ = between
	res := sh.run([][]string{walk, detections}, readmeWaitDetector)
	checkWalkthrough(t, res[:len(walk)], varlib, objs, records, principal)
	checkDetections(t, res[len(walk):], varlib)
	if len(iam.calls) != 2 {
		t.Errorf("IAM stand-in calls %v, want create-role and put-role-policy", iam.calls)
	}
	for _, r := range sts.Requests() {
		if r.Denied != "" && r.Denied != "AccessDenied" {
			t.Errorf("STS request %+v", r)
		}
	}
}

// ranBy finds the command of a block that starts with prefix.
func ranBy(t *testing.T, res []ran, prefix string) ran {
	t.Helper()
	for _, r := range res {
		if strings.HasPrefix(r.cmd, prefix) {
			return r
		}
	}
	t.Fatalf("the README block has no command starting %q (the README changed: update this test's checks)", prefix)
	return ran{}
}

// everyCommandOK requires each command to have run and exited 0.
func everyCommandOK(t *testing.T, res []ran) {
	t.Helper()
	for _, r := range res {
		if r.code != 0 {
			t.Errorf("README command\n  %s\nexit %d, want 0\nstdout: %s\nstderr: %s", r.cmd, r.code, r.stdout, r.stderr)
		}
	}
}

func checkWalkthrough(t *testing.T, res []ran, varlib string, objs []gen.Object, records int, principal string) {
	everyCommandOK(t, res)
	// The server has stopped with the shell: its directory answers now.
	ext := strings.TrimSpace(mustTrawl(t, varlib, "connector", "external-id", "--tenant", "acme"))
	if got := strings.TrimSpace(ranBy(t, res, "trawl connector external-id").stdout); got != ext {
		t.Errorf("the walkthrough's external-id printed %q; the server's is %q", got, ext)
	}
	var trust awspolicy.Document
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(varlib))), "trust.json"))
	if err != nil || json.Unmarshal(raw, &trust) != nil || len(trust.Statement) == 0 {
		t.Fatalf("trust.json: %v\n%s", err, raw)
	}
	if st := trust.Statement[0]; st.Principal["AWS"] != principal || st.Condition["StringEquals"]["sts:ExternalId"][0] != ext {
		t.Errorf("trust.json names %v with external ID %v, want %s and %s", st.Principal, st.Condition, principal, ext)
	}
	if out := ranBy(t, res, "trawl connector test").stdout; !strings.Contains(out, "Success") || !strings.Contains(out, "2 accounts") || !strings.Contains(out, "2 regions") {
		t.Errorf("connector test should pass over 2 accounts and 2 regions:\n%s", out)
	}
	if n := count(t, varlib, "connector:prod-trail"); n != records {
		t.Errorf("the walkthrough collected %d records, the organization trail holds %d", n, records)
	}
	want := min(consoleLoginsOutside10(t, objs), 100)
	rows := strings.Split(strings.TrimSpace(ranBy(t, res, "trawl search --from -7d").stdout), "\n")
	if want == 0 || len(rows)-1 != want {
		t.Errorf("the walkthrough's search printed %d records, the trail holds %d such sign-ins (want > 0)", len(rows)-1, want)
	}
}

func checkDetections(t *testing.T, res []ran, varlib string) {
	everyCommandOK(t, res)
	var alerts []map[string]any
	out := mustTrawl(t, varlib, "alerts", "--since", "-24h", "--level", "high", "--format", "json")
	if err := json.Unmarshal([]byte(out), &alerts); err != nil {
		t.Fatalf("alerts --format json: %v\n%s", err, out)
	}
	rows := strings.Split(strings.TrimSpace(ranBy(t, res, "trawl alerts").stdout), "\n")
	if len(alerts) == 0 || len(rows)-1 != len(alerts) {
		t.Errorf("the Detections block's alerts printed %d rows; the server holds %d high alerts (want > 0):\n%s", len(rows)-1, len(alerts), strings.Join(rows, "\n"))
	}
	rules := mustTrawl(t, varlib, "rules", "list", "--tenant", "acme")
	if !strings.Contains(rules, "acme-trail-selectors") {
		t.Errorf("the README's rule is not listed:\n%s", rules)
	}
}

// readmeDocsRules adds each Sigma rule docs/detections.md shows (its yaml
// blocks) through a running server, as its text says they are added.
func readmeDocsRules(t *testing.T) {
	data := t.TempDir()
	serveAPI(t, data, "--no-schedule")
	n := 0
	for _, b := range readmeBlocks(t, "../../docs/detections.md") {
		if !strings.HasPrefix(b.text, "title:") {
			continue
		}
		f := filepath.Join(t.TempDir(), "rule.yml")
		if err := os.WriteFile(f, []byte(b.text), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := trawl(t, data, nil, "rules", "add", f, "--tenant", "acme"); r.code != 0 {
			t.Errorf("docs/detections.md:%d: the example rule is refused: %s%s", b.line, r.stdout, r.stderr)
		}
		n++
	}
	if n == 0 {
		t.Error("docs/detections.md shows no rule (a yaml block starting with title:): the test reads the wrong file")
	}
}
