package integration

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/faultproxy"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestCrashKill9: `trawl collect --once` is killed with SIGKILL at seeded
// random moments and rerun until it finishes on its own. The lake then holds
// exactly the uploaded records: none missing, none twice. At least one kill
// must land mid-object (checked from the checkpoints), so the test cannot
// pass vacuously. TRAWL_CRASH_ROUNDS sets the number of kills (default 4;
// make test-reliability uses 20), TRAWL_CRASH_SEED the seed.
func TestCrashKill9(t *testing.T) {
	kills := envInt("TRAWL_CRASH_ROUNDS", 4)
	seed := uint64(envInt("TRAWL_CRASH_SEED", 1))
	srv := s3server.Start(t)
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: seed, Accounts: []string{acct}, Regions: []string{"us-east-1", "eu-west-1"},
		Start: time.Now().UTC().Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: 3 + 3*kills, RecordsPerObj: 3000, PadBytes: 500})
	want := 0
	for _, o := range objs {
		want += o.Records
	}
	bucket(t, srv, "crash-logs", objs)
	data := t.TempDir()
	// Bodies arrive at a paced rate so a run lasts seconds on any machine
	// and the seeded kills land inside objects.
	proxy, err := faultproxy.Start(srv.Endpoint, faultproxy.Faults{Rate: 512 << 10}, seed)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	addConnector(t, srv, data, "crashy", "crash-logs", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey, "--endpoint", proxy.URL)
	var list []connector.Connector
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "connector", "list", "--json")), &list); err != nil || len(list) != 1 {
		t.Fatalf("connector list: %v", err)
	}
	id := list[0].ID

	r := rand.New(rand.NewPCG(seed, 77))
	killed, midObject, rounds := 0, 0, 0
	for done := false; !done; rounds++ {
		if rounds > kills+20 {
			t.Fatalf("collection did not finish after %d rounds", rounds)
		}
		cmd := exec.Command(trawlBin, "collect", "--once")
		cmd.Env = append(os.Environ(), append(dataEnv(t, data), "TRAWL_BATCH_SIZE=700")...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if killed < kills {
			delay := time.Duration(200+r.IntN(1300)) * time.Millisecond
			select {
			case err := <-exited:
				done = err == nil
				continue
			case <-time.After(delay):
			}
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			killed++
			if partial := partialObjects(t, data, id); partial > 0 {
				midObject++
			}
			continue
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("final collect failed: %v", err)
			}
			done = true
		case <-time.After(4 * time.Minute):
			cmd.Process.Kill()
			t.Fatal("final collect did not finish")
		}
	}
	if midObject == 0 {
		t.Fatalf("none of %d kills landed mid-object; the test proved nothing (change TRAWL_CRASH_SEED)", killed)
	}
	l, err := app.OpenLake(context.Background(), filepath.Join(data, "trawl.db"), app.LakeOptions{Catalog: catalogOf(t, data)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	it, err := l.CheckIntegrity(context.Background(), "aws_events")
	if err != nil {
		t.Fatal(err)
	}
	missing := want - int(it.DistinctEventIDs)
	dups := it.Rows - it.DistinctIDs
	t.Logf("rounds %d, kills %d, kills mid-object %d, records expected %d, found %d, duplicates %d, missing %d",
		rounds, killed, midObject, want, it.Rows, dups, missing)
	if it.Rows != int64(want) || it.DistinctIDs != int64(want) || it.DistinctEventIDs != int64(want) {
		t.Fatalf("lake holds %d rows (%d distinct ids, %d distinct event IDs), want exactly %d", it.Rows, it.DistinctIDs, it.DistinctEventIDs, want)
	}
}

// partialObjects counts objects whose checkpoint is part-way: some records
// committed, the object not finished.
func partialObjects(t *testing.T, data, connectorID string) int {
	t.Helper()
	l, err := app.OpenLake(context.Background(), filepath.Join(data, "trawl.db"), app.LakeOptions{Catalog: catalogOf(t, data)})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer l.Close()
	st, err := l.ObjectStates(context.Background(), connectorID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range st {
		if !s.Done && s.Position > 0 {
			n++
		}
	}
	return n
}
