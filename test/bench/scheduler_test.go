package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/gen"
)

// manyConnectors creates n connectors, each over its own bucket folder of
// objs small CloudTrail objects, and returns the app and the record count.
func manyConnectors(tb testing.TB, n, objs, records int) (*app.App, int) {
	tb.Helper()
	dir := tb.TempDir()
	now := time.Now().UTC()
	total := 0
	ctx := context.Background()
	a, err := app.Open(ctx, app.Options{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	for i := range n {
		bucket := fmt.Sprintf("b%04d", i)
		for _, o := range gen.CloudTrail(gen.CloudTrailSpec{Seed: uint64(i + 1), Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"},
			Start: now.Add(-50 * time.Minute), Span: 40 * time.Minute, Objects: objs, RecordsPerObj: records}) {
			p := filepath.Join(dir, bucket, filepath.FromSlash(o.Key))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, o.Body, 0o644); err != nil {
				tb.Fatal(err)
			}
			total += o.Records
		}
		if _, err := a.CreateConnector(ctx, app.RootScope("bench"), connector.Connector{Name: bucket, Tenant: "t", SubType: connector.CloudTrail,
			Bucket: bucket, Prefix: "AWSLogs/123456789012/CloudTrail", Endpoint: "file://" + dir, Start: now.Add(-2 * time.Hour)}); err != nil {
			tb.Fatal(err)
		}
	}
	return a, total
}

// pass runs the scheduler until every connector has finished one more run
// and returns how long that took.
func pass(tb testing.TB, a *app.App, n int) time.Duration {
	tb.Helper()
	var runs atomic.Int64
	var failed atomic.Int64
	all := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() {
		a.Schedule(ctx, app.SchedulerOptions{Parallel: 2, Finished: func(_ string, res *app.RunResult, err error) {
			if err != nil || res.Failed() {
				failed.Add(1)
			}
			if runs.Add(1) == int64(n) {
				close(all)
			}
		}})
		close(done)
	}()
	select {
	case <-all:
	case <-time.After(30 * time.Minute):
		tb.Fatalf("only %d of %d runs in 30 minutes", runs.Load(), n)
	}
	took := time.Since(start)
	cancel()
	<-done
	if failed.Load() > 0 {
		tb.Fatalf("%d runs failed", failed.Load())
	}
	return took
}

// BenchmarkScheduler1000: 1,000 connectors of 3 small objects each. The
// first pass collects everything; a steady pass (every connector due, as
// after a restart) finds nothing new. Both are bounded by decoding,
// commits and catalog work, not by a scheduling clock: a freed slot
// starts the next due run at once.
func BenchmarkScheduler1000(b *testing.B) {
	const n = 1000
	a, records := manyConnectors(b, n, 3, 20)
	first := pass(b, a, n)
	b.ResetTimer()
	var steady time.Duration
	for i := 0; i < b.N; i++ {
		steady += pass(b, a, n)
	}
	b.StopTimer()
	b.ReportMetric(first.Seconds(), "first-pass-s")
	b.ReportMetric(float64(records)/first.Seconds(), "first-pass-records/s")
	b.ReportMetric(float64(3*n)/first.Seconds(), "first-pass-objects/s")
	b.ReportMetric(steady.Seconds()/float64(b.N), "steady-pass-s")
	b.ReportMetric(float64(n*b.N)/steady.Seconds(), "runs/s")
	b.ReportMetric(peakRSSMB(), "peak-rss-MB")
}

// peakRSSMB reads this process's peak resident set (VmHWM).
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	var kb float64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "VmHWM:"), "kB")), &kb)
		}
	}
	return kb / 1024
}
