package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/segment"
)

// stopLoggings is a CloudTrail object of n StopLogging calls a minute
// apart from at (each raises the built-in trawl-ct-003).
func stopLoggings(at time.Time, n int) []byte { return stopLoggingsEvery(at, n, time.Minute) }

// stopLoggingsEvery is stopLoggings every gap.
func stopLoggingsEvery(at time.Time, n int, gap time.Duration) []byte {
	var recs []map[string]any
	for i := range n {
		recs = append(recs, map[string]any{"eventVersion": "1.08", "eventTime": at.Add(time.Duration(i) * gap).Format(time.RFC3339),
			"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
			"eventID": fmt.Sprintf("stop-%d-%d", at.Unix(), i), "eventType": "AwsApiCall", "recipientAccountId": "123456789012",
			"userIdentity": map[string]any{"type": "IAMUser", "userName": "mallory", "accountId": "123456789012"}})
	}
	raw, _ := json.Marshal(map[string]any{"Records": recs})
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(raw)
	zw.Close()
	return b.Bytes()
}

// trailFixture is an App on the clock clk with a CloudTrail connector of
// tenant acme over a bucket folder, and the folder of the day's objects
// (two days ago) to write them in.
type trailFixture struct {
	a    *App
	c    *connector.Connector
	day  time.Time
	dir  string
	root Scope
}

func newTrailFixture(t *testing.T, ctx context.Context, clk *fixedClock, opt Options) *trailFixture {
	t.Helper()
	src := t.TempDir()
	f := &trailFixture{day: time.Now().UTC().Truncate(24 * time.Hour).Add(-48 * time.Hour), root: RootScope("test")}
	f.dir = filepath.Join(src, "trail", "AWSLogs", "123456789012", "CloudTrail", "us-east-1", f.day.Format("2006/01/02"))
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	clk.set(f.day.Add(10*time.Hour + 30*time.Minute))
	opt.DataDir, opt.MasterKey, opt.Clock = t.TempDir(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", clk.now
	var err error
	if f.a, err = Open(ctx, opt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.a.Close() })
	f.c, err = f.a.CreateConnector(ctx, f.root, connector.Connector{Name: "trail", Tenant: "acme", SubType: connector.CloudTrail, Bucket: "trail",
		Prefix: "AWSLogs/123456789012/CloudTrail", Endpoint: "file://" + src, Start: f.day})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// put writes an object of the day, last modified at delivered.
func (f *trailFixture) put(t *testing.T, name string, body []byte, delivered time.Time) {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, delivered, delivered); err != nil {
		t.Fatal(err)
	}
}

// TestScheduleSkipsWhatTheDetectorRead: the schedule does not search
// again, for a single-event rule, the windows whose every record the
// detector read with that rule (it doubled the rules' cost of ingest),
// and still evaluates every window the detector did not read with it: a
// rule added after the records were read, and one disabled while they
// were read. Each still raises its alert; none is lost to the skip.
func TestScheduleSkipsWhatTheDetectorRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clk := &fixedClock{}
	f := newTrailFixture(t, ctx, clk, Options{RuleLookback: 24 * time.Hour})
	a, c, day, root := f.a, f.c, f.day, f.root
	deliver := func(at, delivered time.Time) {
		t.Helper()
		f.put(t, fmt.Sprintf("123456789012_CloudTrail_us-east-1_%s_x.json.gz", at.Format("20060102T1504Z")), stopLoggings(at, 3), delivered)
	}
	// Delivered five minutes later by the test's clock, as AWS would.
	put := func(at time.Time) { deliver(at, at.Add(5*time.Minute)) }
	collectAll := func(want int64) {
		t.Helper()
		if res, err := a.RunConnector(ctx, root, c.ID, collect.Options{}); err != nil || res.Stats.Records != want {
			t.Fatalf("collect: %+v %v, want %d records", res, err, want)
		}
	}
	alertsOf := func(rule string) []Alert {
		t.Helper()
		as, err := a.Alerts(ctx, root, AlertFilter{RuleID: rule, Since: day})
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	evaluate := func() *EvaluationReport {
		t.Helper()
		rep, err := a.EvaluateRules(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}

	// The detector reads the new records with every single-event rule, so
	// the schedule searches none of their windows again.
	put(day.Add(10 * time.Hour))
	collectAll(3)
	rep := evaluate()
	if len(alertsOf("trawl-ct-003")) != 1 {
		t.Fatalf("StopLogging alerts %+v, want 1", alertsOf("trawl-ct-003"))
	}
	if rep.Covered == 0 || rep.Covered > rep.Windows {
		t.Fatalf("report %+v: want the single-event rules' windows covered by the detector", rep)
	}

	// A rule added after the detector read the records: the schedule
	// searches them for it.
	if _, err := a.AddRule(ctx, root, "acme", []byte(`title: trail stopped (acme)
id: acme-stop
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventName: StopLogging
  condition: selection
`)); err != nil {
		t.Fatal(err)
	}
	evaluate()
	if got := alertsOf("acme-stop"); len(got) != 1 || got[0].Count != 3 {
		t.Fatalf("acme-stop alerts %+v, want 1 over the 3 records the detector read before the rule was added", got)
	}

	// Records read while a rule was disabled, in windows the schedule has
	// not evaluated yet (its mark is near 10:15): enabled again, the
	// schedule searches them for it.
	if err := a.SetRuleEnabled(ctx, root, "acme", "trawl-ct-003", false); err != nil {
		t.Fatal(err)
	}
	put(day.Add(10*time.Hour + 20*time.Minute))
	collectAll(3)
	if _, err := a.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.SetRuleEnabled(ctx, root, "acme", "trawl-ct-003", true); err != nil {
		t.Fatal(err)
	}
	clk.set(day.Add(12 * time.Hour))
	evaluate()
	if got := alertsOf("trawl-ct-003"); len(got) != 2 {
		t.Fatalf("StopLogging alerts %+v, want 2: the window read while the rule was disabled is searched once it is enabled", got)
	}

	// Records delivered late, into a window before the rule's mark, while
	// it was disabled: enabled again, its next evaluation looks back as a
	// first one does (the README's promise for a rule just enabled).
	if err := a.SetRuleEnabled(ctx, root, "acme", "trawl-ct-003", false); err != nil {
		t.Fatal(err)
	}
	deliver(day.Add(10*time.Hour+40*time.Minute), clk.now())
	collectAll(3)
	if _, err := a.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.SetRuleEnabled(ctx, root, "acme", "trawl-ct-003", true); err != nil {
		t.Fatal(err)
	}
	clk.set(day.Add(12*time.Hour + 5*time.Minute))
	evaluate()
	if got := alertsOf("trawl-ct-003"); len(got) != 3 {
		t.Fatalf("StopLogging alerts %+v, want 3: a late window read while the rule was off is searched once it is enabled", got)
	}
}

// TestDetectorCountsTheWholeWindow: an alert's count is its window's in
// the lake, records of other segments included: the detector counts in
// the lake again only a window another segment may hold records of, and
// that must still happen. Two objects of one window, each of more
// StopLogging calls than an alert keeps ids of, collected and detected
// one after the other: the count is both objects'.
func TestDetectorCountsTheWholeWindow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newTrailFixture(t, ctx, &fixedClock{}, Options{})
	a, c, day, root := f.a, f.c, f.day, f.root
	per := catalog.AlertRecordIDs + 20
	for i, at := range []time.Time{day.Add(10 * time.Hour), day.Add(10*time.Hour + 2*time.Minute)} {
		f.put(t, fmt.Sprintf("123456789012_CloudTrail_us-east-1_%s_%d.json.gz", at.Format("20060102T1504Z"), i), stopLoggingsEvery(at, per, time.Second/2), at.Add(5*time.Minute))
		if res, err := a.RunConnector(ctx, root, c.ID, collect.Options{}); err != nil || res.Stats.Records != int64(per) {
			t.Fatalf("collect %d: %+v %v", i, res, err)
		}
		if _, err := a.Detect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	as, err := a.Alerts(ctx, root, AlertFilter{RuleID: "trawl-ct-003", Since: day})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Count != int64(2*per) {
		t.Fatalf("%d alerts (%+v), want one of the window's %d records", len(as), as, 2*per)
	}
}

// TestCountGroupsNewestIDs: a count rule's groups are those whose count
// passes, each with its count and the newest ids of its own records
// (newest first, at most maxIDs), whatever the rows of the groups that
// do not pass: the ids are numbered after the groups are chosen.
func TestCountGroupsNewestIDs(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	var recs []*interflow.Record
	// 10.0.0.1: four distinct names in five records; 10.0.0.2: two names
	// in many newer records.
	for i, n := range []string{"A", "B", "C", "D", "A"} {
		recs = append(recs, event("acme", int64(i), n, "10.0.0.1", ""))
	}
	for i := range 20 {
		recs = append(recs, event("acme", int64(10+i), []string{"A", "B"}[i%2], "10.0.0.2", ""))
	}
	if err := l.Commit(ctx, ingest.RecordsBatch("c1", ingest.ObjectState{Key: "k-acme", Version: "e", Position: int64(len(recs)), Done: true}, recs...)); err != nil {
		t.Fatal(err)
	}
	groups, err := l.CountGroups(ctx, segment.SearchRequest{Indices: []string{"aws_events"}, Tenants: []string{"acme"}, From: base, To: base.Add(time.Hour)},
		segment.CountRule{GroupBy: "srcip", Field: "event_name", Op: ">=", Threshold: 3}, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{recs[4].Get("id"), recs[3].Get("id")}
	if len(groups) != 1 || groups[0].Key != "10.0.0.1" || groups[0].Count != 4 || fmt.Sprint(groups[0].Records) != fmt.Sprint(want) {
		t.Fatalf("groups %+v, want 10.0.0.1 with 4 names and ids %v", groups, want)
	}
}
