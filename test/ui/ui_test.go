// Package ui runs the browser tests of the console: Playwright
// (playwright-core from npm) driving Debian's Chromium against `trawl serve`
// and versitygw. Screenshots go to test/ui/artifacts (not committed).
package ui

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/audit"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/query"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

const acct = "123456789012"

func TestConsoleInBrowser(t *testing.T) {
	node, err := exec.LookPath("node")
	chromium := "/usr/bin/chromium"
	_, cerr := os.Stat(chromium)
	_, merr := os.Stat("node_modules/playwright-core")
	if err != nil || cerr != nil || merr != nil {
		msg := "SKIP: browser tests need node, /usr/bin/chromium and npm ci in test/ui (scripts/test.sh installs them)"
		if os.Getenv("CI") != "" && os.Getenv("TRAWL_UI_UNAVAILABLE") == "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	srv := s3server.Start(t)
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 77, Accounts: []string{acct}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-5 * time.Hour), Span: 4 * time.Hour, Objects: 8, RecordsPerObj: 25, Attacks: true})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	digests, err := gen.SignedDigests("console-trail", objs, key)
	if err != nil {
		t.Fatal(err)
	}
	srv.Fill(t, "console-trail", append(append([]gen.Object{}, objs...), digests...))
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	os.WriteFile(keysFile, audit.KeysJSON(map[string]*rsa.PublicKey{gen.Fingerprint(&key.PublicKey): &key.PublicKey},
		time.Now().Add(-24*time.Hour), time.Now().Add(24*time.Hour)), 0o600)
	eventID := objs[3].EventIDs[7]

	bin := filepath.Join(t.TempDir(), "trawl")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/trawl").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()
	plantFailingRule(t, data)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	serve := exec.Command(bin, "serve", "--addr", addr, "--tick", "200ms", "--public-keys", keysFile)
	serve.Env = append(os.Environ(), "TRAWL_DATA_DIR="+data)
	out, _ := serve.StdoutPipe()
	serve.Stderr = os.Stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { serve.Process.Signal(os.Interrupt); serve.Wait() }()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "serving on") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	root, _ := os.ReadFile(filepath.Join(data, "root.token"))
	tok := exec.Command(bin, "token", "create", "--tenant", "other", "--name", "ui-test")
	tok.Env = append(os.Environ(), "TRAWL_DATA_DIR="+data)
	tenantTok, err := tok.Output()
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	artifacts, _ := filepath.Abs("artifacts")
	os.MkdirAll(artifacts, 0o755)
	cmd := exec.Command(node, "--test", "ui.test.mjs")
	cmd.Env = append(os.Environ(),
		"TRAWL_URL=http://"+addr, "TRAWL_TOKEN="+strings.TrimSpace(string(root)), "TRAWL_TENANT_TOKEN="+strings.TrimSpace(string(tenantTok)),
		"S3_ENDPOINT="+srv.Endpoint, "S3_KEY="+srv.AccessKey, "S3_SECRET="+srv.SecretKey, "BUCKET=console-trail",
		"PREFIX=AWSLogs/"+acct+"/CloudTrail", "EVENT_ID="+eventID, "ARTIFACTS="+artifacts, "CHROMIUM="+chromium,
		"TRAWL_BIN="+bin, "TRAWL_DATA="+data, "QUOTES="+quotePairs(t))
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = cmd.Run()
	t.Log(buf.String())
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
}

// quotePairs is query.Quote's output for values the query language reads
// specially, as JSON [value, quoted] pairs for the console's quoteValue.
func quotePairs(t *testing.T) string {
	var pairs [][2]string
	for _, v := range []string{"", "prod", "prod-trail_1.x", "10.0.0.1", `prod "x" trail`, `c:\trail`, "a b", "Get*", "a?", "/x/",
		"x:y", "::1", "(a)", "[1 TO 2]", "line\nbreak", "tab\there", "\x01", "é", "日本", "'=1", `\"`, "AND", "-x", "http://a/b"} {
		pairs = append(pairs, [2]string{v, query.Quote(v)})
	}
	b, err := json.Marshal(pairs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// plantFailingRule stores for tenant acme, as an older Trawl could, a rule
// that compiles but fails when evaluated (a regular expression DuckDB's
// RE2 refuses), for the Alerts page's "Rules that failed".
func plantFailingRule(t *testing.T, data string) {
	t.Helper()
	a, err := app.Open(context.Background(), app.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	y := "title: Engine\nid: acme-engine\nlevel: low\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  s:\n    eventName|re: '(?<x>Stop)Logging'\n  condition: s\n"
	if err := a.Lake().PutRule(context.Background(), catalog.StoredRule{Tenant: "acme", ID: "acme-engine", YAML: y, Enabled: true}); err != nil {
		t.Fatal(err)
	}
}
