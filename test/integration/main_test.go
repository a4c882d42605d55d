// Package integration runs the trawl binary against versitygw, a real
// S3-compatible server on loopback, uploading objects through the AWS SDK.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/pgserver"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

var trawlBin string

// With TRAWL_TEST_CATALOG=postgres every data directory a test uses keeps
// its catalog in a database of its own on a throw-away PostgreSQL cluster:
// the suite then checks the PostgreSQL catalog end to end.
var pgCatalogs struct {
	sync.Mutex
	srv   *pgserver.Server
	byDir map[string]string
}

// dataEnv is the environment that points trawl at a data directory (and,
// under TRAWL_TEST_CATALOG=postgres, at its catalog database).
func dataEnv(t testing.TB, data string) []string {
	t.Helper()
	env := []string{"TRAWL_DATA_DIR=" + data}
	if os.Getenv("TRAWL_TEST_CATALOG") != "postgres" || os.Getenv("TRAWL_CATALOG") != "" {
		return env // (a test that sets its own catalog keeps it)
	}
	pgCatalogs.Lock()
	defer pgCatalogs.Unlock()
	if pgCatalogs.srv == nil {
		srv, err := pgserver.New()
		if err != nil {
			t.Fatalf("TRAWL_TEST_CATALOG=postgres: %v", err)
		}
		pgCatalogs.srv, pgCatalogs.byDir = srv, map[string]string{}
	}
	dsn := pgCatalogs.byDir[data]
	if dsn == "" {
		dsn = pgCatalogs.srv.Database(t)
		pgCatalogs.byDir[data] = dsn
	}
	return append(env, "TRAWL_CATALOG="+dsn)
}

// catalogOf is the catalog URL of a data directory under
// TRAWL_TEST_CATALOG=postgres (its own database), else "" (embedded).
func catalogOf(t testing.TB, data string) string {
	t.Helper()
	for _, kv := range dataEnv(t, data) {
		if v, ok := strings.CutPrefix(kv, "TRAWL_CATALOG="); ok {
			return v
		}
	}
	return ""
}

func TestMain(m *testing.M) {
	// The README test puts this binary on PATH as stand-ins (readme_test.go).
	switch os.Getenv("TRAWL_TEST_STANDIN") {
	case "aws":
		os.Exit(awsStandIn(os.Args[1:]))
	case "wait":
		os.Exit(waitDetector())
	}
	dir, err := os.MkdirTemp("", "trawl-itest")
	if err != nil {
		panic(err)
	}
	trawlBin = filepath.Join(dir, "trawl")
	build := exec.Command("go", "build", "-o", trawlBin, "../../cmd/trawl")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build trawl:", err)
		os.Exit(1)
	}
	code := m.Run()
	if pgCatalogs.srv != nil {
		pgCatalogs.srv.Stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// trawl runs the binary with a data directory.
func trawl(t *testing.T, dataDir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, trawlBin, args...)
	cmd.Env = append(append(os.Environ(), dataEnv(t, dataDir)...), env...)
	return runCmd(t, cmd)
}

// runCmd runs a prepared trawl command and returns what it printed and its
// exit code; a command that could not run at all fails the test.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run trawl %v: %v", cmd.Args[1:], err)
	}
	return r
}

func mustTrawl(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	r := trawl(t, dataDir, nil, args...)
	if r.code != 0 {
		t.Fatalf("trawl %v exited %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// bucket creates a bucket and uploads objects through the AWS SDK.
func bucket(t *testing.T, srv *s3server.Server, name string, objs []gen.Object) {
	t.Helper()
	srv.Fill(t, name, objs)
}

func addConnector(t *testing.T, srv *s3server.Server, dataDir, name, bucketName, prefix, secret string, extra ...string) {
	t.Helper()
	sf := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(sf, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"connector", "add", "--name", name, "--tenant", "acme", "--subtype", "cloudtrail",
		"--bucket", bucketName, "--prefix", prefix, "--access-key-id", srv.AccessKey, "--secret-access-key-file", sf,
		"--endpoint", srv.Endpoint, "--path-style", "--start", "-72h"}, extra...)
	mustTrawl(t, dataDir, args...)
}

// collectRow parses `trawl collect --once` table output for a connector.
func collectRow(t *testing.T, out, name string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		t.Fatalf("collect output has no rows:\n%s", out)
	}
	head := strings.Fields(lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == name {
			m := map[string]string{}
			for i, h := range head {
				if i < len(f) {
					m[h] = f[i]
				}
			}
			return m
		}
	}
	t.Fatalf("no row for %s in:\n%s", name, out)
	return nil
}

func count(t *testing.T, dataDir string, args ...string) int {
	t.Helper()
	out := mustTrawl(t, dataDir, append([]string{"search", "--count", "--from", "-30d"}, args...)...)
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("search --count printed %q", out)
	}
	return n
}

// searchAll returns every record as JSON objects.
func searchAll(t *testing.T, dataDir string, query string) []map[string]any {
	t.Helper()
	out := mustTrawl(t, dataDir, "search", "--from", "-30d", "--limit", "10000", "--format", "ndjson", query)
	var rows []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, m)
	}
	return rows
}

// genBucket fills bucket on srv with `trawl gen` (all three sub types, for
// the test's account) and returns its manifest and a file holding the
// server's secret key, for the connectors that read it.
func genBucket(t *testing.T, srv *s3server.Server, dataDir, bucket string, args ...string) (gen.Manifest, string) {
	t.Helper()
	sf := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(sf, []byte(srv.SecretKey), 0o600); err != nil {
		t.Fatal(err)
	}
	mf := filepath.Join(t.TempDir(), "manifest.json")
	mustTrawl(t, dataDir, append([]string{"gen", "--endpoint", srv.Endpoint, "--access-key-id", srv.AccessKey, "--secret-access-key-file", sf,
		"--bucket", bucket, "--account", acct, "--manifest", mf}, args...)...)
	var m gen.Manifest
	b, err := os.ReadFile(mf)
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		t.Fatalf("manifest of trawl gen: %v", err)
	}
	return m, sf
}
