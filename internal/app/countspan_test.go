package app

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/detect"
	"github.com/trawlhq/trawl/internal/interflow"
)

// TestCountSpanIsPerWindow: a count rule evaluated over many closed
// windows in one aggregation raises exactly the alerts each window's own
// evaluation raises: a group passes in a window by that window's records
// alone, never by the span's (an address with 13 failures spread over
// three windows raises nothing), and each alert has its window's count
// and ids.
func TestCountSpanIsPerWindow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clk := &fixedClock{}
	f := newTrailFixture(t, ctx, clk, Options{})
	a, c, day, root := f.a, f.c, f.day, f.root
	for i, burst := range []struct {
		at time.Duration
		n  int
		ip string
	}{
		{8 * time.Hour, 7, "198.51.100.1"},                 // [08:00, 08:10): 7, an alert
		{8*time.Hour + 12*time.Minute, 3, "198.51.100.1"},  // 3 in [08:10, 08:20)
		{8*time.Hour + 21*time.Minute, 3, "198.51.100.1"},  // 3 in [08:20, 08:30)
		{9*time.Hour + 5*time.Minute, 6, "198.51.100.2"},   // 5 in [09:00, 09:10), 1 after
		{9*time.Hour + 40*time.Minute, 20, "198.51.100.3"}, // 10 in each of two windows
	} {
		at := day.Add(burst.at)
		f.put(t, fmt.Sprintf("123456789012_CloudTrail_us-east-1_%s_%d.json.gz", at.Format("20060102T1504Z"), i), failedSignIns(at, burst.n, burst.ip), at.Add(5*time.Minute))
	}
	if res, err := a.RunConnector(ctx, root, c.ID, collect.Options{}); err != nil || res.Stats.Records != 39 {
		t.Fatalf("collect: %+v %v", res, err)
	}
	// The reference: each window evaluated alone, as the schedule does
	// when the span's aggregation fails.
	rules, _, _, err := a.tenantRules(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var rule *detect.Rule
	for _, r := range rules {
		if r.ID == "trawl-ct-015" {
			rule = r
		}
	}
	key := func(al catalog.Alert) string {
		ids := slices.Sorted(slices.Values(al.Records))
		return fmt.Sprintf("%s %s %d %v %s", al.WindowStart.Format("15:04"), al.Group, al.Count, ids, al.Query)
	}
	var want []string
	for w := day.Add(8 * time.Hour); w.Before(day.Add(10 * time.Hour)); w = w.Add(rule.Timeframe) {
		als, err := a.evaluateWindow(ctx, "acme", rule, interflow.Events(), w, w.Add(rule.Timeframe))
		if err != nil {
			t.Fatal(err)
		}
		for _, al := range als {
			want = append(want, key(al))
		}
	}
	got, err := a.evaluateCountSpan(ctx, "acme", rule, interflow.Events(), day.Add(8*time.Hour), day.Add(10*time.Hour), rule.Timeframe)
	if err != nil {
		t.Fatal(err)
	}
	var gotKeys []string
	for _, al := range got {
		gotKeys = append(gotKeys, key(al))
	}
	if len(want) != 3 || !slices.Equal(slices.Sorted(slices.Values(gotKeys)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("the span's alerts:\n%v\nwant each window's (3: 08:00 .1, 09:40 and 09:50 .3):\n%v", gotKeys, want)
	}
	// And through the schedule, by the clock.
	clk.set(day.Add(10*time.Hour + 30*time.Minute))
	if _, err := a.EvaluateRules(ctx, root); err != nil {
		t.Fatal(err)
	}
	stored, err := a.Alerts(ctx, root, AlertFilter{RuleID: "trawl-ct-015", Since: day})
	if err != nil {
		t.Fatal(err)
	}
	var storedKeys []string
	for _, al := range stored {
		storedKeys = append(storedKeys, key(catalog.Alert{WindowStart: al.WindowStart, Group: al.Group, Count: al.Count, Records: al.Records, Query: al.Query}))
	}
	if !slices.Equal(slices.Sorted(slices.Values(storedKeys)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("stored alerts:\n%v\nwant:\n%v", storedKeys, want)
	}
}
