package integration

import (
	"context"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/faultproxy"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestS3Faults: between Trawl and versitygw, a proxy answers 503 SlowDown
// and 500 InternalError, resets and truncates bodies and stalls. Trawl
// retries with backoff, resumes bodies with Range (never accepting a short
// one) and abandons stalls; runs repeat as the scheduler would until
// nothing is left, and the lake then holds exactly what was uploaded.
func TestS3Faults(t *testing.T) {
	srv := s3server.Start(t)
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 71, Accounts: []string{acct}, Regions: []string{"us-east-1", "eu-west-1"},
		Start: time.Now().UTC().Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: 20, RecordsPerObj: 600, PadBytes: 300})
	want := 0
	for _, o := range objs {
		want += o.Records
	}
	bucket(t, srv, "faulty", objs)
	proxy, err := faultproxy.Start(srv.Endpoint, faultproxy.Faults{SlowDown: 0.12, Internal: 0.06, Reset: 0.15, Truncate: 0.15, Stall: 0.1, StallFor: 3 * time.Second}, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	ctx := context.Background()
	a, err := app.Open(ctx, app.Options{DataDir: t.TempDir(), S3ReadStall: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sc := app.RootScope("t")
	c := s3Conn(srv, "faulty", "t", "faulty", srv.SecretKey, time.Minute)
	c.Endpoint = proxy.URL
	conn, err := a.CreateConnector(ctx, sc, c)
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	for ; runs < 15; runs++ {
		res, err := a.RunConnector(ctx, sc, conn.ID, collect.Options{BatchSize: 300})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Failed() && res.Stats.Errors == 0 && countTenant(t, a, "t") == int64(want) {
			break
		}
	}
	it, _ := a.Lake().CheckIntegrity(ctx, "aws_events")
	fc := proxy.Counts()
	t.Logf("%d runs; faults: %+v; rows %d distinct %d event IDs %d, want %d", runs+1, fc, it.Rows, it.DistinctIDs, it.DistinctEventIDs, want)
	if it.Rows != int64(want) || it.DistinctIDs != int64(want) || it.DistinctEventIDs != int64(want) {
		t.Fatalf("lake does not equal the upload")
	}
	if fc.SlowDown == 0 || fc.Internal == 0 || fc.Reset+fc.Truncate == 0 || fc.Stall == 0 {
		t.Errorf("not every fault was exercised: %+v", fc)
	}
}

// TestRevokedCredentials: a key revoked in the middle of a run fails the
// run with the reason; once the key works again, collection resumes and
// nothing is lost or stored twice.
func TestRevokedCredentials(t *testing.T) {
	srv := s3server.Start(t)
	ctx := context.Background()
	const key, secret = "REVOKEDUSER000001", "revoked-user-secret-key-00001"
	srv.CreateUserRole(ctx, t, key, secret, "userplus")
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 73, Accounts: []string{acct}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: 30, RecordsPerObj: 1500, PadBytes: 300})
	want := 0
	for _, o := range objs {
		want += o.Records
	}
	// The user owns the bucket, so its key is what reads it.
	srv.FillAs(t, key, secret, "owned", objs)
	// The proxy holds the run at its fifth object while the key is revoked.
	proxy, err := faultproxy.Start(srv.Endpoint, faultproxy.Faults{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	hit, release := proxy.HoldGet(5)
	defer release()
	a, err := app.Open(ctx, app.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sc := app.RootScope("t")
	c := connector.Connector{Name: "owned", Tenant: "t", SubType: connector.CloudTrail, Bucket: "owned", Prefix: "AWSLogs/" + acct + "/CloudTrail",
		AccessKeyID: key, SecretAccessKey: connector.NewSecret(secret), Endpoint: proxy.URL, PathStyle: true, Start: time.Now().Add(-72 * time.Hour)}
	conn, err := a.CreateConnector(ctx, sc, c)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *app.RunResult, 1)
	go func() {
		r, _ := a.RunConnector(ctx, sc, conn.ID, collect.Options{Workers: 1, BatchSize: 200})
		done <- r
	}()
	select {
	case <-hit:
	case <-time.After(60 * time.Second):
		t.Fatal("the run never reached its fifth object")
	}
	srv.DeleteUser(ctx, t, key)
	release()
	r := <-done
	mid := countTenant(t, a, "t")
	if mid >= int64(want) {
		t.Fatalf("the run stored all %d records although its key was revoked part-way", mid)
	}
	if !r.Failed() || r.Run.Status != 401 || r.Run.Reason == "" {
		t.Fatalf("run after revocation: %+v", r.Run)
	}
	st, _ := a.ConnectorStatus(ctx, sc, conn.ID)
	if st.LastRun.Result != "failed" {
		t.Errorf("status %+v", st.LastRun)
	}
	reason := r.Run.Reason
	srv.CreateUserRole(ctx, t, key, secret, "userplus") // the fix
	r, err = a.RunConnector(ctx, sc, conn.ID, collect.Options{})
	if err != nil || r.Failed() {
		t.Fatalf("run after the fix: %v %+v", err, r.Run)
	}
	it, _ := a.Lake().CheckIntegrity(ctx, "aws_events")
	t.Logf("revoked after %d of %d records (%s); after the fix %d rows, %d distinct", mid, want, reason, it.Rows, it.DistinctIDs)
	if it.Rows != int64(want) || it.DistinctIDs != int64(want) {
		t.Errorf("rows %d distinct %d, want %d", it.Rows, it.DistinctIDs, want)
	}
}
