package integration

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// step is one CLI command of the contract and what it must do.
type step struct {
	name  string
	args  []string
	stdin string
	code  int
	// check inspects the output; it returns a complaint or "".
	check func(out, errOut string) string
}

func contains(s ...string) func(string, string) string {
	return func(out, errOut string) string {
		for _, want := range s {
			if !strings.Contains(out+errOut, want) {
				return "output lacks " + strconv.Quote(want)
			}
		}
		return ""
	}
}

// TestCLIContract runs one table of commands twice: on a data directory
// opened directly, and through a running `trawl serve` holding it. Every
// command must behave the same in both modes, including adding and editing
// a connector with a secret, then Test and collect (the README's flow).
func TestCLIContract(t *testing.T) {
	srv := s3server.Start(t)
	objs, want := trailObjects(91, 1, 9)
	bucket(t, srv, "cli", objs)
	dir := t.TempDir()
	wrong := filepath.Join(dir, "wrong")
	right := filepath.Join(dir, "right")
	os.WriteFile(wrong, []byte("not-the-secret\n"), 0o600)
	os.WriteFile(right, []byte(srv.SecretKey+"\n"), 0o600)
	s3 := []string{"--bucket", "cli", "--access-key-id", srv.AccessKey, "--endpoint", srv.Endpoint, "--path-style", "--start", "-72h"}
	n := strconv.Itoa(len(want))
	steps := []step{
		{name: "add with a wrong secret from a file", args: append([]string{"connector", "add", "--name", "trail", "--tenant", "acme", "--subtype", "cloudtrail",
			"--prefix", "AWSLogs/" + acct + "/CloudTrail", "--secret-access-key-file", wrong}, s3...), check: contains("created connector trail")},
		{name: "test reports the wrong secret", args: []string{"connector", "test", "trail"}, code: 1, check: contains("401", "SignatureDoesNotMatch")},
		{name: "show masks the secret", args: []string{"connector", "show", "trail"}, check: func(out, _ string) string {
			var st map[string]any
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				return "show is not JSON: " + out
			}
			if st["connector"].(map[string]any)["secret_access_key"] != "********" {
				return "secret not masked"
			}
			return ""
		}},
		{name: "edit with the right secret from a file", args: []string{"connector", "edit", "trail", "--secret-access-key-file", right}, check: contains("updated connector trail")},
		{name: "test passes with the new secret", args: []string{"connector", "test", "trail"}, check: contains("Success")},
		{name: "collect stores every record", args: []string{"collect", "--once", "trail"}, check: contains(" " + n + " ")},
		{name: "count", args: []string{"search", "--count", "--from", "-30d"}, check: func(out, _ string) string {
			if strings.TrimSpace(out) != n {
				return "count " + strings.TrimSpace(out) + ", want " + n
			}
			return ""
		}},
		{name: "csv export of every record", args: []string{"search", "--format", "csv", "--from", "-30d"}, check: func(out, _ string) string {
			recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				return "not CSV: " + err.Error()
			}
			if fmt.Sprint(len(recs)-1) != n || recs[0][0] != "id" || strings.Count(out, "\r\n") != len(recs) {
				return fmt.Sprintf("%d records (want %s), header %v", len(recs)-1, n, recs[0][:3])
			}
			return ""
		}},
		{name: "a second collect adds nothing", args: []string{"collect", "--once", "trail"}},
		{name: "count again", args: []string{"search", "--count", "--from", "-30d"}, check: func(out, _ string) string {
			if strings.TrimSpace(out) != n {
				return "count " + strings.TrimSpace(out) + ", want " + n
			}
			return ""
		}},
		{name: "edit keeps the secret when none is given", args: []string{"connector", "edit", "trail", "--prefix", "AWSLogs/" + acct}},
		{name: "test after an edit without a secret", args: []string{"connector", "test", "trail"}, check: contains("Success")},
		{name: "add with the secret on stdin", args: append([]string{"connector", "add", "--name", "stdin", "--tenant", "beta", "--subtype", "cloudtrail",
			"--prefix", "AWSLogs/" + acct + "/CloudTrail", "--secret-access-key-stdin"}, s3...), stdin: srv.SecretKey + "\n"},
		{name: "test of the stdin connector", args: []string{"connector", "test", "stdin"}, check: contains("Success")},
		{name: "list", args: []string{"connector", "list"}, check: contains("trail", "stdin", "acme", "beta")},
		{name: "disable", args: []string{"connector", "disable", "stdin"}},
		{name: "list shows it disabled", args: []string{"connector", "list", "--json"}, check: func(out, _ string) string {
			var list []map[string]any
			if err := json.Unmarshal([]byte(out), &list); err != nil {
				return "list --json: " + err.Error()
			}
			for _, c := range list {
				if c["name"] == "stdin" && c["enabled"] != false {
					return "stdin still enabled"
				}
			}
			return ""
		}},
		{name: "enable", args: []string{"connector", "enable", "stdin"}},
		{name: "bad flag value exits 2", args: []string{"search", "--format", "yaml"}, code: 2},
		{name: "unknown connector", args: []string{"connector", "show", "nope"}, code: 1, check: contains("no connector named")},
		{name: "bad query names its position", args: []string{"search", "event_name:("}, code: 1, check: contains("position")},
		{name: "bad value names its position", args: []string{"search", "dstport:abc"}, code: 1, check: contains("position 0", "number")},
		{name: "renaming is refused", args: []string{"connector", "edit", "trail", "--tenant", "acme", "--name", "renamed"}, code: 1, check: contains("fixed at creation")},
		{name: "a filter search rejects is refused", args: []string{"connector", "edit", "trail", "--filter", "drop:bytes:abc"}, code: 1, check: contains("bytes is a number")},
		{name: "policy of a keys connector: permissions only", args: []string{"connector", "policy", "trail"}, check: func(out, _ string) string {
			var p struct {
				Permissions struct {
					Statement []struct{ Action, Sid string }
				} `json:"permissions_policy"`
				Trust *json.RawMessage `json:"trust_policy"`
			}
			if err := json.Unmarshal([]byte(out), &p); err != nil {
				return "policy is not JSON: " + err.Error()
			}
			if len(p.Permissions.Statement) != 4 || p.Permissions.Statement[0].Action != "s3:ListBucket" || p.Permissions.Statement[3].Action != "cloudtrail:ListPublicKeys" || p.Trust != nil {
				return "unexpected policy"
			}
			return ""
		}},
		{name: "trust part of a keys connector is refused", args: []string{"connector", "policy", "trail", "--part", "trust"}, code: 1, check: contains("only a role", "access key", "--part permissions")},
		{name: "external ID of a tenant", args: []string{"connector", "external-id", "--tenant", "acme"}, check: contains("trawl-")},
		{name: "external ID needs a tenant", args: []string{"connector", "external-id"}, code: 1, check: contains("tenant")},
		{name: "add a role connector", args: []string{"connector", "add", "--name", "viarole", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "cli",
			"--prefix", "AWSLogs/" + acct + "/CloudTrail", "--role-arn", "arn:aws:iam::123456789012:role/TrawlLogReader"}, check: contains("external ID trawl-")},
		{name: "its trust policy carries the external ID", args: []string{"connector", "policy", "viarole", "--part", "trust", "--principal", "arn:aws:iam::111122223333:role/trawl"},
			check: contains("sts:ExternalId", "trawl-", "arn:aws:iam::111122223333:role/trawl")},
		{name: "delete the role connector", args: []string{"connector", "delete", "viarole"}},
		{name: "quarantine list", args: []string{"quarantine", "list"}},
		{name: "token create", args: []string{"token", "create", "--tenant", "acme", "--name", "ci"}, check: contains("trawl_")},
		{name: "delete", args: []string{"connector", "delete", "stdin"}, check: contains("deleted connector stdin")},
		{name: "records stay after delete", args: []string{"search", "--count", "--from", "-30d"}, check: func(out, _ string) string {
			if strings.TrimSpace(out) != n {
				return "count " + strings.TrimSpace(out) + ", want " + n
			}
			return ""
		}},
	}
	for _, mode := range []string{"direct", "server"} {
		t.Run(mode, func(t *testing.T) {
			data := t.TempDir()
			if mode == "server" {
				stop := startServe(t, data, "--no-schedule")
				defer stop()
			}
			for _, s := range steps {
				r := runStdin(t, data, s.stdin, s.args...)
				if r.code != s.code {
					t.Fatalf("%s: `trawl %s` exited %d, want %d\nstdout: %s\nstderr: %s", s.name, strings.Join(s.args, " "), r.code, s.code, r.stdout, r.stderr)
				}
				if s.check != nil {
					if msg := s.check(r.stdout, r.stderr); msg != "" {
						t.Fatalf("%s: `trawl %s`: %s\nstdout: %s\nstderr: %s", s.name, strings.Join(s.args, " "), msg, r.stdout, r.stderr)
					}
				}
				if strings.Contains(r.stdout+r.stderr, srv.SecretKey) {
					t.Fatalf("%s: the secret access key was printed", s.name)
				}
			}
			if mode == "server" {
				// The commands went through the server: it holds the lock.
				if _, err := os.Stat(filepath.Join(data, "server.json")); err != nil {
					t.Fatal("no server.json: the server did not hold the directory")
				}
			}
		})
	}
}

// runStdin runs the binary with standard input.
func runStdin(t *testing.T, dataDir, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, trawlBin, args...)
	cmd.Env = append(os.Environ(), dataEnv(t, dataDir)...)
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(t, cmd)
}

// TestMasterKeyFile: a master key kept outside the data directory is
// created 0600 there, and none in the data directory. (collect sets a
// directory up; connector list, which used to here, no longer creates one.)
func TestMasterKeyFile(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	other := t.TempDir()
	mustTrawl(t, other, "collect", "--once", "--master-key-file", keyFile)
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("master key file: %v %v", err, fi)
	}
	if _, err := os.Stat(filepath.Join(other, "master.key")); err == nil {
		t.Error("a master key was created in the data directory although --master-key-file was given")
	}
}
