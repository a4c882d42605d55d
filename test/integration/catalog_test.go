package integration

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/testutil/pgserver"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestPostgresCatalog: `trawl serve --catalog postgres://…` keeps the
// catalog in PostgreSQL: the CLI through the server adds, collects and
// counts; after a restart everything is still there; the CLI opening the
// directory itself needs the same --catalog (without it the directory is
// refused, never swept). `trawl catalog migrate --to` moves an embedded
// catalog's connectors, checkpoints and segments over, and a collect
// afterwards stores nothing twice.
func TestPostgresCatalog(t *testing.T) {
	pg := pgserver.Start(t)
	srv := s3server.Start(t)
	objs, want := trailObjects(71, 1, 6)
	bucket(t, srv, "pgcat", objs)
	n := strconv.Itoa(len(want))
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(srv.SecretKey+"\n"), 0o600)
	add := []string{"connector", "add", "--name", "trail", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "pgcat",
		"--prefix", "AWSLogs/" + acct + "/CloudTrail", "--access-key-id", srv.AccessKey, "--secret-access-key-file", secret,
		"--endpoint", srv.Endpoint, "--path-style", "--start", "-72h"}
	count := func(data string, extra ...string) string {
		t.Helper()
		return strings.TrimSpace(mustTrawl(t, data, append([]string{"search", "--count", "--from", "-30d"}, extra...)...))
	}

	t.Run("serve", func(t *testing.T) {
		data := t.TempDir()
		url := pg.Database(t)
		stop := startServe(t, data, "--catalog", url)
		mustTrawl(t, data, add...)
		if out := mustTrawl(t, data, "collect", "--once", "trail"); !strings.Contains(out, " "+n+" ") {
			t.Fatalf("collect: %s", out)
		}
		if got := count(data); got != n {
			t.Fatalf("count through the server %s, want %s", got, n)
		}
		stop()
		if _, err := os.Stat(filepath.Join(data, "trawl.db")); err == nil {
			t.Error("an embedded catalog file was written beside the PostgreSQL catalog")
		}
		if got := count(data, "--catalog", url); got != n {
			t.Fatalf("count on the directory with --catalog %s, want %s", got, n)
		}
		if out := mustTrawl(t, data, "collect", "--catalog", url, "--once", "trail"); !strings.Contains(out, " 0 ") {
			t.Errorf("a second collect stored records again: %s", out)
		}
		r := trawl(t, data, nil, "search", "--count", "--from", "-30d")
		if r.code == 0 || !strings.Contains(r.stderr, "belongs to catalog") {
			t.Fatalf("without --catalog the directory opened: %d %s %s", r.code, r.stdout, r.stderr)
		}
		if got := count(data, "--catalog", url); got != n {
			t.Fatalf("after a refused open: count %s, want %s (segments swept?)", got, n)
		}
		stop = startServe(t, data, "--catalog", url)
		defer stop()
		if got := count(data); got != n {
			t.Fatalf("after a restart: count %s, want %s", got, n)
		}
	})

	t.Run("migrate", func(t *testing.T) {
		data := t.TempDir()
		embedded := []string{"TRAWL_CATALOG="} // even under TRAWL_TEST_CATALOG=postgres
		for _, args := range [][]string{add, {"collect", "--once", "trail"}} {
			if r := trawl(t, data, embedded, args...); r.code != 0 {
				t.Fatalf("trawl %v: %s", args, r.stderr)
			}
		}
		if r := trawl(t, data, embedded, "search", "--count", "--from", "-30d"); strings.TrimSpace(r.stdout) != n {
			t.Fatalf("embedded: count %s, want %s (%s)", r.stdout, n, r.stderr)
		}
		url := pg.Database(t)
		r := trawl(t, data, embedded, "catalog", "migrate", "--to", url, "--format", "json")
		out := r.stdout
		if r.code != 0 {
			t.Fatalf("migrate: %s", r.stderr)
		}
		var rep struct {
			Tables map[string]int64 `json:"tables"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Tables["connectors"] != 1 || rep.Tables["objects"] == 0 || rep.Tables["segments"] == 0 || rep.Tables["meta"] == 0 {
			t.Fatalf("migrate reported %s (%v)", out, err)
		}
		if got := count(data, "--catalog", url); got != n {
			t.Fatalf("after migrating: count %s, want %s", got, n)
		}
		if out := mustTrawl(t, data, "collect", "--catalog", url, "--once", "trail"); !strings.Contains(out, " 0 ") {
			t.Errorf("a collect after migrating stored records again: %s", out)
		}
		if got := count(data, "--catalog", url); got != n {
			t.Fatalf("after migrating and collecting: count %s, want %s", got, n)
		}
		r = trawl(t, data, embedded, "catalog", "migrate", "--to", pg.Database(t))
		if r.code == 0 || !strings.Contains(r.stderr, "no embedded catalog") {
			t.Errorf("a second migrate: %d %s", r.code, r.stderr)
		}
	})
}

// sharedLake is what the nodes of a test cluster share: a PostgreSQL
// catalog, an S3 lake (on the versitygw that also holds the logs) and the
// master key (it seals the connectors' secrets). env points trawl at them;
// add is the `connector add` of a CloudTrail connector over the logs.
type sharedLake struct {
	srv     *s3server.Server
	url     string
	key     string
	records int
	env     []string
	add     []string
}

func newSharedLake(t *testing.T, seed uint64, objects, records int, extraEnv ...string) *sharedLake {
	t.Helper()
	pg := pgserver.Start(t)
	srv := s3server.Start(t)
	objs, want := trailObjects(seed, objects, records)
	bucket(t, srv, "logs", objs)
	bucket(t, srv, "lakebucket", nil)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(srv.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &sharedLake{srv: srv, url: pg.Database(t), key: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)), records: len(want)}
	c.env = append([]string{"TRAWL_MASTER_KEY=" + c.key, "AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"TRAWL_CATALOG=" + c.url, "TRAWL_LAKE=s3://lakebucket/segments", "TRAWL_LAKE_ENDPOINT=" + srv.Endpoint, "TRAWL_LAKE_PATH_STYLE=1"}, extraEnv...)
	c.add = []string{"connector", "add", "--name", "trail", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "logs",
		"--prefix", "AWSLogs/" + acct + "/CloudTrail", "--access-key-id", srv.AccessKey, "--secret-access-key-file", secret,
		"--endpoint", srv.Endpoint, "--path-style", "--start", "-72h"}
	return c
}

// TestS3Lake: with --lake s3://BUCKET/PREFIX (versitygw here, the
// operator's credentials from the environment) segments are put in the
// bucket before they are registered; a second data directory on the same
// PostgreSQL catalog and lake finds every record (fetching the segments
// it lacks), as does the first after its cache is deleted; a directory
// opened without the lake its catalog names is refused.
func TestS3Lake(t *testing.T) {
	c := newSharedLake(t, 73, 1, 6)
	srv, n := c.srv, strconv.Itoa(c.records)
	run := func(data string, args ...string) string {
		t.Helper()
		r := trawl(t, data, c.env, args...)
		if r.code != 0 {
			t.Fatalf("trawl %v exited %d\n%s\n%s", args, r.code, r.stdout, r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}
	a, b := t.TempDir(), t.TempDir()
	run(a, c.add...)
	run(a, "collect", "--once", "trail")
	if got := run(a, "search", "--count", "--from", "-30d"); got != n {
		t.Fatalf("node a: count %s, want %s", got, n)
	}
	var inBucket []string
	filepath.WalkDir(filepath.Join(srv.Dir, "lakebucket", "segments"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".parquet") || strings.HasSuffix(p, ".tokens")) {
			inBucket = append(inBucket, p)
		}
		return nil
	})
	if len(inBucket) < 2 {
		t.Fatalf("the lake bucket holds %v", inBucket)
	}
	if got := run(b, "search", "--count", "--from", "-30d"); got != n {
		t.Fatalf("node b, same catalog and lake: count %s, want %s", got, n)
	}
	if err := os.RemoveAll(filepath.Join(a, "lake")); err != nil {
		t.Fatal(err)
	}
	if got := run(a, "search", "--count", "--from", "-30d"); got != n {
		t.Fatalf("node a without its cache: count %s, want %s", got, n)
	}
	if out := run(b, "collect", "--once", "trail"); !strings.Contains(out, " 0 ") {
		t.Errorf("node b collected again what node a committed: %s", out)
	}
	r := trawl(t, b, []string{"TRAWL_MASTER_KEY=" + c.key, "TRAWL_CATALOG=" + c.url}, "search", "--count", "--from", "-30d")
	if r.code == 0 || !strings.Contains(r.stderr, "s3://lakebucket/segments") {
		t.Errorf("a directory opened without the catalog's lake: %d %s %s", r.code, r.stdout, r.stderr)
	}
	checkS3Catalogs(t, c, a)
	// The tables in the bucket read as on disk: icebird, through their
	// metadata in S3, finds every record once.
	got, err := newS3IcebergReader(t, srv, "lakebucket", "segments").read(t, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if g := got["acme"]; g.Rows != c.records || g.Distinct != c.records {
		t.Errorf("icebird over the S3 lake: %d rows, %d distinct ids; trawl search counts %d", g.Rows, g.Distinct, c.records)
	}
}

// checkS3Catalogs: with an S3 lake the REST catalog loads a table's
// metadata from the bucket (node a's cache is gone) and names it by its
// s3:// URI, as the JDBC catalog's row does.
func checkS3Catalogs(t *testing.T, c *sharedLake, data string) {
	t.Helper()
	for _, kv := range c.env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cmd, s := startServeCmd(t, data)
	defer cmd.Process.Kill()
	code, body := s.call(s.root, "GET", "/iceberg/v1/namespaces/acme/tables/aws_events", nil)
	loc, _ := body["metadata-location"].(string)
	meta, _ := body["metadata"].(map[string]any)
	if code != 200 || !strings.HasPrefix(loc, "s3://lakebucket/segments/index=aws_events/tenant=acme/metadata/v") || meta["location"] != "s3://lakebucket/segments/index=aws_events/tenant=acme" {
		t.Fatalf("load table from an S3 lake: %d %q %v", code, loc, meta["location"])
	}
	db, err := sql.Open("pgx", c.url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var row string
	if err := db.QueryRow(`SELECT metadata_location FROM iceberg.iceberg_tables WHERE catalog_name = 'trawl' AND table_namespace = 'acme' AND table_name = 'aws_events'`).Scan(&row); err != nil || row != loc {
		t.Errorf("the JDBC catalog's row: %q %v; the REST catalog loads %q", row, err, loc)
	}
}

// TestLeaseFencing: two nodes (data directories) share a PostgreSQL
// catalog and an S3 lake. Node A collects a connector; paused (SIGSTOP)
// mid-run past its partition leases, it loses them to node B, which
// collects the rest; resumed, A commits nothing more and says why. Every
// record is stored exactly once.
func TestLeaseFencing(t *testing.T) {
	c := newSharedLake(t, 77, 30, 200, "TRAWL_LEASE_TTL=1s", "TRAWL_BATCH_SIZE=50")
	env, n := c.env, c.records
	a, b := t.TempDir(), t.TempDir()
	count := func(data string) int {
		t.Helper()
		r := trawl(t, data, env, "search", "--count", "--from", "-30d")
		if r.code != 0 {
			t.Fatalf("count: %s", r.stderr)
		}
		v, _ := strconv.Atoi(strings.TrimSpace(r.stdout))
		return v
	}
	if r := trawl(t, a, env, c.add...); r.code != 0 {
		t.Fatal(r.stderr)
	}
	cmd := exec.Command(trawlBin, "collect", "--once", "--node", "node-a", "trail")
	cmd.Env = append(append(os.Environ(), dataEnv(t, a)...), env...)
	var aErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &aErr, &aErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for count(b) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("node a committed nothing within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	mid := count(b)
	if mid >= n {
		t.Fatalf("node a finished (%d of %d records) before it was paused: the test needs a longer run", mid, n)
	}
	time.Sleep(2500 * time.Millisecond) // past a's leases (1 s)
	if r := trawl(t, b, env, "collect", "--once", "--node", "node-b", "trail"); r.code != 0 {
		t.Fatalf("node b: %d %s", r.code, r.stderr)
	}
	if got := count(b); got != n {
		t.Fatalf("after node b took over: %d records, want %d", got, n)
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err == nil || !strings.Contains(aErr.String(), "lease") {
			t.Errorf("node a resumed after losing its leases: exit %v, %s", err, aErr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("node a did not stop after losing its leases")
	}
	if got := count(b); got != n {
		t.Fatalf("after node a resumed: %d records, want %d (paused %d)", got, n, mid)
	}
}

// TestNodesShareAConnector: two `trawl serve` nodes share a catalog, a lake
// and a connector that runs on any node (--run-on '*'). One is killed
// (kill -9) mid-collection; the other takes its expired partition leases
// over within a few lease periods and finishes: every record exactly once.
func TestNodesShareAConnector(t *testing.T) {
	c := newSharedLake(t, 79, 30, 200, "TRAWL_LEASE_TTL=2s", "TRAWL_BATCH_SIZE=50")
	n := c.records
	// trawl serve and the CLI take them from this process's environment.
	for _, kv := range c.env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	a, b := t.TempDir(), t.TempDir()
	mustTrawl(t, a, append(c.add, "--run-on", "*")...)
	nodeA, _ := startServeCmd(t, a, "--node", "node-a", "--tick", "100ms")
	stopB := startServe(t, b, "--node", "node-b", "--tick", "100ms")
	defer stopB()
	count := func() int {
		t.Helper()
		v, _ := strconv.Atoi(strings.TrimSpace(mustTrawl(t, b, "search", "--count", "--from", "-30d")))
		return v
	}
	deadline := time.Now().Add(60 * time.Second)
	for count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no node committed anything within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	nodeA.Process.Kill()
	killed := time.Now()
	if mid := count(); mid >= n {
		t.Fatalf("everything (%d records) was collected before node a was killed: the test needs a longer run", mid)
	}
	for got := count(); got != n; got = count() {
		if got > n {
			t.Fatalf("%d records, want %d: duplicates", got, n)
		}
		if time.Since(killed) > 90*time.Second {
			t.Fatalf("node b did not finish after node a was killed: %d of %d records", got, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("all %d records %.1f s after node a was killed (leases of 2 s)", n, time.Since(killed).Seconds())
	time.Sleep(3 * time.Second) // a later run of node b adds nothing
	if got := count(); got != n {
		t.Fatalf("later: %d records, want %d", got, n)
	}
}
