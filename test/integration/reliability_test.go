package integration

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/testutil/faultproxy"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestReliabilityKill9Mixed: a ground-truth bucket written by `trawl gen`
// (every sub type, S3 server access logs in the flat key format, and the
// bad cases) is collected by `trawl collect`
// and `trawl serve` processes killed with SIGKILL at seeded random moments.
// Afterwards the lake holds exactly the manifest: nothing missing, nothing
// twice, and the quarantine holds exactly the bad cases.
func TestReliabilityKill9Mixed(t *testing.T) {
	kills := envInt("TRAWL_CRASH_ROUNDS", 4)
	seed := uint64(envInt("TRAWL_CRASH_SEED", 3))
	srv := s3server.Start(t)
	data := t.TempDir()
	m, sf := genBucket(t, srv, data, "truth", "--objects", itoa(2+kills), "--records", "2500", "--pad", "300", "--seed", itoa(int(seed)), "--bad")
	// Bodies arrive at a paced rate, so a run lasts seconds on any machine
	// and the seeded kills land inside objects, not after the run.
	proxy, err := faultproxy.Start(srv.Endpoint, faultproxy.Faults{Rate: 256 << 10}, seed)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	for _, st := range []string{"cloudtrail", "vpcflow", "waf", "r53resolver", "alb", "s3access", "guardduty"} {
		mustTrawl(t, data, "connector", "add", "--name", st, "--tenant", "acme", "--subtype", st, "--bucket", "truth", "--prefix", m.Prefixes[st],
			"--access-key-id", srv.AccessKey, "--secret-access-key-file", sf, "--endpoint", proxy.URL, "--start", "-72h", "--interval", "10s")
	}
	var list []connector.Connector
	json.Unmarshal([]byte(mustTrawl(t, data, "connector", "list", "--json")), &list)

	r := rand.New(rand.NewPCG(seed, 78))
	killed, midObject, rounds := 0, 0, 0
	for ; killed < kills && rounds < 3*kills+5; rounds++ {
		args := []string{"collect", "--once"}
		if rounds%2 == 1 {
			args = []string{"serve", "--addr", freeAddr(t), "--tick", "100ms", "--parallel", "3"}
		}
		cmd := exec.Command(trawlBin, args...)
		cmd.Env = append(os.Environ(), append(dataEnv(t, data), "TRAWL_BATCH_SIZE=500")...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-exited:
			continue // finished before the kill: nothing was in flight
		case <-time.After(time.Duration(300+r.IntN(1500)) * time.Millisecond):
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		os.Remove(filepath.Join(data, "server.json")) // a killed server leaves it behind
		killed++
		for _, c := range list {
			if partialObjects(t, data, c.ID) > 0 {
				midObject++
				break
			}
		}
	}
	// Drain: a clean run, then one more that must find nothing.
	mustTrawl(t, data, "collect", "--once")
	out := mustTrawl(t, data, "collect", "--once")
	for _, c := range list {
		if row := collectRow(t, out, c.Name); row["RECORDS"] != "0" || row["OBJECTS"] != "0" {
			t.Errorf("after draining, %s still collected %v", c.Name, row)
		}
	}
	if killed > 0 && midObject == 0 {
		t.Fatalf("none of %d kills landed mid-object; the test proved nothing (change TRAWL_CRASH_SEED)", killed)
	}

	for _, st := range []string{"cloudtrail", "vpcflow"} {
		class := map[string]string{"cloudtrail": "cloudtrail", "vpcflow": "vpcflow"}[st]
		if n := count(t, data, "msg_class:"+class); n != m.Records[st] {
			t.Errorf("%s: %d, want %d", st, n, m.Records[st])
		}
	}
	if n := count(t, data, "msg_class:aws_waf"); n != m.Records["waf"] {
		t.Errorf("waf: %d, want %d", n, m.Records["waf"])
	}
	if n := count(t, data, "msg_class:route53_resolver"); n != m.Records["r53resolver"] || n == 0 {
		t.Errorf("r53resolver: %d, want %d", n, m.Records["r53resolver"])
	}
	if n := count(t, data, "msg_class:alb"); n != m.Records["alb"] || n == 0 {
		t.Errorf("alb: %d, want %d", n, m.Records["alb"])
	}
	if n := count(t, data, "msg_class:s3access"); n != m.Records["s3access"] || n == 0 {
		t.Errorf("s3access: %d, want %d", n, m.Records["s3access"])
	}
	if n := count(t, data, "msg_class:guardduty"); n != m.Records["guardduty"] || n == 0 {
		t.Errorf("guardduty: %d, want %d", n, m.Records["guardduty"])
	}
	l, err := app.OpenLake(context.Background(), filepath.Join(data, "trawl.db"), app.LakeOptions{Catalog: catalogOf(t, data)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ev, _ := l.CheckIntegrity(context.Background(), "aws_events")
	tr, _ := l.CheckIntegrity(context.Background(), "traffic")
	wantEvents := m.Records["cloudtrail"] + m.Records["waf"] + m.Records["r53resolver"] + m.Records["alb"] + m.Records["s3access"] + m.Records["guardduty"]
	wantTraffic := m.Records["vpcflow"]
	dups := (ev.Rows - ev.DistinctIDs) + (tr.Rows - tr.DistinctIDs)
	missing := int64(wantEvents+wantTraffic) - ev.DistinctIDs - tr.DistinctIDs
	t.Logf("rounds %d, kills %d, kills mid-object %d, records expected %d, found %d, duplicates %d, missing %d",
		rounds, killed, midObject, wantEvents+wantTraffic, ev.Rows+tr.Rows, dups, missing)
	if ev.Rows != int64(wantEvents) || tr.Rows != int64(wantTraffic) || dups != 0 || missing != 0 {
		t.Errorf("aws_events %d (want %d), traffic %d (want %d)", ev.Rows, wantEvents, tr.Rows, wantTraffic)
	}
	items, _ := l.Quarantine(context.Background(), catalog.QuarantineFilter{})
	var got, want []string
	for _, it := range items {
		got = append(got, it.Scope+" "+it.Key)
	}
	for _, q := range m.Quarantine {
		want = append(want, q.Scope+" "+q.Key)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("quarantine:\n%s\nwant exactly the bad cases:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
