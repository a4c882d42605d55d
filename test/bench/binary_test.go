package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPerfBinary: the figures users get. Per sub type, the shipped binary
// (`trawl collect --once`, as the README runs it, rule evaluation and
// shut-down included) from process start to exit on a new data directory,
// against `gzip -dc` of the same objects, alternating for a few rounds
// (TRAWL_PERF_ROUNDS, default 3) and comparing medians; `cores` is the
// process's CPU time over its wall time, `peak` its VmHWM. One more run
// with --timings gives the phases and the ingest stages. Every run's
// record count is checked against the corpus. It prints; it asserts no
// timing. TRAWL_PERF_BIN measures another build; TRAWL_PERF_BASELINE runs
// a second build in the same rounds, alternating, and prints the ratio of
// the medians; TRAWL_PERF_EVALUATE=false leaves the rules out.
func TestPerfBinary(t *testing.T) {
	perfOnly(t)
	mb, rounds := perfSize()
	// TRAWL_PERF_BIN names another build to measure (an older one may
	// have no --timings: its breakdown is left out).
	bin, other := os.Getenv("TRAWL_PERF_BIN"), true
	if bin == "" {
		bin, other = buildTrawl(t), false
	}
	dir := os.Getenv("TRAWL_PERF_CORPUS_DIR") // kept, to run the binary on by hand
	if dir == "" {
		dir = t.TempDir()
	}
	fmt.Printf("\n`trawl collect --once` (%s), process start to exit on a new data directory, %d cores, median of %d rounds\n", bin, runtime.NumCPU(), rounds)
	fmt.Printf("%-11s %8s %6s %8s %10s %8s %7s %6s %8s\n", "sub type", "records", "dMB", "binary", "records/s", "gzip-dc", "ratio", "cores", "peak")
	// TRAWL_PERF_BASELINE names an older build run in the same rounds,
	// alternating with bin, so a comparison of the two does not depend
	// on how busy the machine was in one of two separate runs.
	base := os.Getenv("TRAWL_PERF_BASELINE")
	var notes []string
	for _, c := range corpora(t, dir, mb) {
		var gzs []time.Duration
		var runs, baseRuns []binaryRun
		for range max(rounds, 1) {
			gzs = append(gzs, gzipDC(t, c.files))
			runs = append(runs, collectWithBinary(t, bin, dir, c, false))
			if base != "" {
				baseRuns = append(baseRuns, collectWithBinary(t, base, dir, c, false))
			}
		}
		slices.Sort(gzs)
		gz, run := gzs[len(gzs)/2], median(runs)
		fmt.Printf("%-11s %8d %6.0f %7.2fs %10.0f %7.2fs %6.2fx %6.2f %6.0fMB\n", strings.TrimPrefix(c.name, "perf-"), c.records,
			float64(c.decompressed)/1e6, run.took.Seconds(), float64(c.records)/run.took.Seconds(), gz.Seconds(), run.took.Seconds()/gz.Seconds(),
			run.cpu.Seconds()/run.took.Seconds(), float64(run.peak)/(1<<20))
		if base != "" {
			b := median(baseRuns)
			fmt.Printf("%-11s %8s %6s %7.2fs %10.0f %7s %6.2fx %6.2f %6.0fMB  baseline %s; this build takes %.3f of its time\n", "  baseline", "", "",
				b.took.Seconds(), float64(c.records)/b.took.Seconds(), "", b.took.Seconds()/gz.Seconds(), b.cpu.Seconds()/b.took.Seconds(),
				float64(b.peak)/(1<<20), base, run.took.Seconds()/b.took.Seconds())
		}
		if other {
			continue
		}
		timed := collectWithBinary(t, bin, dir, c, true)
		notes = append(notes, strings.TrimPrefix(c.name, "perf-")+": "+strings.ReplaceAll(strings.TrimSpace(timed.timings), "\n", "; "))
	}
	if len(notes) > 0 {
		fmt.Println("one more run each with --timings:")
	}
	for _, n := range notes {
		fmt.Println("  " + n)
	}
}

// median is the run of median wall time.
func median(runs []binaryRun) binaryRun {
	runs = slices.Clone(runs)
	slices.SortFunc(runs, func(a, b binaryRun) int { return int(a.took - b.took) })
	return runs[len(runs)/2]
}

// buildTrawl builds this tree's binary as a user builds it.
func buildTrawl(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "trawl")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/trawl").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return bin
}

// binaryRun is one `trawl collect --once` of a corpus.
type binaryRun struct {
	took, cpu time.Duration
	peak      int64
	timings   string // --timings' report (stderr)
}

// collectWithBinary adds a connector for the corpus to a new data
// directory (not timed), then times `trawl collect --once` and checks it
// collected every record.
func collectWithBinary(t *testing.T, bin, dir string, c subTypeCorpus, timings bool) binaryRun {
	data := filepath.Join(t.TempDir(), "data")
	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "TRAWL_DATA_DIR="+data)
		return cmd
	}
	if out, err := run("connector", "add", "--name", c.name, "--tenant", "perf", "--subtype", string(c.sub), "--bucket", c.name,
		"--prefix", c.prefix, "--endpoint", "file://"+dir, "--start", "-48h").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	args := []string{"collect", "--once", "--json"}
	// TRAWL_PERF_EVALUATE=false measures ingest alone (--evaluate=false),
	// to compare the storage path of two builds without the rules.
	if os.Getenv("TRAWL_PERF_EVALUATE") == "false" {
		args = append(args, "--evaluate=false")
	}
	if timings {
		args = append(args, "--timings")
	}
	cmd := run(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("trawl collect --once: %v\n%s", err, stderr.String())
	}
	var results []struct {
		Stats struct{ Records int64 } `json:"stats"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil || len(results) != 1 || results[0].Stats.Records != int64(c.records) {
		t.Fatalf("%s: collected %+v (%v), want %d records\n%s", c.name, results, err, c.records, stdout.String())
	}
	// Detection is part of what a collection delivers: a rule that could
	// not evaluate (DuckDB ran out of memory on CloudTrail rules' JSON
	// terms over 80,000 records) is a loss, whatever the speed.
	if strings.Contains(stderr.String(), "detection rules failed") {
		t.Errorf("%s: %s", c.name, stderr.String())
	}
	st := cmd.ProcessState
	return binaryRun{took: took, cpu: st.UserTime() + st.SystemTime(), peak: peak(), timings: stderr.String()}
}
