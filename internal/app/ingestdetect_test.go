package app

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/segment"
)

// TestIngestDetection: the single-event rules are evaluated on each record
// as it is stored, and the commit stores their alerts: they are there when
// the run returns, before any detector pass or evaluation, with no
// segment left for the detector, and with the count, newest ids and query
// a search of the rule's hunt gives. A window that grows in a later run
// adds to its alert's count, and reopens it if it was closed.
func TestIngestDetection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newTrailFixture(t, ctx, &fixedClock{}, Options{})
	a, c, day, root := f.a, f.c, f.day, f.root
	at := day.Add(10 * time.Hour)
	per := catalog.AlertRecordIDs + 20
	run := func(name string, body []byte, want int64) {
		t.Helper()
		f.put(t, name, body, at.Add(5*time.Minute))
		res, err := a.RunConnector(ctx, root, c.ID, collect.Options{})
		if err != nil || res.Stats.Records != want || res.Stats.Matched != want {
			t.Fatalf("collect %s: %+v %v, want %d records each matched once (trawl-ct-003)", name, res, err, want)
		}
	}
	alerts := func() []Alert {
		t.Helper()
		as, err := a.Alerts(ctx, root, AlertFilter{RuleID: "trawl-ct-003", Since: day})
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	run("123456789012_CloudTrail_us-east-1_20200101T1000Z_a.json.gz", stopLoggingsEvery(at, per, time.Second), int64(per))
	if n, err := a.DetectionBacklog(ctx, root); err != nil || n != 0 {
		t.Fatalf("detection backlog %d (%v): the commit registers its segments read", n, err)
	}
	as := alerts()
	if len(as) != 1 || as[0].Count != int64(per) || !as[0].WindowStart.Equal(at) || !as[0].WindowEnd.Equal(at.Add(eventStep)) {
		t.Fatalf("alerts %+v, want one of %d records in [%s, +5m) before any detector pass", as, per, at)
	}
	// The alert's ids are the window's newest, as the detector's search
	// keeps them; its query finds exactly the window's records.
	res, err := a.lake.Search(ctx, segment.SearchRequest{Indices: []string{"aws_events"}, Tenants: []string{"acme"},
		From: as[0].WindowStart, To: as[0].WindowEnd, Query: as[0].Query, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != per {
		t.Fatalf("the alert's query finds %d records, want %d", len(res.Rows), per)
	}
	var newest []string
	for _, r := range res.Rows[:catalog.AlertRecordIDs] {
		newest = append(newest, r["id"].(string))
	}
	if got := slices.Sorted(slices.Values(as[0].Records)); !slices.Equal(got, slices.Sorted(slices.Values(newest))) {
		t.Fatalf("alert ids %v, want the window's %d newest %v", got, catalog.AlertRecordIDs, newest)
	}

	// Closed, then more of the window arrives in the next run: the count
	// adds up, and the alert is open again with a note saying so.
	closed, reason := apiv1.AlertClosed, "benign"
	if _, err := a.UpdateAlert(ctx, root, as[0].ID, AlertUpdate{Status: &closed, Reason: &reason}); err != nil {
		t.Fatal(err)
	}
	run("123456789012_CloudTrail_us-east-1_20200101T1000Z_b.json.gz", stopLoggingsEvery(at.Add(2*time.Minute), 7, time.Second), 7)
	as = alerts()
	if len(as) != 1 || as[0].Count != int64(per+7) || as[0].Status != apiv1.AlertOpen || len(as[0].Notes) == 0 ||
		!strings.Contains(as[0].Notes[len(as[0].Notes)-1].Text, "7 more") {
		t.Fatalf("alerts %+v, want one of %d records, reopened with a note of 7 more", as, per+7)
	}
	// The schedule finds the windows covered and adds nothing.
	if _, err := a.EvaluateRules(ctx, root); err != nil {
		t.Fatal(err)
	}
	if got := alerts(); len(got) != 1 || got[0].Count != int64(per+7) {
		t.Fatalf("after the schedule: %+v", got)
	}
}
