package app

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/segment"
	"github.com/trawlhq/trawl/internal/testutil/pgserver"
)

// TestLeasesFence: a partition has one holder at a time; an expired lease
// is taken over with a higher epoch; the old holder can neither renew nor
// commit (its batch's segments are not registered and its checkpoint does
// not move), while the new holder commits; a released lease is free at
// once. Leases exist only in a shared catalog: the test runs on PostgreSQL.
func TestLeasesFence(t *testing.T) {
	l := openShared(t)
	ctx := context.Background()
	a, b := l.Leases("node-a", 200*time.Millisecond), l.Leases("node-b", time.Minute)
	got, err := a.Claim(ctx, "c1", []string{"p1", "p2"}, 0)
	if err != nil || len(got) != 2 || got["p1"].Epoch != 1 {
		t.Fatalf("a claims %+v %v", got, err)
	}
	if other, err := b.Claim(ctx, "c1", []string{"p1"}, 0); err != nil || len(other) != 0 {
		t.Fatalf("b took a live lease: %+v %v", other, err)
	}
	if again, err := a.Claim(ctx, "c1", []string{"p1"}, 0); err != nil || again["p1"].Epoch != 1 {
		t.Fatalf("a re-claims its own lease: %+v %v", again, err)
	}
	time.Sleep(300 * time.Millisecond)
	taken, err := b.Claim(ctx, "c1", []string{"p1"}, 0)
	if err != nil || taken["p1"].Epoch != 2 || taken["p1"].Holder != b.Holder() {
		t.Fatalf("b takes the expired lease: %+v %v", taken, err)
	}
	if err := a.Renew(ctx, "c1", map[string]ingest.Lease{"p1": got["p1"]}); !errors.Is(err, ingest.ErrFenced) {
		t.Errorf("a renewed a lost lease: %v", err)
	}
	commit := func(ls ingest.Lease, key string) error {
		bt := ingest.RecordsBatch("c1", ingest.ObjectState{Key: key, Version: "e", Position: 1, Done: true}, event("acme", 1, "GetObject", "10.0.0.1", ""))
		bt.Lease = &ls
		return l.Commit(ctx, bt)
	}
	if err := commit(got["p1"], "stale"); !errors.Is(err, ingest.ErrFenced) {
		t.Fatalf("a committed under a lost lease: %v", err)
	}
	if st, _, _ := l.ObjectStateOf(ctx, "c1", "stale"); st.Done {
		t.Error("the fenced commit moved a checkpoint")
	}
	if err := commit(taken["p1"], "fresh"); err != nil {
		t.Fatalf("b commits: %v", err)
	}
	n, err := l.Count(ctx, segment.SearchRequest{Indices: []string{interflow.Events().Index}, From: base.Add(-time.Hour), To: base.Add(time.Hour)})
	if err != nil || n != 1 {
		t.Errorf("records after a fenced and a good commit: %d %v", n, err)
	}
	// Node b restarted (a new instance, b's leases still live) takes
	// them back at once with a new epoch; the old instance is fenced.
	b2 := l.Leases("node-b", time.Minute)
	back2, err := b2.Claim(ctx, "c1", []string{"p1"}, 0)
	if err != nil || back2["p1"].Epoch != 3 || back2["p1"].Holder != b2.Holder() {
		t.Fatalf("a restarted node re-claims its leases: %+v %v", back2, err)
	}
	if err := b.Renew(ctx, "c1", taken); !errors.Is(err, ingest.ErrFenced) {
		t.Errorf("the old instance of a restarted node kept its lease: %v", err)
	}
	b2.Release(ctx, "c1", back2)
	if back, err := a.Claim(ctx, "c1", []string{"p1"}, 0); err != nil || back["p1"].Epoch != 4 {
		t.Errorf("a released lease is free at once: %+v %v", back, err)
	}
}

// TestLeaseShares: a claim with a limit takes at most that many partitions,
// the longest-expired first (a dead node's before ones released a moment
// ago); two nodes claiming shares at once split the partitions without
// overlap; nodes that beat are counted live, and stop counting when they
// stop beating.
func TestLeaseShares(t *testing.T) {
	l := openShared(t)
	ctx := context.Background()
	parts := []string{"p1", "p2", "p3", "p4", "p5", "p6"}
	dead := l.Leases("node-dead", 100*time.Millisecond)
	if got, err := dead.Claim(ctx, "c1", []string{"p5", "p6"}, 0); err != nil || len(got) != 2 {
		t.Fatalf("dead node claims %v %v", got, err)
	}
	time.Sleep(150 * time.Millisecond) // its leases expire
	a, b := l.Leases("node-a", time.Minute), l.Leases("node-b", time.Minute)
	first, err := a.Claim(ctx, "c1", parts, 3)
	if err != nil || len(first) != 3 {
		t.Fatalf("a claims 3 of 6: %v %v", first, err)
	}
	a.Release(ctx, "c1", first)
	// Never-leased partitions and the dead node's expired ones come before
	// those a released just now.
	again, err := a.Claim(ctx, "c1", parts, 3)
	if err != nil || len(again) != 3 {
		t.Fatalf("a claims 3 again: %v %v", again, err)
	}
	for p := range again {
		if _, was := first[p]; was {
			t.Errorf("a re-took %s, released a moment ago, before partitions free for longer (%v then %v)", p, first, again)
		}
	}
	a.Release(ctx, "c1", again)

	// Two nodes claim their shares at the same moment.
	var ga, gb map[string]ingest.Lease
	var ea, eb error
	done := make(chan struct{})
	go func() { ga, ea = a.Claim(ctx, "c1", parts, 3); close(done) }()
	gb, eb = b.Claim(ctx, "c1", parts, 3)
	<-done
	if ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	for p := range ga {
		if _, both := gb[p]; both {
			t.Errorf("both nodes hold %s", p)
		}
	}
	if len(ga)+len(gb) < 3 || len(ga) > 3 || len(gb) > 3 {
		t.Errorf("shares %v and %v", ga, gb)
	}

	if err := a.Heartbeat(ctx, "127.0.0.1:1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.Heartbeat(ctx, "127.0.0.1:2", time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := a.LiveNodes(ctx, time.Minute); err != nil || n != 2 {
		t.Errorf("live nodes %d %v, want 2", n, err)
	}
	time.Sleep(60 * time.Millisecond)
	if n, err := a.LiveNodes(ctx, 50*time.Millisecond); err != nil || n != 1 {
		t.Errorf("live nodes after the others stopped beating: %d %v, want 1 (this one)", n, err)
	}
	nodes, err := l.Nodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[0].Addr == "" {
		t.Errorf("nodes %+v %v", nodes, err)
	}
}

// TestClaimSkipsLockedLeases: on PostgreSQL, a claim of a share skips a
// lease row another transaction holds (a node claiming it this moment)
// and takes the next free ones at once; a claim of every partition waits
// for that row instead (a node stalled inside a commit holds it until
// PostgreSQL ends its session) and takes it once it is let go.
func TestClaimSkipsLockedLeases(t *testing.T) {
	l, err := OpenLake(context.Background(), filepath.Join(t.TempDir(), "trawl.db"), LakeOptions{Catalog: pgserver.Start(t).Database(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	parts := []string{"p1", "p2", "p3", "p4"}
	first := l.Leases("node-a", 50*time.Millisecond)
	if got, err := first.Claim(ctx, "c1", parts, 0); err != nil || len(got) != 4 {
		t.Fatalf("first claim %v %v", got, err)
	}
	time.Sleep(80 * time.Millisecond) // every lease expires
	conn, err := l.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var holder string
	if err := conn.QueryRowContext(ctx, `SELECT holder FROM leases WHERE connector_id = ? AND part = ? FOR UPDATE`, "c1", "p2").Scan(&holder); err != nil {
		t.Fatal(err)
	}
	b := l.Leases("node-b", time.Minute)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := b.Claim(cctx, "c1", parts, 2)
	if err != nil || len(got) != 2 || got["p1"].Epoch != 2 || got["p3"].Epoch != 2 {
		t.Fatalf("share beside a locked lease: %v %v (want p1 and p3 at epoch 2, p2 skipped)", got, err)
	}
	if _, ok := got["p2"]; ok {
		t.Fatal("the claim took a lease another transaction holds")
	}
	// A claim of all waits for p2 and takes it (and p4) once let go.
	let := time.AfterFunc(300*time.Millisecond, func() { conn.ExecContext(ctx, "ROLLBACK") })
	defer let.Stop()
	start := time.Now()
	all, err := l.Leases("node-c", time.Minute).Claim(ctx, "c1", parts, 0)
	if err != nil || len(all) != 2 || all["p2"].Epoch != 2 || all["p4"].Epoch != 2 {
		t.Fatalf("claim of all beside a locked lease: %v %v (want p2 and p4 at epoch 2)", all, err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("the claim of all took p2 after %s, before its lock was let go", waited)
	}
}

// openShared opens a lake whose catalog is a fresh PostgreSQL database:
// partitions are leased only in a shared catalog.
func openShared(t *testing.T) *Lake {
	t.Helper()
	l, err := OpenLake(context.Background(), filepath.Join(t.TempDir(), "trawl.db"), LakeOptions{MemoryLimit: "256MB", Catalog: pgserver.Start(t).Database(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
