package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/faultproxy"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

func s3Conn(srv *s3server.Server, name, tenant, bucketName, secret string, interval time.Duration) connector.Connector {
	return connector.Connector{Name: name, Tenant: tenant, SubType: connector.CloudTrail, Bucket: bucketName, Prefix: "AWSLogs/" + acct + "/CloudTrail",
		AccessKeyID: srv.AccessKey, SecretAccessKey: connector.NewSecret(secret), Endpoint: srv.Endpoint, PathStyle: true,
		Start: time.Now().Add(-72 * time.Hour), Interval: connector.Duration(interval)}
}

func countTenant(t *testing.T, a *app.App, tenant string) int64 {
	n, err := a.Count(context.Background(), app.RootScope("t"), tenant, apiv1.SearchRequest{From: time.Now().Add(-30 * 24 * time.Hour), To: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSchedulerRunsConnectors: enabled connectors are collected at once and
// then every interval; new objects are picked up on their own; a failing
// connector and a hanging one do not hold back a healthy one.
func TestSchedulerRunsConnectors(t *testing.T) {
	srv := s3server.Start(t)
	first, want1 := trailObjects(51, 2, 10)
	bucket(t, srv, "good", first)
	ctx := context.Background()
	a, err := app.Open(ctx, app.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sc := app.RootScope("test")
	hang := s3Conn(srv, "hang", "t1", "good", srv.SecretKey, 10*time.Second)
	hang.Endpoint = hangingEndpoint(t)
	for _, c := range []connector.Connector{hang, s3Conn(srv, "bad", "t2", "good", "wrong-secret-key-wrong-secret", 10*time.Second), s3Conn(srv, "good", "t3", "good", srv.SecretKey, 10*time.Second)} {
		if _, err := a.CreateConnector(ctx, sc, c); err != nil {
			t.Fatal(err)
		}
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { a.Schedule(sctx, app.SchedulerOptions{Tick: 100 * time.Millisecond, Parallel: 2}); close(done) }()
	defer func() { stop(); <-done }()

	waitFor(t, 20*time.Second, "the first run of the healthy connector", func() bool { return countTenant(t, a, "t3") == int64(len(want1)) })
	more, want2 := trailObjects(52, 2, 10)
	bucket(t, srv, "good", more)
	waitFor(t, 30*time.Second, "the next interval to collect new objects", func() bool { return countTenant(t, a, "t3") == int64(len(want1)+len(want2)) })
	list, _ := a.ListConnectors(ctx, sc, "t2")
	st, _ := a.ConnectorStatus(ctx, sc, list[0].ID)
	if st.LastRun == nil || st.LastRun.Result != "failed" || st.LastRun.Status != 401 || st.NextRun == nil {
		t.Errorf("failing connector status: %+v", st.LastRun)
	}
}

// TestShutdownMidRun: stopping the scheduler while a run is part-way (held
// at its fourth object by the proxy, so the moment is certain), then
// starting again, stores every record exactly once.
func TestShutdownMidRun(t *testing.T) {
	srv := s3server.Start(t)
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 61, Accounts: []string{acct}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: 12, RecordsPerObj: 500})
	want := 0
	for _, o := range objs {
		want += o.Records
	}
	bucket(t, srv, "big", objs)
	proxy, err := faultproxy.Start(srv.Endpoint, faultproxy.Faults{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	hit, release := proxy.HoldGet(4)
	defer release()
	dir := t.TempDir()
	ctx := context.Background()
	open := func() *app.App {
		a, err := app.Open(ctx, app.Options{DataDir: dir, Collect: collect.Options{Workers: 1, BatchSize: 200}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := open()
	c := s3Conn(srv, "big", "t", "big", srv.SecretKey, 10*time.Second)
	c.Endpoint = proxy.URL
	if _, err := a.CreateConnector(ctx, app.RootScope("t"), c); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { a.Schedule(sctx, app.SchedulerOptions{Tick: 50 * time.Millisecond}); close(done) }()
	select {
	case <-hit:
	case <-time.After(60 * time.Second):
		t.Fatal("the run never reached its fourth object")
	}
	// Small commits (200 records) land the three objects before the held
	// one in the lake; then the scheduler stops.
	waitFor(t, 30*time.Second, "the first objects to commit", func() bool { return countTenant(t, a, "t") > 0 })
	stop()
	<-done
	mid := countTenant(t, a, "t")
	a.Close()
	if mid == 0 || mid >= int64(want) {
		t.Fatalf("stopped at %d of %d records: the hold did not stop the run part-way", mid, want)
	}
	release()
	a = open()
	defer a.Close()
	sctx, stop = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { a.Schedule(sctx, app.SchedulerOptions{Tick: 50 * time.Millisecond}); close(done) }()
	waitFor(t, 60*time.Second, "the restarted run to finish", func() bool { return countTenant(t, a, "t") >= int64(want) })
	stop()
	<-done
	it, err := a.Lake().CheckIntegrity(ctx, "aws_events")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped at %d of %d records; after restart %d rows, %d distinct", mid, want, it.Rows, it.DistinctIDs)
	if it.Rows != int64(want) || it.DistinctIDs != int64(want) {
		t.Errorf("rows %d distinct %d, want %d", it.Rows, it.DistinctIDs, want)
	}
}

// TestServeStopsRunsStartedThroughTheAPI: `trawl serve` receives SIGTERM
// while a collection started through the API is held part-way: the
// server cancels the run, waits for it, exits 0, and the run is recorded
// as interrupted. After kill -9 in the same position, the next start marks
// the abandoned run interrupted instead of leaving it "running" forever.
// Either way a later run stores every record exactly once.
func TestServeStopsRunsStartedThroughTheAPI(t *testing.T) {
	srv := s3server.Start(t)
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 62, Accounts: []string{acct}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: 10, RecordsPerObj: 300})
	want := 0
	for _, o := range objs {
		want += o.Records
	}
	bucket(t, srv, "api-run", objs)
	proxy, err := faultproxy.Start(srv.Endpoint, faultproxy.Faults{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	data := t.TempDir()
	sf := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(sf, []byte(srv.SecretKey), 0o600)
	mustTrawl(t, data, "connector", "add", "--name", "api-run", "--tenant", "t", "--subtype", "cloudtrail", "--bucket", "api-run",
		"--prefix", "AWSLogs/"+acct+"/CloudTrail", "--access-key-id", srv.AccessKey, "--secret-access-key-file", sf,
		"--endpoint", proxy.URL, "--start", "-72h")
	lastRun := func() map[string]any {
		var st map[string]any
		if err := json.Unmarshal([]byte(mustTrawl(t, data, "connector", "show", "api-run")), &st); err != nil {
			t.Fatal(err)
		}
		r, _ := st["last_run"].(map[string]any)
		return r
	}
	for _, how := range []string{"SIGTERM", "SIGKILL"} {
		hit, release := proxy.HoldGet(3)
		cmd, s := startServeCmd(t, data, "--no-schedule")
		go func() {
			req, _ := http.NewRequest("POST", s.base+"/api/v1/collect", strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer "+s.root)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		select {
		case <-hit:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s: the run never reached its third object", how)
		}
		if how == "SIGTERM" {
			cmd.Process.Signal(syscall.SIGTERM)
		} else {
			cmd.Process.Kill()
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if how == "SIGTERM" && err != nil {
				t.Errorf("SIGTERM: trawl serve exited with %v, want 0", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%s: trawl serve did not exit while a run was held", how)
		}
		release()
		os.Remove(filepath.Join(data, "server.json"))
		if r := lastRun(); r["result"] != "interrupted" || r["ended_at"] == nil {
			t.Errorf("%s: the held run is recorded as %v", how, r)
		}
	}
	mustTrawl(t, data, "collect", "--once")
	if n := count(t, data); n != want {
		t.Errorf("after the interruptions and a full run: %d records, want %d", n, want)
	}
	if dups := mustTrawl(t, data, "search", "--count", "--from", "-30d", "origin.position:0"); atoiT(t, dups) != len(objs) {
		t.Errorf("first records of objects: %s, want %d", dups, len(objs))
	}
}

// TestServeTwoTenantsSixConnectors: `trawl serve` with two tenants and six
// connectors (each sub type twice) runs several intervals while objects
// arrive; the counts in search equal what was uploaded.
func TestServeTwoTenantsSixConnectors(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	srv := s3server.Start(t)
	data := t.TempDir()
	sf := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(sf, []byte(srv.SecretKey), 0o600)
	expected := map[string]int{}
	upload := func(round int) {
		start := time.Now().UTC().Add(-time.Hour)
		for ti, tenant := range []string{"red", "blue"} {
			seed := uint64(round*10 + ti)
			ct, ids := trailObjects(seed+100, 1, 7)
			bucket(t, srv, tenant+"-ct", ct)
			expected[tenant] += len(ids)
			var fo, wo []gen.Object
			for _, f := range gen.VPCFlow(gen.FlowSpec{Seed: seed, Account: acct, Region: "us-east-1", Start: start, Span: time.Minute, Objects: 2, RecordsPerObj: 13}) {
				fo = append(fo, f.Object)
				expected[tenant] += f.Records
			}
			for _, w := range gen.WAF(gen.WAFSpec{Seed: seed, Account: acct, Region: "us-east-1", WebACL: "acl", Start: start, Span: time.Minute, Objects: 2, RecordsPerObj: 9}) {
				wo = append(wo, w.Object)
				expected[tenant] += w.Records
			}
			bucket(t, srv, tenant+"-flow", fo)
			bucket(t, srv, tenant+"-waf", wo)
		}
	}
	upload(1)
	for _, tenant := range []string{"red", "blue"} {
		for _, sub := range [][3]string{{"cloudtrail", "-ct", "AWSLogs/" + acct + "/CloudTrail"}, {"vpcflow", "-flow", "AWSLogs"}, {"waf", "-waf", "AWSLogs/" + acct + "/WAFLogs"}} {
			mustTrawl(t, data, "connector", "add", "--name", tenant+"-"+sub[0], "--tenant", tenant, "--subtype", sub[0], "--bucket", tenant+sub[1],
				"--prefix", sub[2], "--access-key-id", srv.AccessKey, "--secret-access-key-file", sf, "--endpoint", srv.Endpoint,
				"--start", "-72h", "--interval", "10s")
		}
	}
	stop := startServe(t, data, "--tick", "200ms", "--parallel", "3")
	defer stop()
	countOf := func(tenant string) int {
		out := mustTrawl(t, data, "search", "--count", "--from", "-30d", "--tenant", tenant)
		return atoiT(t, out)
	}
	time.Sleep(3 * time.Second)
	upload(2) // arrives between runs
	time.Sleep(11 * time.Second)
	upload(3)
	waitFor(t, 60*time.Second, "all uploaded records", func() bool {
		return countOf("red") == expected["red"] && countOf("blue") == expected["blue"]
	})
	for _, tenant := range []string{"red", "blue"} {
		if n := countOf(tenant); n != expected[tenant] {
			t.Errorf("%s: %d records, want %d", tenant, n, expected[tenant])
		}
	}
	out := mustTrawl(t, data, "connector", "list")
	if strings.Count(out, "true") != 6 {
		t.Errorf("connectors:\n%s", out)
	}
}

func atoiT(t *testing.T, s string) int {
	var n int
	for _, c := range strings.TrimSpace(s) {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// TestSchedulerNotBoundByItsClock: with the connector list read once an
// hour, 30 due connectors and 2 slots, every connector still runs at once,
// one after another as slots free: the scheduler is bounded by collection,
// not by a tick (a tick-bound scheduler would start 2 an hour).
func TestSchedulerNotBoundByItsClock(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, err := app.Open(ctx, app.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	const n = 30
	for i := range n {
		name := "sched" + strconv.Itoa(i)
		for _, o := range gen.CloudTrail(gen.CloudTrailSpec{Seed: uint64(i + 1), Accounts: []string{acct}, Regions: []string{"us-east-1"},
			Start: time.Now().UTC().Add(-50 * time.Minute), Span: 40 * time.Minute, Objects: 1, RecordsPerObj: 5}) {
			p := filepath.Join(dir, name, filepath.FromSlash(o.Key))
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, o.Body, 0o644)
		}
		if _, err := a.CreateConnector(ctx, app.RootScope("t"), connector.Connector{Name: name, Tenant: "t", SubType: connector.CloudTrail,
			Bucket: name, Prefix: "AWSLogs/" + acct + "/CloudTrail", Endpoint: "file://" + dir, Start: time.Now().Add(-2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	ran := map[string]bool{}
	all := make(chan struct{})
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		a.Schedule(sctx, app.SchedulerOptions{Tick: time.Hour, Parallel: 2, Finished: func(id string, res *app.RunResult, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err == nil && !res.Failed() && !ran[id] {
				ran[id] = true
				if len(ran) == n {
					close(all)
				}
			}
		}})
		close(done)
	}()
	defer func() { stop(); <-done }()
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d of %d connectors ran in 2 minutes with the list read once an hour", len(ran), n)
	}
	if got := countTenant(t, a, "t"); got != n*5 {
		t.Errorf("%d records, want %d", got, n*5)
	}
}

// TestSecondCollectWaitsForTheRunInFlight: a collection asked for while the
// same connector's run is in flight (the scheduler started it the moment
// the connector was added) waits for that run and then runs, instead of
// failing busy; together they store every record once.
func TestSecondCollectWaitsForTheRunInFlight(t *testing.T) {
	srv := s3server.Start(t)
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 63, Accounts: []string{acct}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: 4, RecordsPerObj: 50})
	want := 0
	for _, o := range objs {
		want += o.Records
	}
	bucket(t, srv, "inflight", objs)
	proxy, err := faultproxy.Start(srv.Endpoint, faultproxy.Faults{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	hit, release := proxy.HoldGet(1)
	defer release()
	ctx := context.Background()
	a, err := app.Open(ctx, app.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c := s3Conn(srv, "inflight", "t", "inflight", srv.SecretKey, 10*time.Second)
	c.Endpoint = proxy.URL
	created, err := a.CreateConnector(ctx, app.RootScope("t"), c)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		res *app.RunResult
		err error
	}
	first, second := make(chan result, 1), make(chan result, 1)
	go func() {
		r, err := a.RunConnector(ctx, app.RootScope("t"), created.ID, collect.Options{})
		first <- result{r, err}
	}()
	select {
	case <-hit:
	case <-time.After(30 * time.Second):
		t.Fatal("the first run never read an object")
	}
	go func() {
		r, err := a.RunConnector(ctx, app.RootScope("t"), created.ID, collect.Options{})
		second <- result{r, err}
	}()
	select {
	case r := <-second:
		t.Fatalf("the second collection returned while the first was in flight: %+v %v", r.res, r.err)
	case <-time.After(500 * time.Millisecond):
	}
	release()
	for i, ch := range []chan result{first, second} {
		select {
		case r := <-ch:
			if r.err != nil || r.res.Failed() {
				t.Fatalf("run %d: %v %+v", i+1, r.err, r.res)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("run %d did not end", i+1)
		}
	}
	if n := countTenant(t, a, "t"); n != int64(want) {
		t.Errorf("%d records, want %d", n, want)
	}
}
