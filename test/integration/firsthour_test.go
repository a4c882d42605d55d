package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
)

// trailFolder writes a CloudTrail bucket folder (one account and region)
// whose files carry their delivery time as their modification time, as S3
// reports it, and returns each object's time with its record count.
func trailFolder(t *testing.T, bucketName string, spec gen.CloudTrailSpec) (string, map[time.Time]int) {
	t.Helper()
	src := t.TempDir()
	times := map[time.Time]int{}
	for _, o := range gen.CloudTrail(spec) {
		p := filepath.Join(src, bucketName, filepath.FromSlash(o.Key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, o.Body, 0o644); err != nil {
			t.Fatal(err)
		}
		at := keyTime(t, o.Key)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		times[at] += o.Records
	}
	return src, times
}

// recordsIn sums the records of the objects delivered in [from, to).
func recordsIn(times map[time.Time]int, from, to time.Time) int {
	n := 0
	for at, recs := range times {
		if !at.Before(from) && at.Before(to) {
			n += recs
		}
	}
	return n
}

// TestCollectOnceWindow: `trawl collect --once --from T --to T`, as the CLI
// reference and `trawl --help` write it, collects exactly the objects
// delivered in that window, without a server and through one; a window
// that ends before it starts is refused naming both flags.
func TestCollectOnceWindow(t *testing.T) {
	start := time.Now().UTC().Add(-60 * time.Hour).Truncate(time.Hour)
	src, times := trailFolder(t, "window-trail", gen.CloudTrailSpec{Seed: 29, Accounts: []string{acct}, Regions: []string{"us-east-1"},
		Start: start, Span: 48 * time.Hour, Objects: 16, RecordsPerObj: 5})
	data := t.TempDir()
	mustTrawl(t, data, "connector", "add", "--name", "trail", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "window-trail",
		"--prefix", "AWSLogs/"+acct+"/CloudTrail", "--endpoint", "file://"+src, "--start", "-72h")

	r := trawl(t, data, nil, "collect", "--once", "--from", start.Add(20*time.Hour).Format(time.RFC3339), "--to", start.Add(10*time.Hour).Format(time.RFC3339))
	if r.code != 2 || contains("--from", "--to")(r.stdout, r.stderr) != "" {
		t.Errorf("a window ending before it starts: exit %d, %q; want 2 naming --from and --to", r.code, r.stderr)
	}

	from, to := start.Add(6*time.Hour), start.Add(18*time.Hour)
	want := recordsIn(times, from, to)
	if want == 0 || want == recordsIn(times, start, start.Add(49*time.Hour)) {
		t.Fatalf("the window holds %d records: it proves nothing", want)
	}
	out := mustTrawl(t, data, "collect", "--once", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "trail")
	if got := collectRow(t, out, "trail")["RECORDS"]; got != strconv.Itoa(want) {
		t.Errorf("collect --once over [%s, %s): %s records, want %d\n%s", from, to, got, want, out)
	}
	if n := count(t, data, "--from", "-7d"); n != want {
		t.Errorf("the lake holds %d records after the window, want %d", n, want)
	}

	// Through a server (that collects nothing by itself).
	stop := startServe(t, data, "--no-schedule")
	defer stop()
	from2, to2 := start.Add(30*time.Hour), start.Add(40*time.Hour)
	want2 := recordsIn(times, from2, to2)
	out = mustTrawl(t, data, "collect", "--once", "--from", from2.Format(time.RFC3339), "--to", to2.Format(time.RFC3339))
	if got := collectRow(t, out, "trail")["RECORDS"]; got != strconv.Itoa(want2) {
		t.Errorf("through the server, collect --once over [%s, %s): %s records, want %d\n%s", from2, to2, got, want2, out)
	}
	if n := count(t, data, "--from", "-7d"); n != want+want2 {
		t.Errorf("the lake holds %d records after both windows, want %d", n, want+want2)
	}
}
