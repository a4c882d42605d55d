package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
)

// fixedClock is a clock a test moves.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fixedClock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// failedSignIns is a CloudTrail object of n failed console sign-ins from
// one address, a minute apart from at.
func failedSignIns(at time.Time, n int, ip string) []byte {
	var recs []map[string]any
	for i := range n {
		recs = append(recs, map[string]any{"eventVersion": "1.08", "eventTime": at.Add(time.Duration(i) * time.Minute).Format(time.RFC3339),
			"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "awsRegion": "us-east-1", "sourceIPAddress": ip,
			"eventID": fmt.Sprintf("%s-%d-%d", ip, at.Unix(), i), "eventType": "AwsConsoleSignIn", "recipientAccountId": "123456789012",
			"errorMessage": "Failed authentication", "userIdentity": map[string]any{"type": "IAMUser", "userName": "victim", "accountId": "123456789012"},
			"responseElements": map[string]any{"ConsoleLogin": "Failure"}})
	}
	raw, _ := json.Marshal(map[string]any{"Records": recs})
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(raw)
	zw.Close()
	return b.Bytes()
}

// TestRulesEvaluateByTheClock: the schedule evaluates a count rule's
// windows once they closed by the App's clock (a window ends, then the
// lateness allowance passes), each once: a burst of failed sign-ins
// alerts when the clock passes its window's end plus 15 minutes, not
// before, and evaluating again at the same time adds nothing.
func TestRulesEvaluateByTheClock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-48 * time.Hour)
	src := t.TempDir()
	dir := filepath.Join(src, "trail", "AWSLogs", "123456789012", "CloudTrail", "us-east-1", day.Format("2006/01/02"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	first, second := day.Add(10*time.Hour+time.Minute), day.Add(11*time.Hour+31*time.Minute)
	for i, at := range []time.Time{first, second} {
		name := fmt.Sprintf("123456789012_CloudTrail_us-east-1_%s_%d.json.gz", at.Format("20060102T1504Z"), i)
		if err := os.WriteFile(filepath.Join(dir, name), failedSignIns(at, 7, "203.0.113.9"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	clk := &fixedClock{t: day.Add(10*time.Hour + 20*time.Minute)}
	a, err := Open(ctx, Options{DataDir: t.TempDir(), MasterKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	root := RootScope("test")
	c, err := a.CreateConnector(ctx, root, connector.Connector{Name: "trail", Tenant: "acme", SubType: connector.CloudTrail, Bucket: "trail",
		Prefix: "AWSLogs/123456789012/CloudTrail", Endpoint: "file://" + src, Start: day})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := a.RunConnector(ctx, root, c.ID, collect.Options{}); err != nil || res.Stats.Records != 14 {
		t.Fatalf("collect: %+v %v", res, err)
	}
	brute := func() []Alert {
		t.Helper()
		as, err := a.Alerts(ctx, root, AlertFilter{RuleID: "trawl-ct-015", Since: day})
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	for _, step := range []struct {
		at   time.Duration // from the day's start
		want int
	}{
		{10*time.Hour + 20*time.Minute, 0}, // [10:00, 10:10) closes at 10:25
		{10*time.Hour + 30*time.Minute, 1},
		{10*time.Hour + 30*time.Minute, 1}, // again: nothing new
		{11*time.Hour + 50*time.Minute, 1}, // [11:30, 11:40) closes at 11:55
		{12 * time.Hour, 2},
	} {
		clk.set(day.Add(step.at))
		if _, err := a.EvaluateRules(ctx, root); err != nil {
			t.Fatal(err)
		}
		if got := brute(); len(got) != step.want {
			t.Fatalf("at %s: %d brute-force alerts, want %d: %+v", clk.now().Format("15:04"), len(got), step.want, got)
		}
	}
	as := brute()
	if !as[0].WindowStart.Equal(day.Add(11*time.Hour+30*time.Minute)) || !as[1].WindowStart.Equal(day.Add(10*time.Hour)) || as[0].Count != 7 {
		t.Errorf("alerts %+v, want the windows at 11:30 and 10:00 with 7 sign-ins each", as)
	}
}
