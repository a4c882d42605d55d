package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestCLIContract: the scripted surface of the CLI: secret from stdin,
// exit codes, masked secrets, edits that keep General fields.
func TestCLIContract(t *testing.T) {
	srv := s3server.Start(t)
	objs, want := trailObjects(91, 1, 9)
	bucket(t, srv, "cli", objs)
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, trawlBin, "connector", "add", "--name", "stdin", "--tenant", "acme", "--subtype", "cloudtrail",
		"--bucket", "cli", "--prefix", "AWSLogs/"+acct+"/CloudTrail", "--access-key-id", srv.AccessKey, "--secret-access-key-stdin",
		"--endpoint", srv.Endpoint, "--path-style", "--start", "-72h")
	cmd.Env = append(os.Environ(), "TRAWL_DATA_DIR="+data)
	cmd.Stdin = strings.NewReader(srv.SecretKey + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("add with --secret-access-key-stdin: %v\n%s", err, out.String())
	}
	mustTrawl(t, data, "collect", "--once", "stdin")
	if n := count(t, data); n != len(want) {
		t.Errorf("count %d, want %d", n, len(want))
	}
	show := mustTrawl(t, data, "connector", "show", "stdin")
	var st map[string]any
	if err := json.Unmarshal([]byte(show), &st); err != nil {
		t.Fatalf("show is not JSON: %s", show)
	}
	if st["connector"].(map[string]any)["secret_access_key"] != "********" || strings.Contains(show, srv.SecretKey) {
		t.Errorf("show: secret not masked")
	}
	if r := trawl(t, data, nil, "search", "--format", "yaml"); r.code != 2 {
		t.Errorf("bad flag value: exit %d, want 2", r.code)
	}
	if r := trawl(t, data, nil, "connector", "show", "nope"); r.code != 1 || !strings.Contains(r.stderr, "no connector named") {
		t.Errorf("unknown connector: exit %d %q", r.code, r.stderr)
	}
	if r := trawl(t, data, nil, "search", "event_name:("); r.code != 1 || !strings.Contains(r.stderr, "position") {
		t.Errorf("bad query: exit %d %q", r.code, r.stderr)
	}
	if r := trawl(t, data, nil, "connector", "edit", "stdin", "--tenant", "acme", "--name", "renamed"); r.code != 1 || !strings.Contains(r.stderr, "fixed at creation") {
		t.Errorf("renaming: exit %d %q", r.code, r.stderr)
	}
	mustTrawl(t, data, "connector", "edit", "stdin", "--prefix", "AWSLogs/"+acct)
	if r := trawl(t, data, nil, "connector", "test", "stdin"); r.code != 0 || !strings.Contains(r.stdout, "Success") {
		t.Errorf("test after edit (secret kept): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A master key kept outside the data directory is created 0600.
	keyFile := filepath.Join(t.TempDir(), "key")
	other := t.TempDir()
	mustTrawl(t, other, "connector", "list", "--master-key-file", keyFile)
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("master key file: %v %v", err, fi)
	}
	if _, err := os.Stat(filepath.Join(other, "master.key")); err == nil {
		t.Error("a master key was created in the data directory although --master-key-file was given")
	}
}
