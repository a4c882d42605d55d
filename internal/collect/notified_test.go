package collect_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/trawlhq/trawl/internal/collect"
)

// TestRunObjectsThenPolling: objects a notification named are collected,
// those outside the connector or gone are said so, and polling afterwards
// (and a redelivered notification) collects each object exactly once.
func TestRunObjectsThenPolling(t *testing.T) {
	objs := trail(10, 20)
	c, b, l := setup(t, objs)
	ctx := context.Background()
	keys := []string{objs[0].Key, objs[1].Key, objs[2].Key, objs[3].Key, objs[4].Key, objs[4].Key,
		"elsewhere/x.json.gz", "AWSLogs/123456789012/CloudTrail/us-east-1/2020/01/01/gone.json.gz",
		"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2020/01/01/d.json.gz",
		"AWSLogs/123456789012/CloudTrail/../../999999999999/CloudTrail/us-east-1/2020/01/01/x.json.gz"}
	st, out, err := collect.RunObjects(ctx, c, b, l, collect.Options{}, keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys[:5] {
		if out[k].Outcome != collect.OutcomeCollected {
			t.Errorf("%s: %+v, want collected", k, out[k])
		}
	}
	want := map[string]collect.Outcome{keys[6]: collect.OutcomeOutside, keys[7]: collect.OutcomeGone, keys[8]: collect.OutcomeOutside, keys[9]: collect.OutcomeOutside}
	for k, w := range want {
		if out[k].Outcome != w || out[k].Reason == "" {
			t.Errorf("%s: %+v, want %s with a reason", k, out[k], w)
		}
	}
	if st.Records != 100 || total(t, l) != 100 {
		t.Fatalf("notified run stored %d records (lake %d), want 100", st.Records, total(t, l))
	}
	if _, err := collect.Run(ctx, c, b, l, collect.Options{}); err != nil {
		t.Fatal(err)
	}
	if n := total(t, l); n != 200 {
		t.Fatalf("after polling: %d records, want 200", n)
	}
	all := make([]string, len(objs))
	for i, o := range objs {
		all[i] = o.Key
	}
	st, out, err = collect.RunObjects(ctx, c, b, l, collect.Options{}, all)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range all {
		if out[k].Outcome != collect.OutcomeCollected {
			t.Errorf("redelivered %s: %+v, want collected (already)", k, out[k])
		}
	}
	if st.Records != 0 || total(t, l) != 200 {
		t.Fatalf("redelivery stored %d records (lake %d), want 0 (200)", st.Records, total(t, l))
	}
}

// TestClaimsKeepConcurrentRunsApart: a polling run and notified runs of
// one connector at once in one process, over the same objects, store each
// record once.
func TestClaimsKeepConcurrentRunsApart(t *testing.T) {
	objs := trail(24, 50)
	c, b, l := setup(t, objs)
	ctx := context.Background()
	claims := collect.NewClaims()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	wg.Go(func() {
		if _, err := collect.Run(ctx, c, b, l, collect.Options{Claims: claims}); err != nil {
			errs <- err
		}
	})
	for r := 0; r < 3; r++ {
		wg.Go(func() {
			keys := make([]string, 0, len(objs))
			for i := range objs {
				keys = append(keys, objs[(i*7+r*5)%len(objs)].Key)
			}
			if _, _, err := collect.RunObjects(ctx, c, b, l, collect.Options{Claims: claims}, keys); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Whatever was deferred is collected by the next run.
	if _, err := collect.Run(ctx, c, b, l, collect.Options{Claims: claims}); err != nil {
		t.Fatal(err)
	}
	if n := total(t, l); n != 24*50 {
		t.Fatalf("%d records, want %d", n, 24*50)
	}
}

// TestRunObjectsKeepsToRegions: a notified object in a region the
// connector does not collect is left out, as polling leaves its folder.
func TestRunObjectsKeepsToRegions(t *testing.T) {
	objs := trail(2, 5)
	c, b, l := setup(t, objs)
	c.Regions = []string{"eu-west-1"}
	_, out, err := collect.RunObjects(context.Background(), c, b, l, collect.Options{}, []string{objs[0].Key, objs[1].Key})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if out[o.Key].Outcome != collect.OutcomeOutside || !strings.Contains(out[o.Key].Reason, "us-east-1 is not in the connector's regions") {
			t.Errorf("%s: %+v, want outside for its region", o.Key, out[o.Key])
		}
	}
	if n := total(t, l); n != 0 {
		t.Fatalf("%d records stored from a region the connector does not collect", n)
	}
}
