package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/segment"
	"github.com/trawlhq/trawl/internal/source/local"
)

// subTypeCorpus is generated objects of one sub type in a bucket folder.
type subTypeCorpus struct {
	name, prefix string
	sub          connector.SubType
	files        []string
	records      int
	decompressed int64
}

func writeCorpus(t testing.TB, dir, name, prefix string, sub connector.SubType, objs []gen.Object) subTypeCorpus {
	c := subTypeCorpus{name: name, prefix: prefix, sub: sub}
	// A kept corpus folder (TRAWL_PERF_CORPUS_DIR) is made anew: object
	// names follow the clock, so an earlier run's objects would add to
	// this run's.
	if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		p := filepath.Join(dir, name, filepath.FromSlash(o.Key))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, o.Body, 0o644); err != nil {
			t.Fatal(err)
		}
		c.files = append(c.files, p)
		c.records += o.Records
		zr, _ := gzip.NewReader(bytes.NewReader(o.Body))
		n, _ := io.Copy(io.Discard, zr)
		c.decompressed += n
	}
	return c
}

// corpora generates about mb megabytes (decompressed) of each sub type.
func corpora(t testing.TB, dir string, mb int) []subTypeCorpus {
	now := time.Now().UTC()
	ct := gen.CloudTrail(gen.CloudTrailSpec{Seed: 1, Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"}, Start: now.Add(-3 * time.Hour),
		Span: 2 * time.Hour, Objects: max(1, mb/6), RecordsPerObj: 4000, PadBytes: 500})
	var fl, wf []gen.Object
	for _, f := range gen.VPCFlow(gen.FlowSpec{Seed: 1, Account: "123456789012", Region: "us-east-1", Start: now.Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: max(1, mb/4), RecordsPerObj: 30000}) {
		fl = append(fl, f.Object)
	}
	for _, w := range gen.WAF(gen.WAFSpec{Seed: 1, Account: "123456789012", Region: "us-east-1", WebACL: "acl", Start: now.Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: max(1, mb/5), RecordsPerObj: 6000}) {
		wf = append(wf, w.Object)
	}
	return []subTypeCorpus{
		writeCorpus(t, dir, "perf-cloudtrail", "AWSLogs/123456789012/CloudTrail", connector.CloudTrail, ct),
		writeCorpus(t, dir, "perf-vpcflow", "AWSLogs/123456789012/vpcflowlogs", connector.VPCFlow, fl),
		writeCorpus(t, dir, "perf-waf", "AWSLogs/123456789012/WAFLogs", connector.WAF, wf),
	}
}

// perfSize is the harness's corpus size per sub type in MB decompressed
// (TRAWL_PERF_MB, default 120) and its rounds (TRAWL_PERF_ROUNDS, default 3).
func perfSize() (mb, rounds int) {
	mb, rounds = 120, 3
	if v := os.Getenv("TRAWL_PERF_MB"); v != "" {
		fmt.Sscan(v, &mb)
	}
	if v := os.Getenv("TRAWL_PERF_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	return mb, rounds
}

// gzipDC times `gzip -dc` (one process, one core) over the files.
func gzipDC(t testing.TB, files []string) time.Duration {
	start := time.Now()
	cmd := exec.Command("gzip", append([]string{"-dc"}, files...)...)
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		t.Fatalf("gzip -dc: %v", err)
	}
	return time.Since(start)
}

// TestPerfBreakdown: per sub type, from a bucket folder to searchable
// rows, with the time of each stage (summed over the workers, so they can
// exceed the wall time on several cores) and the ratio to gzip -dc of the
// same objects in the same run. Ingest and gzip -dc alternate for a few
// rounds (TRAWL_PERF_ROUNDS, default 3) and the medians are compared: one
// run of either varies by a fifth on a shared machine. Stage times come
// from one more run, with timings on (they cost a few percent). It prints;
// it asserts no timing.
func TestPerfBreakdown(t *testing.T) {
	perfOnly(t)
	mb, rounds := perfSize()
	dir := t.TempDir()
	fmt.Printf("\ningest from a bucket folder to searchable rows, %d cores, median of %d rounds (stage times are CPU-side sums over workers)\n", runtime.NumCPU(), rounds)
	fmt.Printf("%-11s %8s %7s %8s %10s %8s %8s %6s %7s %7s %7s %7s %7s %7s\n", "sub type", "records", "dMB", "ingest", "records/s", "gzip-dc", "ratio",
		"cores", "read", "decode", "norm", "encode", "write", "commit")
	for _, c := range corpora(t, dir, mb) {
		var gzs []time.Duration
		var runs []ingestRun
		for range max(rounds, 1) {
			gzs = append(gzs, gzipDC(t, c.files))
			runs = append(runs, ingestOnce(t, dir, c, false))
		}
		slices.Sort(gzs)
		slices.SortFunc(runs, func(a, b ingestRun) int { return int(a.took - b.took) })
		gz, run := gzs[len(gzs)/2], runs[len(runs)/2]
		// The stages come from one more run with timings: taking them (two
		// clock reads a record) slows ingest by a few percent, so the
		// timed rounds are not the ones compared with gzip -dc.
		staged := ingestOnce(t, dir, c, true)
		s := func(stage int) string { return fmt.Sprintf("%.2fs", staged.tm.Of(stage).Seconds()) }
		fmt.Printf("%-11s %8d %7.0f %7.2fs %10.0f %7.2fs %7.2fx %6.2f %7s %7s %7s %7s %7s %7s\n", strings.TrimPrefix(c.name, "perf-"), c.records,
			float64(c.decompressed)/1e6, run.took.Seconds(), float64(c.records)/run.took.Seconds(), gz.Seconds(), run.took.Seconds()/gz.Seconds(),
			run.cpu.Seconds()/run.took.Seconds(),
			s(ingest.StageRead), s(ingest.StageDecode), s(ingest.StageNormalize), s(ingest.StageEncode), s(ingest.StageWrite), s(ingest.StageCommit))
	}
}

// ingestRun is one collection of a corpus into a new lake.
type ingestRun struct {
	took time.Duration
	cpu  time.Duration // CPU time of the whole process meanwhile
	tm   *ingest.Timings
}

// ingestOnce collects a corpus into a new lake and checks every record is
// searchable.
func ingestOnce(t *testing.T, dir string, c subTypeCorpus, timed bool) ingestRun {
	ctx := context.Background()
	var tm *ingest.Timings
	if timed {
		tm = &ingest.Timings{}
	}
	l, err := app.OpenLake(ctx, filepath.Join(t.TempDir(), "trawl.db"), app.LakeOptions{Timings: tm})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := local.New(dir, c.name)
	if err != nil {
		t.Fatal(err)
	}
	conn := &connector.Connector{ID: "perf", Name: c.name, Tenant: "perf", SubType: c.sub, Bucket: c.name, Prefix: c.prefix, Start: time.Now().Add(-24 * time.Hour)}
	start, cpu0 := time.Now(), processCPU()
	st, err := collect.Run(ctx, conn, b, l, collect.Options{Timings: tm})
	took, cpu := time.Since(start), processCPU()-cpu0
	if err != nil || st.Records != int64(c.records) {
		t.Fatalf("%s: %v %+v (want %d records)", c.name, err, st, c.records)
	}
	n, err := l.Count(ctx, segment.SearchRequest{From: time.Now().Add(-48 * time.Hour), To: time.Now().Add(time.Hour)})
	if err != nil || n != int64(c.records) {
		t.Fatalf("%s: %d searchable, want %d: %v", c.name, n, c.records, err)
	}
	return ingestRun{took: took, cpu: cpu, tm: tm}
}

// processCPU is the CPU time this process has used (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
