package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/segment"
)

// The performance harness prints tables; it asserts no timings. It runs
// with TRAWL_PERF=1 (make bench).
func perfOnly(t *testing.T) {
	if os.Getenv("TRAWL_PERF") == "" {
		t.Skip("performance harness: run with TRAWL_PERF=1 (make bench)")
	}
}

// TestPerfPeakRSSHugeObject: peak resident memory of `trawl collect` on a
// single CloudTrail object of about 1 GB decompressed.
func TestPerfPeakRSSHugeObject(t *testing.T) {
	perfOnly(t)
	// TRAWL_PERF_HUGE_DIR keeps the object (made once) to run the binary
	// on by hand, e.g. with TRAWL_CPU_PROFILE.
	dir := os.Getenv("TRAWL_PERF_HUGE_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	day := time.Now().UTC()
	n := 700000 // ~1.5 KB each: about 1 GB decompressed
	if v := os.Getenv("TRAWL_PERF_HUGE_RECORDS"); v != "" {
		fmt.Sscan(v, &n)
	}
	size := hugeObject(t, dir, day, n)
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
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	start := time.Now()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	peak := watchPeakRSS(c.Process.Pid)
	if err := c.Wait(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	fmt.Printf("\nsingle CloudTrail object: %.0f MB decompressed, %d records: collected in %.1f s, peak RSS %.0f MB (default settings)\n%s",
		float64(size)/1e6, n, time.Since(start).Seconds(), float64(peak())/(1<<20), out.String())
}

// hugeObject writes (or finds, made before with as many records) the one
// CloudTrail object of n records under dir/huge, and returns its
// decompressed size.
func hugeObject(t *testing.T, dir string, day time.Time, n int) int64 {
	t.Helper()
	folder := filepath.Join(dir, "huge", "AWSLogs", "123456789012", "CloudTrail", "us-east-1")
	name := fmt.Sprintf("123456789012_CloudTrail_us-east-1_huge_%d.json.gz", n)
	sizeFile := filepath.Join(dir, fmt.Sprintf("huge_%d.size", n))
	if b, err := os.ReadFile(sizeFile); err == nil {
		var size int64
		if _, err := fmt.Sscan(string(b), &size); err == nil && size > 0 {
			if m, _ := filepath.Glob(filepath.Join(folder, "*", "*", "*", name)); len(m) == 1 {
				return size
			}
		}
	}
	p := filepath.Join(folder, day.Format("2006/01/02"), name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	size, err := gen.StreamCloudTrail(f, 5, "123456789012", "us-east-1", day.Add(-time.Hour), n, 1100)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(sizeFile, []byte(fmt.Sprint(size)), 0o644)
	return size
}

// watchPeakRSS polls a process's VmHWM (its resident high-water mark)
// until it exits; the returned func gives the highest seen. The child's
// rusage is not used: Go starts children with vfork, so their ru_maxrss
// counts the parent's resident set at exec (a test process that had just
// generated corpora made a 232 MB collection read 456-595 MB).
func watchPeakRSS(pid int) func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		path := fmt.Sprintf("/proc/%d/status", pid)
		for i := 0; i < 20*60*30; i++ { // at most 30 minutes
			b, err := os.ReadFile(path)
			if err != nil {
				return // exited
			}
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
					if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb<<10 > peak.Load() {
						peak.Store(kb << 10)
					}
				}
			}
			if strings.Contains(string(b), "State:\tZ") {
				return // a zombie: its memory is gone
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return func() int64 { <-done; return peak.Load() }
}

// TestPerfSearchLatency: p50/p95 of typical hunts over 10M CloudTrail-
// sized records (about 1 KB of raw JSON each) over 7 days and 4 tenants,
// written as ingest writes them, then compacted.
func TestPerfSearchLatency(t *testing.T) {
	perfOnly(t)
	total := 10_000_000
	if v := os.Getenv("TRAWL_PERF_SEARCH_RECORDS"); v != "" {
		fmt.Sscan(v, &total)
	}
	ctx := context.Background()
	// TRAWL_PERF_SEARCH_DIR keeps the corpus (and its week) for the next
	// run, to compare query plans on the same data.
	dir := os.Getenv("TRAWL_PERF_SEARCH_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	mark, err := os.ReadFile(filepath.Join(dir, "week-end"))
	kept := err == nil
	l, err := app.OpenLake(ctx, filepath.Join(dir, "trawl.db"), app.LakeOptions{MemoryLimit: "2GB"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	end := time.Now().UTC().Truncate(time.Hour)
	if kept {
		var unix int64
		fmt.Sscan(string(mark), &total, &unix)
		end = time.Unix(unix, 0).UTC()
	}
	start := end.Add(-7 * 24 * time.Hour)
	built := time.Now()
	rareEvery := total / 10 // the rare word lands in exactly 10 records
	st := app.CompactStats{}
	if !kept {
		writeSearchCorpus(t, l, start, end, total, rareEvery)
	}
	wrote := time.Since(built)
	if !kept {
		if st, err = l.Compact(ctx, app.CompactOptions{}); err != nil {
			t.Fatal(err)
		}
		if os.Getenv("TRAWL_PERF_SEARCH_DIR") != "" {
			if err := os.WriteFile(filepath.Join(dir, "week-end"), fmt.Appendf(nil, "%d %d", total, end.Unix()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	fmt.Printf("\nsearch latency over %d CloudTrail-sized records, 7 days, 4 tenants (written in %.0f s, compacted in %.0f s into %d segments)\n%-44s %10s %10s %8s\n",
		total, wrote.Seconds(), time.Since(built).Seconds()-wrote.Seconds(), st.Segments, "query", "p50 ms", "p95 ms", "hits")
	week := segment.SearchRequest{From: start, To: end.Add(time.Hour)}
	cases := []struct {
		name string
		fn   func() (int, error)
	}{
		{"field equality (event_name), newest 100", func() (int, error) {
			q := week
			q.Query, q.Limit = "event_name:CreateAccessKey", 100
			r, err := l.Search(ctx, q)
			return len(r.Rows), err
		}},
		{"top-10 srcip over 7 days", func() (int, error) { v, err := l.Top(ctx, week, "srcip", 10); return len(v), err }},
		{"top-10 event_name over 7 days", func() (int, error) { v, err := l.Top(ctx, week, "event_name", 10); return len(v), err }},
		{"free text, a word in 10 records", func() (int, error) {
			q := week
			q.Query, q.Limit = "mimikatz", 100
			r, err := l.Search(ctx, q)
			return len(r.Rows), err
		}},
		{"count by action", func() (int, error) { v, err := l.Top(ctx, week, "action", 10); return len(v), err }},
		{"tenant + 1 day, first page", func() (int, error) {
			r, err := l.Search(ctx, segment.SearchRequest{Tenants: []string{"t1"}, From: end.Add(-48 * time.Hour), To: end.Add(-24 * time.Hour), Limit: 100})
			return len(r.Rows), err
		}},
	}
	for _, c := range cases {
		var ds []time.Duration
		hits := 0
		for i := 0; i < 21; i++ {
			s := time.Now()
			n, err := c.fn()
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			ds = append(ds, time.Since(s))
			hits = n
		}
		ds = ds[1:] // the first run warms the caches
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		fmt.Printf("%-44s %10.1f %10.1f %8d\n", c.name, ms(ds[len(ds)/2]), ms(ds[len(ds)*95/100]), hits)
	}
}

// writeSearchCorpus commits records spread evenly over [start, end) and
// four tenants, a day and tenant per batch, as a collector would.
func writeSearchCorpus(t *testing.T, l *app.Lake, start, end time.Time, total, rareEvery int) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	step := end.Sub(start) / time.Duration(total)
	names := []string{"GetObject", "PutObject", "ListBucket", "DescribeInstances", "AssumeRole", "ConsoleLogin", "GetCallerIdentity", "CreateAccessKey", "DecodeAuthorizationMessage", "GetSecretValue"}
	users := []string{"alice", "bob", "carol", "deploy-bot", "terraform", "dave", "erin", "frank"}
	actions := []string{"ALLOW", "ALLOW", "ALLOW", "BLOCK"}
	const batchRows = 65536
	batches := map[string]*interflow.Batch{}
	rec := interflow.New(interflow.Events())
	flush := func(tenant string, b *interflow.Batch) {
		sel := make([]int32, b.Len())
		for i := range sel {
			sel[i] = int32(i)
		}
		if err := l.Commit(ctx, &ingest.Batch{ConnectorID: "c-" + tenant, Tenant: tenant, Schema: interflow.Events(), Rows: b, Sel: sel,
			Object: ingest.ObjectState{Key: fmt.Sprintf("%s-%d", tenant, r.Int64()), Version: "e", Done: true}}); err != nil {
			t.Fatal(err)
		}
		b.Reset()
	}
	for i := 0; i < total; i++ {
		tenant := fmt.Sprintf("t%d", i%4)
		b := batches[tenant]
		if b == nil {
			b = interflow.NewBatchSize(interflow.Events(), batchRows)
			batches[tenant] = b
		}
		ts := start.Add(time.Duration(i) * step)
		if b.Len() > 0 && (b.Len() == batchRows || b.Time(0).Truncate(24*time.Hour) != ts.Truncate(24*time.Hour)) {
			flush(tenant, b)
		}
		name, user := names[r.IntN(len(names))], users[r.IntN(len(users))]
		ip := fmt.Sprintf("10.%d.%d.%d", r.IntN(4), r.IntN(256), r.IntN(256))
		agent := "aws-cli/2.15.0 Python/3.11.6 Linux/6.1"
		if i%rareEvery == rareEvery/2 {
			agent = "mimikatz/2.2 (kiwi)"
		}
		rec.Reset()
		rec.Stamp(interflow.Provenance{Tenant: tenant, Connector: "c-" + tenant, Bucket: "b", Key: fmt.Sprintf("k%d", i/4000), ETag: "e"}, int64(i), "cloudtrail", "paas")
		rec.SetTime(interflow.FTimestamp, ts)
		rec.SetString(interflow.EEventName, name)
		rec.SetString(interflow.EEventSource, "iam.amazonaws.com")
		rec.SetString(interflow.EUserName, user)
		rec.SetString(interflow.FSrcIP, ip)
		rec.SetString(interflow.FAction, actions[r.IntN(4)])
		rec.SetString(interflow.EUserAgent, agent)
		rec.SetString(interflow.FRaw, fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA%s","arn":"arn:aws:iam::123456789012:user/%s","accountId":"123456789012","accessKeyId":"AKIA%012d","userName":"%s"},"eventTime":"%s","eventSource":"iam.amazonaws.com","eventName":"%s","awsRegion":"us-east-1","sourceIPAddress":"%s","userAgent":"%s","requestParameters":{"bucketName":"app-data-123456789012","key":"reports/%d/summary.csv"},"responseElements":null,"requestID":"%08x-%04x-4%03x-%04x-%012x","eventID":"%08x-%04x-4%03x-%04x-%012x","readOnly":true,"eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"123456789012","eventCategory":"Data","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"s3.us-east-1.amazonaws.com"}}`,
			strings.ToUpper(user), user, r.IntN(1e12), user, ts.Format(time.RFC3339), name, ip, agent, r.IntN(10000),
			r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff,
			r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff))
		b.Append(rec)
	}
	for tenant, b := range batches {
		if b.Len() > 0 {
			flush(tenant, b)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
