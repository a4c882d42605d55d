package lake

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/interflow"
)

// TestLeasesFence: a partition has one holder at a time; an expired lease
// is taken over with a higher epoch; the old holder can neither renew nor
// commit (its batch's segments are not registered and its checkpoint does
// not move), while the new holder commits; a released lease is free at
// once. Runs on both catalogs (TRAWL_TEST_CATALOG=postgres).
func TestLeasesFence(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	a, b := l.Leases("node-a", 200*time.Millisecond), l.Leases("node-b", time.Minute)
	got, err := a.Claim(ctx, "c1", []string{"p1", "p2"})
	if err != nil || len(got) != 2 || got["p1"].Epoch != 1 {
		t.Fatalf("a claims %+v %v", got, err)
	}
	if other, err := b.Claim(ctx, "c1", []string{"p1"}); err != nil || len(other) != 0 {
		t.Fatalf("b took a live lease: %+v %v", other, err)
	}
	if again, err := a.Claim(ctx, "c1", []string{"p1"}); err != nil || again["p1"].Epoch != 1 {
		t.Fatalf("a re-claims its own lease: %+v %v", again, err)
	}
	time.Sleep(300 * time.Millisecond)
	taken, err := b.Claim(ctx, "c1", []string{"p1"})
	if err != nil || taken["p1"].Epoch != 2 || taken["p1"].Holder != b.Holder() {
		t.Fatalf("b takes the expired lease: %+v %v", taken, err)
	}
	if err := a.Renew(ctx, "c1", map[string]Lease{"p1": got["p1"]}); !errors.Is(err, ErrFenced) {
		t.Errorf("a renewed a lost lease: %v", err)
	}
	commit := func(ls Lease, key string) error {
		bt := RecordsBatch("c1", ObjectState{Key: key, Version: "e", Position: 1, Done: true}, event("acme", 1, "GetObject", "10.0.0.1", ""))
		bt.Lease = &ls
		return l.Commit(ctx, bt)
	}
	if err := commit(got["p1"], "stale"); !errors.Is(err, ErrFenced) {
		t.Fatalf("a committed under a lost lease: %v", err)
	}
	if st, _, _ := l.ObjectStateOf(ctx, "c1", "stale"); st.Done {
		t.Error("the fenced commit moved a checkpoint")
	}
	if err := commit(taken["p1"], "fresh"); err != nil {
		t.Fatalf("b commits: %v", err)
	}
	n, err := l.Count(ctx, SearchRequest{Indices: []string{interflow.Events().Index}, From: base.Add(-time.Hour), To: base.Add(time.Hour)})
	if err != nil || n != 1 {
		t.Errorf("records after a fenced and a good commit: %d %v", n, err)
	}
	// Node b restarted (a new instance, b's leases still live) takes
	// them back at once with a new epoch; the old instance is fenced.
	b2 := l.Leases("node-b", time.Minute)
	back2, err := b2.Claim(ctx, "c1", []string{"p1"})
	if err != nil || back2["p1"].Epoch != 3 || back2["p1"].Holder != b2.Holder() {
		t.Fatalf("a restarted node re-claims its leases: %+v %v", back2, err)
	}
	if err := b.Renew(ctx, "c1", taken); !errors.Is(err, ErrFenced) {
		t.Errorf("the old instance of a restarted node kept its lease: %v", err)
	}
	b2.Release(ctx, "c1", back2)
	if back, err := a.Claim(ctx, "c1", []string{"p1"}); err != nil || back["p1"].Epoch != 4 {
		t.Errorf("a released lease is free at once: %+v %v", back, err)
	}
}
