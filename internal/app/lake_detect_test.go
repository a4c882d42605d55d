package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/segment"
)

// TestDetectionQueue: every commit leaves its segments unread by the
// detector; a compaction of unread segments registers the merged one
// unread (so no record escapes the detector); MatchSegments counts per rule and window what a
// search of the same query counts; storing the same alert twice changes
// nothing, and a second batch of records adds its ids and count.
func TestDetectionQueue(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	for c := 0; c < 6; c++ {
		var recs []*interflow.Record
		for i := 0; i < 50; i++ {
			n := c*50 + i
			name := "GetObject"
			if n%25 == 0 {
				name = "StopLogging"
			}
			r := event("acme", int64(n), name, "10.0.0.1", "")
			r.SetTime(interflow.FTimestamp, base.Add(time.Duration(n)*time.Minute))
			recs = append(recs, r)
		}
		if err := l.Commit(ctx, ingest.RecordsBatch("c", ingest.ObjectState{Key: fmt.Sprint(c), Version: "e", Position: 50, Done: true}, recs...)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-l.Committed():
	default:
		t.Error("a commit did not signal the detector")
	}
	pending := func() []catalog.Pending {
		t.Helper()
		p, err := l.PendingDetection(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := pending()
	if len(p) != 1 || p[0].Index != "aws_events" || p[0].Tenant != "acme" || len(p[0].Segments) < 6 {
		t.Fatalf("pending after 6 commits: %+v", p)
	}
	st, err := l.Compact(ctx, CompactOptions{MinSegments: 2, Grace: time.Hour})
	if err != nil || st.Merges == 0 {
		t.Fatalf("compaction %+v %v", st, err)
	}
	p = pending()
	if len(p) != 1 {
		t.Fatalf("pending after compaction: %+v", p)
	}
	if n, _ := l.SegmentCount(ctx, "aws_events"); n != len(p[0].Segments) {
		t.Fatalf("%d segments, %d unread after compaction: the merged segment must be unread", n, len(p[0].Segments))
	}
	queries := []string{"event_name:StopLogging", "event_name:GetObject AND srcip:10.0.0.1", "event_name:Nothing"}
	hits, err := l.MatchSegments(ctx, segment.Pending(p[0]), queries, 5*time.Minute, 3)
	if err != nil {
		t.Fatal(err)
	}
	per := map[int]int64{}
	for _, h := range hits {
		per[h.Rule] += h.Count
		if len(h.Records) == 0 || len(h.Records) > 3 || int64(len(h.Records)) > h.Count {
			t.Errorf("hits %+v: ids", h)
		}
		if !h.WindowStart.Equal(h.WindowStart.Truncate(5 * time.Minute)) {
			t.Errorf("window %s is not aligned on five minutes", h.WindowStart)
		}
	}
	for i, q := range queries {
		n, err := l.Count(ctx, segment.SearchRequest{Query: q, From: base.Add(-time.Hour), To: base.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if per[i] != n {
			t.Errorf("%q: the detector counted %d, the search %d", q, per[i], n)
		}
	}
	if per[0] != 12 {
		t.Errorf("StopLogging: %d matches, want 12", per[0])
	}
	// Store the StopLogging alerts twice: the second changes nothing.
	var alerts []catalog.Alert
	for _, h := range hits {
		if h.Rule == 0 {
			alerts = append(alerts, catalog.Alert{Tenant: "acme", RuleID: "r", Rule: "R", Level: "high", WindowStart: h.WindowStart,
				WindowEnd: h.WindowStart.Add(5 * time.Minute), Count: h.Count, Records: h.Records, Query: queries[0]})
		}
	}
	n, err := l.DoneDetection(ctx, p[0].Segments, alerts, catalog.Coverage{})
	if err != nil || n != 12 {
		t.Fatalf("first store: %d new, %v", n, err)
	}
	if p := pending(); len(p) != 0 {
		t.Fatalf("still unread after DoneDetection: %+v", p)
	}
	if n, err := l.DoneDetection(ctx, nil, alerts, catalog.Coverage{}); err != nil || n != 0 {
		t.Fatalf("second store: %d new, %v", n, err)
	}
	stored, err := l.Alerts(ctx, catalog.AlertQuery{Since: base.Add(-time.Hour)})
	if err != nil || len(stored) != 12 {
		t.Fatalf("%d alerts stored, %v", len(stored), err)
	}
	// More records of a window: their ids join, the count grows, and the
	// alert keeps its id.
	more := alerts[0]
	more.Records, more.Count = []string{"x1", "x2"}, 3
	if _, err := l.DoneDetection(ctx, nil, []catalog.Alert{more}, catalog.Coverage{}); err != nil {
		t.Fatal(err)
	}
	stored, _ = l.Alerts(ctx, catalog.AlertQuery{Since: base.Add(-time.Hour), Limit: 100})
	for _, a := range stored {
		if a.WindowStart.Equal(more.WindowStart) {
			if a.ID != alerts[0].ID || a.Count != 3 || len(a.Records) != len(alerts[0].Records)+2 || a.Records[0] != alerts[0].Records[0] {
				t.Errorf("merged alert %+v (was %+v)", a, alerts[0])
			}
		}
	}
}
