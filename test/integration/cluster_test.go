package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the test reads the shared catalog's leases and runs

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/pgserver"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// clusterPlan sizes TestCluster: a short run in `make test`, the issue's
// full one under TRAWL_CLUSTER=full (`make test-cluster`).
type clusterPlan struct {
	nodes, connectors int
	objects, records  int // per partition (2 accounts x 2 regions) and wave; per object
	waves             int // uploads after the nodes started (objects still arriving)
	kills             int // kill -9 of a node mid-run, each followed by a restart
	pause             bool
	ttl               time.Duration
	batch             string // records per commit; small, so kills land mid-run
}

// cluster is a running test cluster: nodes on one PostgreSQL catalog and
// one S3 lake, their data directories, and the catalog for inspection.
type cluster struct {
	t       *testing.T
	plan    clusterPlan
	srv     *s3server.Server
	db      *sql.DB
	dirs    []string
	cmds    []*exec.Cmd
	flags   []string       // the cluster's: catalog, lake, master key
	want    map[string]int // records per connector
	waved   int            // waves uploaded after the nodes started
	uploads int
	started time.Time // when the first node was started
}

// TestCluster: several `trawl serve` nodes share a PostgreSQL catalog, an
// S3 lake and connectors of several tenants that run on every node. While
// objects keep arriving, nodes are killed (kill -9) mid-run and restarted,
// and (full plan) one is paused past its leases and resumed. Then:
//   - a search through each node gives the exact count of every connector,
//     and no record id appears twice;
//   - every node stored records (the runs say which node made them);
//   - a dead node's partitions were taken over by others within two lease
//     periods of the kill;
//   - the paused node's run was fenced: it ended failed with 409.
func TestCluster(t *testing.T) {
	plan := clusterPlan{nodes: 3, connectors: 3, objects: 3, records: 100, waves: 1, kills: 1, ttl: 2 * time.Second, batch: "50"}
	if os.Getenv("TRAWL_CLUSTER") == "full" {
		plan = clusterPlan{nodes: 3, connectors: 6, objects: 6, records: 100, waves: 3, kills: 2, pause: true, ttl: 2 * time.Second, batch: "50"}
	}
	c := startCluster(t, plan)

	c.waitFor(60*time.Second, "the first records", func() bool { return c.count(0, "") > 0 })
	for k := 0; k < plan.kills; k++ {
		c.upload()
		victim := 1 + k%(plan.nodes-1)
		// The first kill's node stays down until others took its
		// partitions over; later ones restart at once (a restarted node
		// takes its own leases back, with a new epoch).
		took := c.kill(victim, k == 0)
		if k == 0 {
			t.Logf("node-%d killed: its %d live partitions were taken over by other nodes in %.1f s (leases of %s)",
				victim, took.n, took.d.Seconds(), plan.ttl)
			if took.n > 0 && took.d > 2*plan.ttl {
				t.Errorf("takeover took %.1f s, more than two lease periods (%s)", took.d.Seconds(), 2*plan.ttl)
			}
		}
		c.restart(victim)
	}
	if plan.pause {
		c.upload()
		c.pauseNode(0)
	}
	for c.waved < plan.waves {
		c.upload()
	}
	var missing []string
	c.waitFor(3*time.Minute, "every connector's records", func() bool {
		missing = missing[:0]
		for name, n := range c.want {
			if got := c.count(0, name); got != n {
				missing = append(missing, fmt.Sprintf("%s: %d of %d", name, got, n))
			}
		}
		if len(missing) > 0 {
			t.Logf("waiting: %v", missing)
		}
		return len(missing) == 0
	})
	c.check()
}

func startCluster(t *testing.T, plan clusterPlan) *cluster {
	pg := pgserver.Start(t)
	srv := s3server.Start(t)
	bucket(t, srv, "lakebucket", nil)
	url := pg.Database(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// The contract's flags on every command; only the lake's credentials
	// (and test timings) come from the environment.
	keyFile := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"TRAWL_LEASE_TTL=" + plan.ttl.String(), "TRAWL_BATCH_SIZE=" + plan.batch, "TRAWL_CATALOG=", "TRAWL_LAKE="} {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	flags := []string{"--catalog", url, "--lake", "s3://lakebucket/segments", "--lake-endpoint", srv.Endpoint, "--lake-path-style",
		"--master-key-file", keyFile}
	c := &cluster{t: t, plan: plan, srv: srv, db: db, want: map[string]int{}, flags: flags}
	c.upload()
	c.waved = 0 // the first upload is the history, not a wave of arrivals
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(srv.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < plan.nodes; i++ {
		c.dirs = append(c.dirs, t.TempDir())
	}
	for i := 0; i < plan.connectors; i++ {
		mustTrawl(t, c.dirs[0], append([]string{"connector", "add", "--name", connName(i), "--tenant", fmt.Sprintf("tenant%d", i%3), "--subtype", "cloudtrail",
			"--bucket", "logs", "--prefix", connName(i) + "/AWSLogs", "--access-key-id", srv.AccessKey, "--secret-access-key-file", secret,
			"--endpoint", srv.Endpoint, "--path-style", "--start", "-72h", "--run-on", "*", "--interval", "10s"}, flags...)...)
	}
	c.cmds = make([]*exec.Cmd, plan.nodes)
	c.started = time.Now()
	for i := range c.cmds {
		c.restart(i)
	}
	return c
}

func connName(i int) string { return fmt.Sprintf("c%d", i) }

// upload puts one more batch of objects under every connector's prefix:
// 2 accounts x 2 regions, plan.objects each.
func (c *cluster) upload() {
	c.t.Helper()
	var objs []gen.Object
	at := time.Now().UTC().Add(-3*time.Hour + time.Duration(c.uploads)*10*time.Minute)
	c.uploads++
	for i := 0; i < c.plan.connectors; i++ {
		part := gen.CloudTrail(gen.CloudTrailSpec{Seed: uint64(1000*c.uploads + i), Prefix: connName(i), Accounts: []string{"111111111111", "222222222222"},
			Regions: []string{"us-east-1", "eu-west-1"}, Start: at, Span: 9 * time.Minute, Objects: c.plan.objects, RecordsPerObj: c.plan.records})
		for _, o := range part {
			c.want[connName(i)] += o.Records
		}
		objs = append(objs, part...)
	}
	bucket(c.t, c.srv, "logs", objs)
	c.waved++
}

func (c *cluster) restart(i int) {
	c.t.Helper()
	cmd, _ := startServeCmd(c.t, c.dirs[i], append([]string{"--node", fmt.Sprintf("node-%d", i), "--tick", "100ms"}, c.flags...)...)
	c.cmds[i] = cmd
}

// count is the records of a connector ("" for all) that a search through
// node i finds.
func (c *cluster) count(i int, connector string) int {
	c.t.Helper()
	args := []string{"search", "--count", "--from", "-30d"}
	if connector != "" {
		args = append(args, "connector:"+connector)
	}
	v, err := strconv.Atoi(strings.TrimSpace(mustTrawl(c.t, c.dirs[i], args...)))
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

func (c *cluster) waitFor(d time.Duration, what string, ok func() bool) {
	c.t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}

type lease struct {
	holder  string
	epoch   int64
	expires time.Time
}

// leases reads the shared catalog's leases, by connector and partition.
func (c *cluster) leases() map[[2]string]lease {
	c.t.Helper()
	rows, err := c.db.Query(`SELECT connector_id, part, holder, epoch, expires_at FROM leases`)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	out := map[[2]string]lease{}
	for rows.Next() {
		var id, part string
		var l lease
		if err := rows.Scan(&id, &part, &l.holder, &l.epoch, &l.expires); err != nil {
			c.t.Fatal(err)
		}
		out[[2]string{id, part}] = l
	}
	return out
}

// liveLeases are node i's unexpired partition leases.
func (c *cluster) liveLeases(i int) map[[2]string]lease {
	out := map[[2]string]lease{}
	now := time.Now().UTC()
	for k, l := range c.leases() {
		if strings.HasPrefix(l.holder, fmt.Sprintf("node-%d/", i)) && l.expires.After(now) && !strings.HasPrefix(k[1], "#") {
			out[k] = l
		}
	}
	return out
}

type takeover struct {
	n int
	d time.Duration
}

// kill kills node i (kill -9) while it holds leases mid-run; with wait, it
// then waits until every partition it held is held under a newer epoch by
// another node, and says how long that took.
func (c *cluster) kill(i int, wait bool) takeover {
	c.t.Helper()
	var held map[[2]string]lease
	c.waitFor(60*time.Second, fmt.Sprintf("node-%d to hold a lease", i), func() bool {
		held = c.liveLeases(i)
		return len(held) > 0
	})
	c.cmds[i].Process.Kill()
	c.cmds[i].Wait()
	killed := time.Now()
	if !wait {
		return takeover{}
	}
	c.waitFor(30*c.plan.ttl, fmt.Sprintf("the partitions of node-%d to be taken over", i), func() bool {
		now := c.leases()
		for k, l := range held {
			if got := now[k]; got.epoch <= l.epoch || strings.HasPrefix(got.holder, fmt.Sprintf("node-%d/", i)) {
				return false
			}
		}
		return true
	})
	return takeover{n: len(held), d: time.Since(killed)}
}

// pauseNode stops node i (SIGSTOP) during a run in which it holds leases,
// until other nodes took them over, then resumes it: the run must end
// fenced (409), having committed nothing under the lost leases.
func (c *cluster) pauseNode(i int) {
	c.t.Helper()
	var held map[[2]string]lease
	var runID string
	c.waitFor(60*time.Second, fmt.Sprintf("node-%d to run holding leases", i), func() bool {
		held = c.liveLeases(i)
		if len(held) == 0 {
			return false
		}
		err := c.db.QueryRow(`SELECT id FROM runs WHERE node = $1 AND result = 'running' ORDER BY started_at DESC LIMIT 1`, fmt.Sprintf("node-%d", i)).Scan(&runID)
		return err == nil
	})
	if err := c.cmds[i].Process.Signal(syscall.SIGSTOP); err != nil {
		c.t.Fatal(err)
	}
	c.waitFor(30*c.plan.ttl, fmt.Sprintf("the leases of paused node-%d to be taken over", i), func() bool {
		now := c.leases()
		for k, l := range held {
			if now[k].epoch <= l.epoch {
				return false
			}
		}
		return true
	})
	if err := c.cmds[i].Process.Signal(syscall.SIGCONT); err != nil {
		c.t.Fatal(err)
	}
	var result string
	var status sql.NullInt64
	var reason sql.NullString
	c.waitFor(60*time.Second, "the paused run to end", func() bool {
		err := c.db.QueryRow(`SELECT result, status, reason FROM runs WHERE id = $1`, runID).Scan(&result, &status, &reason)
		return err == nil && result != "running"
	})
	c.t.Logf("node-%d paused past its leases and resumed: its run ended %s %d (%s)", i, result, status.Int64, reason.String)
	if result != "failed" || status.Int64 != 409 {
		c.t.Errorf("the paused node's run ended %s %d (%s), want failed 409 (fenced)", result, status.Int64, reason.String)
	}
}

// check runs the acceptance checks once every record is in.
func (c *cluster) check() {
	c.t.Helper()
	for i := range c.dirs {
		for name, n := range c.want {
			if got := c.count(i, name); got != n {
				c.t.Errorf("a search through node-%d finds %d records of %s, want %d", i, got, name, n)
			}
		}
	}
	// Every id, streamed through the last node (csv export has no limit).
	total, dups := exportedIDs(c.t, c.dirs[len(c.dirs)-1])
	for _, id := range dups {
		c.t.Errorf("record %s stored twice", id)
	}
	want := 0
	for _, n := range c.want {
		want += n
	}
	if total != want {
		c.t.Errorf("%d records exported, want %d", total, want)
	}
	rows, err := c.db.QueryContext(context.Background(), `SELECT node, count(*), sum(records),
 coalesce(sum(extract(epoch FROM ended_at - started_at)), 0) FROM runs GROUP BY node ORDER BY node`)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	stored := map[string]int64{}
	for rows.Next() {
		var node string
		var runs, records int64
		var busy float64
		if err := rows.Scan(&node, &runs, &records, &busy); err != nil {
			c.t.Fatal(err)
		}
		c.t.Logf("%s: %d runs, %d records, %.0f records/s while running", node, runs, records, float64(records)/max(busy, 0.001))
		stored[node] = records
	}
	for i := range c.dirs {
		if stored[fmt.Sprintf("node-%d", i)] == 0 {
			c.t.Errorf("node-%d stored nothing: the work was not shared", i)
		}
	}
	var nodes []struct {
		Name string `json:"name"`
		Live bool   `json:"live"`
	}
	if err := json.Unmarshal([]byte(mustTrawl(c.t, c.dirs[0], "nodes", "--format", "json")), &nodes); err != nil {
		c.t.Fatal(err)
	}
	live := 0
	for _, n := range nodes {
		if n.Live {
			live++
		}
	}
	if live != len(c.dirs) {
		c.t.Errorf("trawl nodes shows %d live nodes, want %d: %+v", live, len(c.dirs), nodes)
	}
}

// TestPerfCluster (TRAWL_PERF=1): records per second per node, and for the
// cluster, with default commit sizes: 3 nodes share 6 connectors of 3
// tenants (4 partitions each) holding 480,000 CloudTrail records, no
// faults. Every node, the S3 server and PostgreSQL share this machine's
// cores, so the figures say how the work spreads, not what separate
// machines would reach.
func TestPerfCluster(t *testing.T) {
	if os.Getenv("TRAWL_PERF") == "" {
		t.Skip("a measurement: TRAWL_PERF=1")
	}
	plan := clusterPlan{nodes: 3, connectors: 6, objects: 20, records: 1000, ttl: 10 * time.Second, batch: "0"}
	c := startCluster(t, plan)
	c.waitFor(10*time.Minute, "every connector's records", func() bool {
		for name, n := range c.want {
			if c.count(0, name) != n {
				return false
			}
		}
		return true
	})
	total := 0
	for _, n := range c.want {
		total += n
	}
	took := time.Since(c.started)
	t.Logf("%d records in %.1f s from the first node's start: %.0f records/s for the cluster", total, took.Seconds(), float64(total)/took.Seconds())
	c.check()
}

// exportedIDs exports every record's id through a node (csv export has no
// limit) and returns how many there are and those seen twice.
func exportedIDs(t *testing.T, dir string) (int, []string) {
	t.Helper()
	out := mustTrawl(t, dir, "search", "--format", "csv", "--columns", "id", "--from", "-30d")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v", err)
	}
	seen := map[string]bool{}
	total := 0
	var dups []string
	for _, rec := range recs {
		id := strings.TrimSpace(rec[0])
		if id == "id" || id == "" {
			continue
		}
		if seen[id] {
			dups = append(dups, id)
		}
		seen[id] = true
		total++
	}
	return total, dups
}
