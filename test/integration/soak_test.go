package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestSoak (make soak; minutes, not part of CI): objects of all three sub
// types are uploaded as fast as the machine allows while `trawl serve`
// collects them; it reports records/s, peak RSS and lag, and the lake must
// again equal what was uploaded.
func TestSoak(t *testing.T) {
	if os.Getenv("TRAWL_SOAK") == "" {
		t.Skip("soak test: run with TRAWL_SOAK=1 (make soak)")
	}
	minutes := envInt("TRAWL_SOAK_MINUTES", 3)
	srv := s3server.Start(t)
	data := t.TempDir()
	sf := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(sf, []byte(srv.SecretKey), 0o600)
	bucket(t, srv, "soak", nil)
	m0 := gen.Manifest{Prefixes: map[string]string{"cloudtrail": "AWSLogs/" + acct + "/CloudTrail", "vpcflow": "AWSLogs/" + acct + "/vpcflowlogs", "waf": "AWSLogs/" + acct + "/WAFLogs"}}
	for _, st := range []string{"cloudtrail", "vpcflow", "waf"} {
		mustTrawl(t, data, "connector", "add", "--name", st, "--tenant", "soak", "--subtype", st, "--bucket", "soak", "--prefix", m0.Prefixes[st],
			"--access-key-id", srv.AccessKey, "--secret-access-key-file", sf, "--endpoint", srv.Endpoint, "--start", "-72h", "--interval", "10s")
	}
	// The objects are generated before the clock starts (AWS, not this
	// machine, writes them in production), then uploaded through the S3
	// API as fast as it takes them while the server collects.
	rate := envInt("TRAWL_SOAK_RATE", 50000) // records per second uploaded
	type round struct {
		objs    []gen.Object
		records int
	}
	var rounds []round
	for r, prepared := 0, 0; prepared < rate*60*minutes; r++ {
		objs, m := gen.Mixed(gen.MixedSpec{Seed: uint64(1000 + r), Account: acct, Region: "us-east-1", Start: time.Now().UTC().Add(-30 * time.Minute),
			Span: 20 * time.Minute, Objects: 4, RecordsPerObj: 2500, PadBytes: 200})
		n := 0
		for i := range objs {
			objs[i].Key = strings.Replace(objs[i].Key, ".json.gz", fmt.Sprintf("_r%d.json.gz", r), 1)
			objs[i].Key = strings.Replace(objs[i].Key, ".log.gz", fmt.Sprintf("_r%d.log.gz", r), 1)
		}
		for _, c := range m.Records {
			n += c
		}
		rounds = append(rounds, round{objs, n})
		prepared += n
	}
	stop := startServe(t, data, "--tick", "200ms", "--parallel", "3")
	defer stop()
	pid := serverPID(t, data)
	want := 0
	deadline := time.Now().Add(time.Duration(minutes) * time.Minute)
	var peak int64
	start := time.Now()
	for _, r := range rounds {
		if !time.Now().Before(deadline) {
			break
		}
		bucket(t, srv, "soak", r.objs)
		want += r.records
		if r := rss(pid); r > peak {
			peak = r
		}
		// Paced: the uploads arrive at the rate, as AWS delivers.
		if ahead := time.Duration(float64(want)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	uploaded := time.Since(start)
	var lag time.Duration
	// Committed records are read from the connectors' status over the
	// API (their checkpoints): a catalog query, not a count over every
	// segment, and no CLI process started per poll, so measuring does not
	// take the cores it measures.
	api := servedAt(t, data)
	_, list := api.call(api.root, "GET", "/api/v1/connectors", nil)
	var ids []string
	for _, c := range list["connectors"].([]any) {
		ids = append(ids, c.(map[string]any)["id"].(string))
	}
	committed := func() int {
		n := 0
		for _, id := range ids {
			_, st := api.call(api.root, "GET", "/api/v1/connectors/"+id+"/status", nil)
			if tot, ok := st["totals"].(map[string]any); ok {
				n += int(tot["records"].(float64))
			}
		}
		return n
	}
	atEnd := committed()
	waitFor(t, 10*time.Minute, "the server to catch up", func() bool {
		if r := rss(pid); r > peak {
			peak = r
		}
		return committed() == want
	})
	lag = time.Since(start) - uploaded
	if n := atoiT(t, mustTrawl(t, data, "search", "--count", "--from", "-3d", "--to", "+3d")); n != want {
		t.Errorf("search counts %d records, want %d", n, want)
		for _, st := range []string{"cloudtrail", "vpcflow", "waf"} {
			t.Logf("%s: search %s; status %s", st, mustTrawl(t, data, "search", "--count", "--from", "-3d", "--to", "+3d", "connector:"+st),
				mustTrawl(t, data, "connector", "show", st))
		}
	}
	total := time.Since(start)
	t.Logf("soak: %d records uploaded in %s (%.0f records/s), %d collected meanwhile; the rest (%d) collected %s after the last upload (%.0f records/s); %.0f records/s overall; peak RSS %d MB",
		want, uploaded.Round(time.Second), float64(want)/uploaded.Seconds(), atEnd, want-atEnd, lag.Round(time.Second), float64(want-atEnd)/lag.Seconds(),
		float64(want)/total.Seconds(), peak/1024)
}

func serverPID(t *testing.T, data string) int {
	b, err := os.ReadFile(filepath.Join(data, "server.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscanf(string(b)[strings.Index(string(b), `"pid":`)+6:], "%d", &pid)
	return pid
}

// rss returns a process's resident memory in KB (VmHWM: the peak).
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, "VmHWM:"), "kB")), &kb)
			return kb
		}
	}
	return 0
}
