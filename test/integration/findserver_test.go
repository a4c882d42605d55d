package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// trawlIn runs the binary in dir as a user in a fresh shell would: no
// TRAWL_DATA_DIR unless env gives one, and a login file of the test's.
func trawlIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, trawlBin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRAWL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TRAWL_CONFIG="+filepath.Join(dir, "login.json"))
	cmd.Env = append(cmd.Env, env...)
	return runCmd(t, cmd)
}

// TestCLIFindsItsServer: the README's walkthrough starts `trawl serve
// --data-dir DIR &` and runs the next commands at once. A command given no
// directory and no server says so instead of making ./trawl-data (whose
// external ID is not the server's); one run while the server starts waits
// for it; a server-only flag given through the server is refused; and
// `trawl login` (or TRAWL_SERVER) points later commands at a server.
func TestCLIFindsItsServer(t *testing.T) {
	home := t.TempDir()
	r := trawlIn(t, home, nil, "connector", "external-id", "--tenant", "acme")
	if r.code != 1 || !strings.Contains(r.stderr, "--data-dir") || !strings.Contains(r.stderr, "TRAWL_DATA_DIR") || !strings.Contains(r.stderr, "--server") {
		t.Errorf("no directory and no server: exit %d, want 1 with a message naming --data-dir, TRAWL_DATA_DIR and --server:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(home, "trawl-data")); err == nil {
		t.Fatal("a command that is not set-up created ./trawl-data")
	}

	// The walkthrough pasted in one go: serve in the background, the next
	// command at once, while the server is still starting.
	data := filepath.Join(home, "srv")
	serve := exec.Command(trawlBin, "serve", "--addr", freeAddr(t), "--no-schedule", "--aws-principal", "arn:aws:iam::111122223333:role/trawl")
	serve.Env = append(os.Environ(), dataEnv(t, data)...)
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Signal(syscall.SIGTERM); serve.Wait() })
	dirEnv := dataEnv(t, data)
	early := trawlIn(t, home, dirEnv, "connector", "external-id", "--tenant", "acme")
	if early.code != 0 || !strings.HasPrefix(strings.TrimSpace(early.stdout), "trawl-") {
		t.Fatalf("external-id while the server starts: exit %d\n%s%s", early.code, early.stdout, early.stderr)
	}
	s := servedAt(t, data)
	code, body := s.call(s.root, "GET", "/api/v1/external-id?tenant=acme", nil)
	if code != 200 || body["external_id"] != strings.TrimSpace(early.stdout) {
		t.Errorf("the CLI printed %q, the server's external ID is %v (%d)", strings.TrimSpace(early.stdout), body["external_id"], code)
	}

	// A server-side setting through the server: refused, saying where it goes.
	r = trawlIn(t, home, dirEnv, "connector", "list", "--deny-private")
	if r.code != 2 || !strings.Contains(r.stderr, "--deny-private") || !strings.Contains(r.stderr, "trawl serve") {
		t.Errorf("--deny-private through a server: exit %d, want 2 naming trawl serve:\n%s", r.code, r.stderr)
	}

	// login: later commands with no --data-dir go to that server.
	tok := filepath.Join(home, "root.token")
	if err := os.WriteFile(tok, []byte(s.root), 0o600); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	if r := trawlIn(t, elsewhere, nil, "login", "--server", s.base, "--token-file", tok); r.code != 0 {
		t.Fatalf("login: %d %s", r.code, r.stderr)
	}
	if fi, err := os.Stat(filepath.Join(elsewhere, "login.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("login file: %v %v, want mode 0600", err, fi)
	}
	r = trawlIn(t, elsewhere, nil, "connector", "external-id", "--tenant", "acme")
	if r.code != 0 || strings.TrimSpace(r.stdout) != body["external_id"] {
		t.Errorf("after login: exit %d %q, want the server's %v\n%s", r.code, r.stdout, body["external_id"], r.stderr)
	}
	if r := trawlIn(t, elsewhere, nil, "logout"); r.code != 0 {
		t.Fatalf("logout: %d %s", r.code, r.stderr)
	}
	if r := trawlIn(t, elsewhere, nil, "connector", "list"); r.code != 1 {
		t.Errorf("after logout a command found a server or a directory: exit %d %s", r.code, r.stdout)
	}
	r = trawlIn(t, elsewhere, []string{"TRAWL_SERVER=" + s.base, "TRAWL_TOKEN=" + s.root}, "connector", "external-id", "--tenant", "acme")
	if r.code != 0 || strings.TrimSpace(r.stdout) != body["external_id"] {
		t.Errorf("TRAWL_SERVER: exit %d %q, want the server's %v\n%s", r.code, r.stdout, body["external_id"], r.stderr)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "trawl-data")); err == nil {
		t.Error("./trawl-data was created")
	}
}
