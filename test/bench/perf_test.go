package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/lake"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// The performance harness prints tables; it asserts no timings. It runs
// with TRAWL_PERF=1 (make bench).
func perfOnly(t *testing.T) {
	if os.Getenv("TRAWL_PERF") == "" {
		t.Skip("performance harness: run with TRAWL_PERF=1 (make bench)")
	}
}

// TestPerfIngestPerSubType: end-to-end throughput per sub type from
// versitygw to committed lake rows, next to a plain gzip decompression of
// the same objects in the same run.
func TestPerfIngestPerSubType(t *testing.T) {
	perfOnly(t)
	srv := s3server.Start(t)
	mb := 60
	if v := os.Getenv("TRAWL_PERF_MB"); v != "" {
		fmt.Sscan(v, &mb)
	}
	now := time.Now().UTC()
	type corpus struct {
		name    string
		objs    []gen.Object
		prefix  string
		records int
	}
	var cs []corpus
	// Sized so each sub type decompresses to roughly mb megabytes.
	ct := gen.CloudTrail(gen.CloudTrailSpec{Seed: 1, Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"}, Start: now.Add(-3 * time.Hour),
		Span: 2 * time.Hour, Objects: mb / 5, RecordsPerObj: 4000, PadBytes: 500})
	cs = append(cs, corpus{"cloudtrail", ct, "AWSLogs/123456789012/CloudTrail", 0})
	var fl, wf []gen.Object
	for _, f := range gen.VPCFlow(gen.FlowSpec{Seed: 1, Account: "123456789012", Region: "us-east-1", Start: now.Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: mb / 3, RecordsPerObj: 30000}) {
		fl = append(fl, f.Object)
	}
	cs = append(cs, corpus{"vpcflow", fl, "AWSLogs/123456789012/vpcflowlogs", 0})
	for _, w := range gen.WAF(gen.WAFSpec{Seed: 1, Account: "123456789012", Region: "us-east-1", WebACL: "acl", Start: now.Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: mb / 4, RecordsPerObj: 6000}) {
		wf = append(wf, w.Object)
	}
	cs = append(cs, corpus{"waf", wf, "AWSLogs/123456789012/WAFLogs", 0})

	fmt.Printf("\n%-11s %9s %10s %12s %12s %13s %11s %9s\n", "sub type", "records", "dMB", "ingest s", "records/s", "dMB/s/core", "gunzip s", "ratio")
	for _, c := range cs {
		// Written straight into the server's folder (served as objects).
		bkt := "perf-" + c.name
		bucketDir := filepath.Join(srv.Dir, bkt)
		// Create the bucket through the API, then the files.
		srv.Fill(t, bkt, nil)
		var dsize int64
		recs := 0
		for _, o := range c.objs {
			p := filepath.Join(bucketDir, filepath.FromSlash(o.Key))
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, o.Body, 0o644)
			recs += o.Records
		}
		start := time.Now()
		for _, o := range c.objs {
			zr, _ := gzip.NewReader(bytes.NewReader(o.Body))
			n, _ := io.Copy(io.Discard, zr)
			dsize += n
		}
		gz := time.Since(start)
		ctx := context.Background()
		a, err := app.Open(ctx, app.Options{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		sc := app.RootScope("perf")
		conn, err := a.CreateConnector(ctx, sc, connector.Connector{Name: c.name, Tenant: "perf", SubType: connector.SubType(c.name), Bucket: bkt,
			Prefix: c.prefix, AccessKeyID: srv.AccessKey, SecretAccessKey: connector.NewSecret(srv.SecretKey), Endpoint: srv.Endpoint, PathStyle: true,
			Start: now.Add(-24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		res, err := a.RunConnector(ctx, sc, conn.ID, collect.Options{})
		took := time.Since(start)
		a.Close()
		if err != nil || res.Failed() || res.Stats.Records != int64(recs) {
			t.Fatalf("%s: %v %+v", c.name, err, res)
		}
		cores := float64(runtime.NumCPU())
		fmt.Printf("%-11s %9d %10.1f %12.2f %12.0f %13.1f %11.2f %8.1fx\n", c.name, recs, float64(dsize)/1e6, took.Seconds(),
			float64(recs)/took.Seconds(), float64(dsize)/1e6/took.Seconds()/cores, gz.Seconds(), took.Seconds()/gz.Seconds())
	}
}

// TestPerfPeakRSSHugeObject: peak resident memory of `trawl collect` on a
// single CloudTrail object of about 1 GB decompressed.
func TestPerfPeakRSSHugeObject(t *testing.T) {
	perfOnly(t)
	dir := t.TempDir()
	day := time.Now().UTC()
	key := "AWSLogs/123456789012/CloudTrail/us-east-1/" + day.Format("2006/01/02") + "/123456789012_CloudTrail_us-east-1_huge.json.gz"
	p := filepath.Join(dir, "huge", filepath.FromSlash(key))
	os.MkdirAll(filepath.Dir(p), 0o755)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	n := 700000 // ~1.5 KB each: about 1 GB decompressed
	if v := os.Getenv("TRAWL_PERF_HUGE_RECORDS"); v != "" {
		fmt.Sscan(v, &n)
	}
	size, err := gen.StreamCloudTrail(f, 5, "123456789012", "us-east-1", day.Add(-time.Hour), n, 1100)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "trawl")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/trawl").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	data := t.TempDir()
	run := func(args ...string) *exec.Cmd {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "TRAWL_DATA_DIR="+data)
		return c
	}
	if out, err := run("connector", "add", "--name", "huge", "--tenant", "perf", "--subtype", "cloudtrail", "--bucket", "huge",
		"--prefix", "AWSLogs", "--endpoint", "file://"+dir, "--start", "-48h").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c := run("collect", "--once")
	start := time.Now()
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ru := c.ProcessState.SysUsage().(*syscall.Rusage)
	fmt.Printf("\nsingle CloudTrail object: %.0f MB decompressed, %d records: collected in %.1f s, peak RSS %.0f MB (memory_limit 1GB for DuckDB)\n%s",
		float64(size)/1e6, n, time.Since(start).Seconds(), float64(ru.Maxrss)/1024, out)
}

// TestPerfSearchLatency: p50/p95 of typical hunts over 10M records.
func TestPerfSearchLatency(t *testing.T) {
	perfOnly(t)
	total := 10_000_000
	if v := os.Getenv("TRAWL_PERF_SEARCH_RECORDS"); v != "" {
		fmt.Sscan(v, &total)
	}
	ctx := context.Background()
	l, err := lake.Open(ctx, filepath.Join(t.TempDir(), "trawl.db"), lake.Options{MemoryLimit: "2GB"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Now().UTC().Add(-7 * 24 * time.Hour)
	step := 7 * 24 * time.Hour / time.Duration(total)
	actions := []string{"ACCEPT", "ACCEPT", "ACCEPT", "REJECT"}
	const batch = 50000
	built := time.Now()
	for i := 0; i < total; i += batch {
		recs := make([]*interflow.Record, 0, batch)
		for j := i; j < i+batch && j < total; j++ {
			rec := interflow.New(interflow.Traffic())
			tenant := "t" + fmt.Sprint(j%4)
			rec.Stamp(interflow.Provenance{Tenant: tenant, Connector: "flows", Bucket: "b", Key: fmt.Sprintf("k%d", j/10000), ETag: "e"}, int64(j), "vpcflow", "paas")
			src := fmt.Sprintf("10.%d.%d.%d", r.IntN(4), r.IntN(256), r.IntN(256))
			rec.Set(interflow.FTimestamp, start.Add(time.Duration(j)*step))
			rec.Set(interflow.FSrcIP, src)
			rec.Set(interflow.TDstIP, "172.16.0.1")
			rec.Set(interflow.TDstPort, int64([]int{22, 80, 443, 3389}[r.IntN(4)]))
			rec.Set(interflow.FAction, actions[r.IntN(4)])
			rec.Set(interflow.TBytes, int64(r.IntN(100000)))
			rec.Set(interflow.FRaw, fmt.Sprintf("2 123456789012 eni-%d %s 172.16.0.1 %d 443 6 1 40 0 0 %s OK", j%100, src, r.IntN(60000), rec.Value(interflow.FAction)))
			recs = append(recs, rec)
		}
		if err := l.Commit(ctx, lake.RecordsBatch("c", lake.ObjectState{Key: fmt.Sprintf("b%d", i), Version: "e", Done: true}, recs...)); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("\nsearch latency over %d records (built in %.0f s)\n%-34s %10s %10s\n", total, time.Since(built).Seconds(), "query", "p50 ms", "p95 ms")
	week := lake.SearchRequest{From: start, To: time.Now().UTC()}
	day := lake.SearchRequest{Tenants: []string{"t1"}, From: time.Now().UTC().Add(-48 * time.Hour), To: time.Now().UTC().Add(-24 * time.Hour), Limit: 100}
	cases := []struct {
		name string
		fn   func() error
	}{
		{"field equality, newest 100", func() error {
			q := week
			q.Query, q.Limit = "srcip:10.1.2.3", 100
			_, err := l.Search(ctx, q)
			return err
		}},
		{"tenant + 1 day, first page", func() error { _, err := l.Search(ctx, day); return err }},
		{"top-10 srcip", func() error { _, err := l.Top(ctx, week, "srcip", 10); return err }},
		{"count by action", func() error { _, err := l.Top(ctx, week, "action", 10); return err }},
		{"free-text word", func() error {
			q := week
			q.Query, q.Limit = "eni-42", 100
			_, err := l.Search(ctx, q)
			return err
		}},
	}
	for _, c := range cases {
		var ds []time.Duration
		for i := 0; i < 11; i++ {
			s := time.Now()
			if err := c.fn(); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			ds = append(ds, time.Since(s))
		}
		ds = ds[1:] // the first run warms the cache
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		fmt.Printf("%-34s %10.1f %10.1f\n", c.name, ms(ds[len(ds)/2]), ms(ds[len(ds)*95/100]))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
