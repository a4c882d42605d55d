package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/testutil/dnsserver"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// umask022 runs trawl under the usual umask (022), as an operator's shell
// would, rather than whatever umask the test runner has.
func umask022(ctx context.Context, t *testing.T, data string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", `umask 022 && exec "$0" "$@"`, trawlBin}, args...)...)
	cmd.Env = append(os.Environ(), dataEnv(t, data)...)
	return cmd
}

// openFiles lists what under dir other users could read or enter.
func openFiles(t *testing.T, dir string) []string {
	t.Helper()
	var open []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed while walking (a WAL checkpointed)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			open = append(open, fmt.Sprintf("%s %04o", p, fi.Mode().Perm()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return open
}

// TestDataDirectoryIsPrivate: in an operator-made 0755 directory, under
// umask 022, every file and folder Trawl creates (catalog, its WAL while
// a server writes, segments, server.json, root.token) is its user's
// alone, and serve warns with the chmod to run.
func TestDataDirectoryIsPrivate(t *testing.T) {
	srv := s3server.Start(t)
	objs, want := trailObjects(7, 2, 50)
	bucket(t, srv, "private", objs)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sf := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(sf, []byte(srv.SecretKey), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"connector", "add", "--name", "p", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "private", "--prefix", "AWSLogs/" + acct + "/CloudTrail",
			"--access-key-id", srv.AccessKey, "--secret-access-key-file", sf, "--endpoint", srv.Endpoint, "--path-style", "--start", "-72h"},
		{"collect", "--once"},
	} {
		if out, err := umask022(ctx, t, data, args...).CombinedOutput(); err != nil {
			t.Fatalf("trawl %v: %v\n%s", args, err, out)
		}
	}
	if n := count(t, data); n != len(want) {
		t.Fatalf("%d records collected, want %d", n, len(want))
	}
	cmd := umask022(ctx, t, data, "serve", "--addr", "127.0.0.1:0", "--no-schedule")
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var errText strings.Builder
	var mu sync.Mutex
	go func() {
		b, _ := io.ReadAll(stderr)
		mu.Lock()
		errText.Write(b)
		mu.Unlock()
	}()
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "serving on") {
				close(serving)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-serving:
	case <-time.After(30 * time.Second):
		t.Fatal("trawl serve did not start")
	}
	s := servedAt(t, data)
	// Writes through the server: DuckDB keeps them in trawl.db.wal.
	for i := range 3 {
		s.token(fmt.Sprintf("t%d", i))
	}
	files := []string{"server.json", "root.token", "master.key", "lake"}
	if catalogOf(t, data) == "" {
		// The embedded catalog, and its WAL, which DuckDB creates on the
		// first write after opening and keeps until it checkpoints (at
		// 256 MB) or closes.
		files = append(files, "trawl.db", "trawl.db.wal")
	}
	if open := openFiles(t, data); len(open) > 0 {
		t.Errorf("files other users can read or enter:\n%s", strings.Join(open, "\n"))
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	mu.Lock()
	warned := errText.String()
	mu.Unlock()
	if !strings.Contains(warned, "chmod 700 "+data) || !strings.Contains(warned, "other users") {
		t.Errorf("serve did not warn about the 0755 data directory; stderr:\n%s", warned)
	}
}

// TestCatalogPasswordNeverShown: a catalog password, in the URL's user,
// in a query parameter or in a key=value string, appears in no error and
// in no help text.
func TestCatalogPasswordNeverShown(t *testing.T) {
	const pw = "S3cretPw0rd"
	for _, cat := range []string{
		"postgres://u@127.0.0.1:1/db?password=" + pw,
		"postgres://u:" + pw + "@127.0.0.1:1/db",
		"postgresql://u@127.0.0.1:1/db?sslmode=disable&password=" + pw + "&connect_timeout=2",
		"mysql://u:" + pw + "@127.0.0.1:1/db",
		"host=127.0.0.1 port=1 password=" + pw,
	} {
		data := t.TempDir()
		for _, args := range [][]string{{"serve", "--addr", "127.0.0.1:0", "--catalog", cat}, {"connector", "list", "--catalog", cat}, {"catalog", "migrate", "--to", cat}} {
			r := trawl(t, data, nil, args...)
			if r.code == 0 || strings.Contains(r.stdout+r.stderr, pw) || strings.TrimSpace(r.stderr) == "" {
				t.Errorf("trawl %s %q: exit %d, stderr:\n%s", args[0], cat, r.code, r.stderr)
			}
		}
		// The help shows TRAWL_CATALOG as --catalog's default, masked.
		r := trawl(t, data, []string{"TRAWL_CATALOG=" + cat}, "help", "flags")
		if strings.Contains(r.stdout+r.stderr, pw) || !strings.Contains(r.stdout+r.stderr, "xxxxx") {
			t.Errorf("trawl help flags with TRAWL_CATALOG=%q:\n%s%s", cat, r.stdout, r.stderr)
		}
	}
}

// TestTenantFacingRefusals: what a tenant is told names the problem and
// the fix but not the server's internals (its DNS server), and a trust
// policy for a wildcard principal is never written.
func TestTenantFacingRefusals(t *testing.T) {
	dns := dnsserver.Start(t)
	data := t.TempDir()
	s := serveAPI(t, data, "--no-schedule", "--dns-server", dns.Addr)
	tok := s.token("acme")
	code, r := s.call(tok, "PUT", "/api/v1/webhook", map[string]any{"tenant": "acme", "url": "https://hooks.nowhere.test/alerts"})
	msg := fmt.Sprint(r)
	if code != 400 || !strings.Contains(msg, "hooks.nowhere.test does not resolve") {
		t.Errorf("unresolvable webhook: %d %v", code, r)
	}
	if strings.Contains(msg, "lookup") || strings.Contains(msg, ":53") || strings.Contains(msg, " on ") {
		t.Errorf("the webhook error shows the server's resolver: %s", msg)
	}
	role := map[string]any{"name": "r", "sub_type": "cloudtrail", "bucket": "acme-trail", "prefix": "AWSLogs/" + acct + "/CloudTrail",
		"credentials": "role", "role_arn": "arn:aws:iam::123456789012:role/TrawlLogReader"}
	for _, p := range []string{"*", "arn:aws:iam::*:root", "arn:aws:iam::111122223333:role/*"} {
		body := map[string]any{"principal": p}
		for k, v := range role {
			body[k] = v
		}
		for _, who := range []string{tok, s.root} {
			code, r := s.call(who, "POST", "/api/v1/policy", body)
			if code != 400 || !strings.Contains(fmt.Sprint(r), "principal") || !strings.Contains(fmt.Sprint(r), "wildcard") {
				t.Errorf("policy for principal %q: %d %v, want 400 naming the wildcard principal", p, code, r)
			}
		}
	}
	body := map[string]any{"principal": "arn:aws:iam::111122223333:role/trawl"}
	for k, v := range role {
		body[k] = v
	}
	if code, r := s.call(tok, "POST", "/api/v1/policy", body); code != 200 || !strings.Contains(fmt.Sprint(r), "arn:aws:iam::111122223333:role/trawl") {
		t.Errorf("policy for a role principal: %d %v", code, r)
	}
	// The CLI's --principal, through the server.
	mustTrawl(t, data, "connector", "add", "--name", "viarole", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "acme-trail",
		"--prefix", "AWSLogs/"+acct+"/CloudTrail", "--role-arn", "arn:aws:iam::123456789012:role/TrawlLogReader")
	res := trawl(t, data, nil, "connector", "policy", "viarole", "--part", "trust", "--principal", "*")
	if res.code == 0 || strings.Contains(res.stdout, `"AWS"`) || !strings.Contains(res.stderr, "wildcard") {
		t.Errorf("connector policy --principal '*': exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
}
