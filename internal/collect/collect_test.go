package collect_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/prefix"
	"github.com/trawlhq/trawl/internal/source"
	"github.com/trawlhq/trawl/internal/source/local"
)

func setup(t *testing.T, objs []gen.Object) (*connector.Connector, *local.Bucket, *app.Lake) {
	t.Helper()
	root := t.TempDir()
	for _, o := range objs {
		p := filepath.Join(root, "b", filepath.FromSlash(o.Key))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, o.Body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := local.New(root, "b")
	if err != nil {
		t.Fatal(err)
	}
	l, err := app.OpenLake(context.Background(), filepath.Join(t.TempDir(), "trawl.db"), app.LakeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	c := &connector.Connector{ID: "c1", Name: "c", Tenant: "acme", SubType: connector.CloudTrail, Bucket: "b", Prefix: "AWSLogs",
		Start: time.Now().Add(-time.Hour)}
	return c, b, l
}

func trail(objects, records int) []gen.Object {
	return gen.CloudTrail(gen.CloudTrailSpec{Seed: 1, Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-time.Hour), Span: 30 * time.Minute, Objects: objects, RecordsPerObj: records})
}

func total(t *testing.T, l *app.Lake) int64 {
	it, err := l.CheckIntegrity(context.Background(), "aws_events")
	if err != nil {
		t.Fatal(err)
	}
	if it.Rows != it.DistinctIDs {
		t.Fatalf("%d rows but %d distinct ids: duplicates", it.Rows, it.DistinctIDs)
	}
	return it.Rows
}

// flaky fails reads of the first objects it opens part-way, like a
// connection reset that outlived the S3 client's own retries.
type flaky struct {
	collect.Bucket
	failAfter int64
	failures  int
}

func (f *flaky) Open(ctx context.Context, o source.Object) (io.ReadCloser, error) {
	rc, err := f.Bucket.Open(ctx, o)
	if err != nil || f.failures == 0 {
		return rc, err
	}
	f.failures--
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, f.failAfter), errReader{}), rc}, nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) {
	return 0, &source.Error{Status: 503, Op: "get", Explanation: "connection reset", Retryable: true}
}

func TestReadFailureResumesWithoutDuplicates(t *testing.T) {
	objs := trail(3, 2000)
	c, b, l := setup(t, objs)
	fb := &flaky{Bucket: b, failAfter: int64(len(objs[0].Body) / 2), failures: 3}
	st, err := collect.Run(context.Background(), c, fb, l, collect.Options{BatchSize: 300, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Errors != 3 || st.Objects != 0 {
		t.Fatalf("first run: %+v (want 3 failed objects)", st)
	}
	partial := total(t, l)
	if partial == 0 || partial >= 6000 {
		t.Fatalf("after failures %d records committed; want some but not all", partial)
	}
	st, err = collect.Run(context.Background(), c, b, l, collect.Options{BatchSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	if got := total(t, l); got != 6000 {
		t.Fatalf("after resume: %d records, want 6000", got)
	}
	if st.Records != 6000-partial {
		t.Errorf("second run stored %d, want %d", st.Records, 6000-partial)
	}
}

func TestDecompressionBombIsQuarantined(t *testing.T) {
	var bomb bytes.Buffer
	w, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	w.Write([]byte(`{"Records":[{"eventTime":"2024-05-01T10:00:00Z","eventName":"x","pad":"`))
	w.Write(bytes.Repeat([]byte("A"), 30<<20))
	w.Write([]byte(`"}]}`))
	w.Close()
	objs := append(trail(1, 10), gen.Object{Key: "AWSLogs/123456789012/CloudTrail/us-east-1/" + time.Now().UTC().Format("2006/01/02") + "/bomb.json.gz", Body: bomb.Bytes()})
	c, b, l := setup(t, objs)
	st, err := collect.Run(context.Background(), c, b, l, collect.Options{Limits: format.Limits{MaxDecompressed: 1 << 30, MaxRatio: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Quarantined != 1 || st.Records != 10 || st.Objects != 2 {
		t.Fatalf("stats %+v", st)
	}
	items, _ := l.Quarantine(context.Background(), catalog.QuarantineFilter{})
	if len(items) != 1 || !strings.Contains(items[0].Reason, "decompression") || !strings.HasSuffix(items[0].Key, "bomb.json.gz") {
		t.Fatalf("quarantine: %+v", items)
	}
	// Not retried by the next run.
	st = mustRun(t, context.Background(), c, b, l, collect.Options{Limits: format.Limits{MaxDecompressed: 1 << 30, MaxRatio: 100}})
	if st.Quarantined != 0 || st.Objects != 0 {
		t.Errorf("second run touched the quarantined object: %+v", st)
	}
}

func TestStartAndBackfillWindow(t *testing.T) {
	objs := trail(4, 5)
	c, b, l := setup(t, objs)
	c.Start = time.Now().Add(time.Hour) // everything is older than the start
	st := mustRun(t, context.Background(), c, b, l, collect.Options{})
	if st.Records != 0 {
		t.Fatalf("objects before the start were collected: %+v", st)
	}
	c.Start = time.Now().Add(-time.Hour)
	st = mustRun(t, context.Background(), c, b, l, collect.Options{To: time.Now().Add(-time.Hour)})
	if st.Records != 0 {
		t.Fatalf("backfill window excluded everything but got %+v", st)
	}
	st = mustRun(t, context.Background(), c, b, l, collect.Options{})
	if st.Records != 20 {
		t.Fatalf("records %d, want 20", st.Records)
	}
}

func TestCommitFailureStopsRun(t *testing.T) {
	objs := trail(2, 100)
	c, b, l := setup(t, objs)
	st, err := collect.Run(context.Background(), c, b, failingStore{l}, collect.Options{})
	if err == nil || !errors.Is(err, errDisk) {
		t.Fatalf("want the commit error, got %v (%+v)", err, st)
	}
	if total(t, l) != 0 {
		t.Error("records were stored although every commit failed")
	}
}

var errDisk = errors.New("disk full")

type failingStore struct{ *app.Lake }

func (failingStore) CommitMany(context.Context, []*ingest.Batch) error { return errDisk }

// TestDigestSkippedOnce: a digest among log objects (here an export folder
// with no date structure) is skipped by its key, once.
func TestDigestSkippedOnce(t *testing.T) {
	objs := trail(2, 5)
	for i := range objs {
		objs[i].Key = "exports/" + filepath.Base(objs[i].Key)
	}
	d := gen.Digest("", "", "123456789012", "us-east-1", time.Now())
	d.Key = "exports/" + filepath.Base(d.Key)
	c, b, l := setup(t, append(objs, d))
	c.Prefix = "exports"
	st, err := collect.Run(context.Background(), c, b, l, collect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Skipped != 1 || st.Records != 10 || st.Objects != 2 {
		t.Fatalf("first run %+v", st)
	}
	st = mustRun(t, context.Background(), c, b, l, collect.Options{})
	if st.Skipped != 0 || st.Records != 0 {
		t.Fatalf("second run reported again: %+v", st)
	}
}

// TestLateObjectsAndSteadyListing: after a first run, a run lists only the
// newest day per partition; an object delivered late under an earlier key
// is collected once; an object older than the lookback is never listed.
func TestLateObjectsAndSteadyListing(t *testing.T) {
	now := time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC)
	mk := func(day time.Time, name string, lm time.Time) (gen.Object, time.Time) {
		o := gen.CloudTrail(gen.CloudTrailSpec{Seed: uint64(lm.UnixNano()), Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"},
			Start: day, Span: time.Minute, Objects: 1, RecordsPerObj: 3})[0]
		o.Key = "AWSLogs/123456789012/CloudTrail/us-east-1/" + day.Format("2006/01/02/") + name
		return o, lm
	}
	var objs []gen.Object
	var times []time.Time
	for d := 0; d < 5; d++ {
		day := now.AddDate(0, 0, -d).Truncate(24 * time.Hour)
		o, lm := mk(day, "f"+day.Format("0102")+".json.gz", day.Add(time.Hour))
		objs, times = append(objs, o), append(times, lm)
	}
	c, b, l := setup(t, objs)
	root := filepath.Join(b.Root())
	for i, o := range objs {
		os.Chtimes(filepath.Join(root, filepath.FromSlash(o.Key)), times[i], times[i])
	}
	c.Start = now.AddDate(0, 0, -30)
	clock := func() time.Time { return now }
	st, err := collect.Run(context.Background(), c, b, l, collect.Options{Now: clock})
	if err != nil || st.Records != 15 {
		t.Fatalf("first run %+v %v", st, err)
	}
	first := st.Listings

	// A late object: today's folder, a key sorting before the others, delivered now.
	late, _ := mk(now.Truncate(24*time.Hour), "a-late.json.gz", now)
	// A very late object: three days back, beyond the lookback.
	old, _ := mk(now.AddDate(0, 0, -3).Truncate(24*time.Hour), "a-old.json.gz", now)
	for _, o := range []gen.Object{late, old} {
		p := filepath.Join(root, filepath.FromSlash(o.Key))
		os.WriteFile(p, o.Body, 0o644)
		os.Chtimes(p, now, now)
	}
	st, err = collect.Run(context.Background(), c, b, l, collect.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 3 {
		t.Fatalf("second run stored %d records, want the late object's 3", st.Records)
	}
	// Steady state: discovery (4 levels) plus the newest day.
	if st.Listings > 6 || st.Listings >= first {
		t.Errorf("steady-state listings %d (first run %d)", st.Listings, first)
	}
	// A backfill over the old day finds the very late object, once.
	st = mustRun(t, context.Background(), c, b, l, collect.Options{Now: clock, From: now.AddDate(0, 0, -4), To: now.Add(time.Minute)})
	if st.Records != 3 {
		t.Errorf("backfill stored %d, want 3", st.Records)
	}
	st = mustRun(t, context.Background(), c, b, l, collect.Options{Now: clock, From: now.AddDate(0, 0, -4), To: now.Add(time.Minute)})
	if st.Records != 0 {
		t.Errorf("second backfill stored %d, want 0", st.Records)
	}
	if got := total(t, l); got != 21 {
		t.Errorf("lake holds %d, want 21", got)
	}
}

// poisonStore refuses, like a store meeting a value it cannot hold, every
// commit that contains a record whose raw text holds "POISON".
type poisonStore struct {
	*app.Lake
	refused int
}

func (p *poisonStore) CommitMany(ctx context.Context, bs []*ingest.Batch) error {
	for _, b := range bs {
		for _, i := range b.Sel {
			if raw := b.Rows.StrBytes(interflow.FRaw, int(i)); bytes.Contains(raw, []byte("POISON")) {
				p.refused++
				return errors.New(`Conversion Error: could not bind parameter: "POISON"`)
			}
		}
	}
	return p.Lake.CommitMany(ctx, bs)
}

// TestRefusedRecordIsQuarantinedRestCommits: when the lake refuses a group
// commit because of one record's content, the run retries per object and
// per record, quarantines that record with the reason, commits the rest,
// and a second run adds nothing.
func TestRefusedRecordIsQuarantinedRestCommits(t *testing.T) {
	objs := trail(6, 200)
	// Poison record 137 of the third object.
	body, _ := gunzip(objs[2].Body)
	at := bytes.Index(body, []byte(`"eventName":`))
	for i := 0; i < 137; i++ {
		at += bytes.Index(body[at+1:], []byte(`"eventName":`)) + 1
	}
	body = append(body[:at:at], append([]byte(`"poison":"POISON",`), body[at:]...)...)
	objs[2].Body = gzipBytes(body)
	c, b, l := setup(t, objs)
	ps := &poisonStore{Lake: l}
	st, err := collect.Run(context.Background(), c, b, ps, collect.Options{Workers: 2, BatchSize: 500})
	if err != nil {
		t.Fatalf("the run failed: %v", err)
	}
	if ps.refused == 0 {
		t.Fatal("the poisoned record never reached the store")
	}
	if st.Records != 1199 || st.Quarantined != 1 || st.Objects != 6 || st.Errors != 0 {
		t.Fatalf("stats %+v, want 1199 records, 1 quarantined, 6 objects", st)
	}
	if got := total(t, l); got != 1199 {
		t.Fatalf("lake holds %d, want 1199", got)
	}
	items, err := l.Quarantine(context.Background(), catalog.QuarantineFilter{})
	if err != nil || len(items) != 1 || items[0].Position != 137 || !strings.Contains(items[0].Reason, "could not store") ||
		!bytes.Contains(items[0].Raw, []byte("POISON")) || items[0].Key != objs[2].Key {
		t.Fatalf("quarantine %+v %v", items, err)
	}
	st, err = collect.Run(context.Background(), c, b, ps, collect.Options{})
	if err != nil || st.Records != 0 || st.Quarantined != 0 {
		t.Fatalf("second run %+v %v", st, err)
	}
	if got := total(t, l); got != 1199 {
		t.Fatalf("after the second run the lake holds %d", got)
	}
}

func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// countingStore counts the catalog lookups of checkpoints.
type countingStore struct {
	*app.Lake
	one, many int
}

func (c *countingStore) ObjectStateOf(ctx context.Context, id, key string) (ingest.ObjectState, bool, error) {
	c.one++
	return c.Lake.ObjectStateOf(ctx, id, key)
}

func (c *countingStore) ObjectStatesOf(ctx context.Context, id string, keys []string) (map[string]ingest.ObjectState, error) {
	c.many++
	return c.Lake.ObjectStatesOf(ctx, id, keys)
}

// flatFolder writes n one-record objects into one folder with no date
// structure, last modified 11 to 20 days ago (older than what a steady run
// loads up front), and returns the connector over them.
func flatFolder(tb testing.TB, n int) (*connector.Connector, *local.Bucket, *app.Lake, time.Time) {
	tb.Helper()
	now := time.Now().UTC()
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 2, Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"},
		Start: now.Add(-20 * 24 * time.Hour), Span: 9 * 24 * time.Hour, Objects: n, RecordsPerObj: 1})
	root := tb.TempDir()
	dir := filepath.Join(root, "b", "exports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for i, o := range objs {
		p := filepath.Join(dir, fmt.Sprintf("%06d-%s", i, filepath.Base(o.Key)))
		if err := os.WriteFile(p, o.Body, 0o644); err != nil {
			tb.Fatal(err)
		}
		lm := now.Add(-20*24*time.Hour + time.Duration(i)*9*24*time.Hour/time.Duration(n))
		os.Chtimes(p, lm, lm)
	}
	b, err := local.New(root, "b")
	if err != nil {
		tb.Fatal(err)
	}
	l, err := app.OpenLake(context.Background(), filepath.Join(tb.TempDir(), "trawl.db"), app.LakeOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	c := &connector.Connector{ID: "flat", Name: "flat", Tenant: "acme", SubType: connector.CloudTrail, Bucket: "b", Prefix: "exports",
		Start: now.Add(-30 * 24 * time.Hour)}
	return c, b, l, now
}

// TestFlatFolderLookupsPerPage: a steady-state run over a folder with no
// date structure looks its checkpoints up a listing page at a time, never
// one object at a time, so its catalog cost does not grow per object.
func TestFlatFolderLookupsPerPage(t *testing.T) {
	c, b, l, _ := flatFolder(t, 2500)
	cs := &countingStore{Lake: l}
	st, err := collect.Run(context.Background(), c, b, cs, collect.Options{})
	if err != nil || st.Objects != 2500 {
		t.Fatalf("first run %+v %v", st, err)
	}
	cs.one, cs.many = 0, 0
	st, err = collect.Run(context.Background(), c, b, cs, collect.Options{})
	if err != nil || st.Objects != 0 || st.Records != 0 {
		t.Fatalf("steady run %+v %v", st, err)
	}
	if cs.one != 0 || cs.many > 3 {
		t.Errorf("steady run made %d single and %d page lookups for 2,500 objects; want 0 and at most 3", cs.one, cs.many)
	}
}

// mustRun runs a collection and fails the test on its error, so a test
// never asserts zero counts of a run that failed.
func mustRun(t *testing.T, ctx context.Context, c *connector.Connector, b collect.Bucket, st collect.Store, opt collect.Options) collect.Stats {
	t.Helper()
	s, err := collect.Run(ctx, c, b, st, opt)
	if err != nil {
		t.Fatalf("run: %v (%+v)", err, s)
	}
	return s
}

// TestLateObjectInYesterdaysFolder: after midnight, an object delivered
// into the previous day's folder (hours behind the watermark, beyond the
// lookback) is still collected: the previous UTC day is always listed.
func TestLateObjectInYesterdaysFolder(t *testing.T) {
	now := time.Date(2024, 5, 10, 1, 30, 0, 0, time.UTC)
	mk := func(day time.Time, name string) gen.Object {
		o := gen.CloudTrail(gen.CloudTrailSpec{Seed: uint64(len(name)), Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"},
			Start: day, Span: time.Minute, Objects: 1, RecordsPerObj: 3})[0]
		o.Key = "AWSLogs/123456789012/CloudTrail/us-east-1/" + day.Format("2006/01/02/") + name
		return o
	}
	today := mk(time.Date(2024, 5, 10, 0, 0, 0, 0, time.UTC), "b-today.json.gz")
	c, b, l := setup(t, []gen.Object{today})
	root := b.Root()
	delivered := time.Date(2024, 5, 10, 1, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(root, filepath.FromSlash(today.Key)), delivered, delivered)
	c.Start = now.AddDate(0, 0, -30)
	clock := func() time.Time { return now }
	if st := mustRun(t, context.Background(), c, b, l, collect.Options{Now: clock}); st.Records != 3 {
		t.Fatalf("first run stored %d", st.Records)
	}
	// Delivered now into yesterday's folder: the watermark (01:00) less
	// the lookback (1 h) does not reach back to it.
	late := mk(time.Date(2024, 5, 9, 0, 0, 0, 0, time.UTC), "a-late.json.gz")
	p := filepath.Join(root, filepath.FromSlash(late.Key))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, late.Body, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, now, now)
	if st := mustRun(t, context.Background(), c, b, l, collect.Options{Now: clock}); st.Records != 3 {
		t.Errorf("the late object in yesterday's folder: %d records stored, want 3", st.Records)
	}
}

// TestALBDiscoveryAndSkips: an alb connector on the account's folder
// collects the Application Load Balancer logs under elasticloadbalancing/
// (found by discovery, like CloudTrail's region and date folders), leaves
// the CloudTrail folder beside it alone, and skips a Network Load
// Balancer's log delivered to the same folder.
func TestALBDiscoveryAndSkips(t *testing.T) {
	now := time.Now().UTC()
	albs := gen.ALB(gen.ALBSpec{Seed: 3, Account: "123456789012", Region: "eu-west-1", LB: "shop", Start: now.Add(-40 * time.Minute), Span: 30 * time.Minute, Objects: 3, RecordsPerObj: 20})
	var objs []gen.Object
	want := 0
	for _, a := range albs {
		objs = append(objs, a.Object)
		want += a.Records
	}
	nlb := albs[0].Object
	nlb.Key = strings.Replace(nlb.Key, "_app.shop.", "_net.shop.", 1)
	objs = append(objs, nlb)
	objs = append(objs, trail(1, 5)...)
	c, b, l := setup(t, objs)
	c.SubType, c.Prefix = connector.ALB, "AWSLogs/123456789012"
	st := mustRun(t, context.Background(), c, b, l, collect.Options{})
	if st.Records != int64(want) || st.Objects != 3 || st.Skipped != 1 || st.Quarantined != 0 {
		t.Fatalf("run %+v, want %d records from 3 objects and the NLB log skipped", st, want)
	}
	if n := total(t, l); n != int64(want) {
		t.Fatalf("%d rows, want %d", n, want)
	}
}

// listCounter counts the objects its bucket's listings hand over.
type listCounter struct {
	collect.Bucket
	listed int
}

func (l *listCounter) List(ctx context.Context, prefix, startAfter string, fn func(source.Object) error) error {
	return l.Bucket.List(ctx, prefix, startAfter, func(o source.Object) error {
		l.listed++
		return fn(o)
	})
}

// TestS3AccessLayouts: an s3access connector on a target prefix collects
// the flat, time-named objects and the date-partitioned ones beside them
// (account and region from the key), once each; the next run lists the
// flat folder from yesterday's names on, so the history before it
// (objects named weeks ago) is not listed again.
func TestS3AccessLayouts(t *testing.T) {
	now := time.Now().UTC()
	spec := gen.S3AccessSpec{Seed: 3, Account: "123456789012", Region: "eu-west-1", Bucket: "src", Prefix: "logs/",
		Start: now.Add(-40 * time.Minute), Span: 30 * time.Minute, Objects: 3, RecordsPerObj: 20}
	flat := gen.S3Access(spec)
	spec.Seed, spec.Partitioned, spec.Objects, spec.RecordsPerObj = 4, true, 2, 15
	part := gen.S3Access(spec)
	var objs []gen.Object
	want := 0
	for _, o := range append(flat, part...) {
		objs = append(objs, o.Object)
		want += o.Records
	}
	for i := range 50 {
		old := flat[0].Object
		old.Key = fmt.Sprintf("logs/%s-OLD%012d", now.AddDate(0, 0, -20).Add(time.Duration(i)*time.Minute).Format("2006-01-02-15-04-05"), i)
		objs = append(objs, old)
		want += old.Records
	}
	c, b, l := setup(t, objs)
	c.SubType, c.Prefix, c.Start = connector.S3Access, "logs", now.AddDate(0, 0, -30)
	st := mustRun(t, context.Background(), c, b, l, collect.Options{})
	if st.Records != int64(want) || st.Objects != 55 || st.Quarantined != 0 || st.Partitions != 2 {
		t.Fatalf("run %+v, want %d records from 55 objects in 2 partitions", st, want)
	}
	if n := total(t, l); n != int64(want) {
		t.Fatalf("%d rows, want %d", n, want)
	}
	lc := &listCounter{Bucket: b}
	st = mustRun(t, context.Background(), c, lc, l, collect.Options{})
	if st.Records != 0 || st.Objects != 0 {
		t.Errorf("second run collected %+v", st)
	}
	// Discovery meets an object per folder and per year of names; the
	// listing, the 5 recent objects: far fewer than the 50 old ones.
	if lc.listed > 15 || st.Listings > 15 {
		t.Errorf("second run listed %d objects in %d requests; the history of 50 objects must not be listed", lc.listed, st.Listings)
	}
	// A notified key lands in the partition discovery found for it.
	tmpl, _ := prefix.Parse("logs", prefix.Options{AllowWildcard: true})
	for _, k := range []struct {
		key, part string
		kind      prefix.Kind
	}{{flat[1].Key, "logs/", prefix.TimeNamed}, {part[1].Key, "logs/123456789012/eu-west-1/src/", prefix.Dated}} {
		if p, why := collect.PartitionOf(tmpl, k.key, c); why != "" || p.Prefix != k.part || p.Kind != k.kind {
			t.Errorf("%s: partition %+v (%s), want %s %v", k.key, p, why, k.part, k.kind)
		}
	}
	if !strings.HasPrefix(part[0].Key, "logs/123456789012/eu-west-1/src/"+spec.Start.Add(5*time.Minute).Format("2006/01/02/")) {
		t.Errorf("partitioned key %s", part[0].Key)
	}
}

// TestGuardDutyDiscoveryAndRegions: a guardduty connector on the
// account's folder collects the findings exported under GuardDuty/ in
// every region (found by discovery, like CloudTrail's region and date
// folders), leaves the CloudTrail folder beside it alone, and with
// Regions set leaves the other regions' folders out; a second run
// collects nothing again.
func TestGuardDutyDiscoveryAndRegions(t *testing.T) {
	now := time.Now().UTC()
	spec := gen.GuardDutySpec{Seed: 5, Account: "123456789012", Start: now.Add(-40 * time.Minute), Span: 30 * time.Minute, Objects: 3, RecordsPerObj: 8, Highs: 1}
	var objs []gen.Object
	want := map[string]int{}
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		spec.Region = region
		for _, g := range gen.GuardDuty(spec) {
			objs = append(objs, g.Object)
			want[region] += g.Records
		}
	}
	objs = append(objs, trail(1, 5)...)
	c, b, l := setup(t, objs)
	c.SubType, c.Prefix = connector.GuardDuty, "AWSLogs/123456789012"
	st := mustRun(t, context.Background(), c, b, l, collect.Options{})
	if all := want["us-east-1"] + want["eu-west-1"]; st.Records != int64(all) || st.Objects != 6 || st.Quarantined != 0 {
		t.Fatalf("run %+v, want %d records from 6 objects", st, all)
	}
	if st := mustRun(t, context.Background(), c, b, l, collect.Options{}); st.Records != 0 || st.Objects != 0 {
		t.Errorf("a second run collected %+v", st)
	}

	c2, b2, l2 := setup(t, objs)
	c2.SubType, c2.Prefix, c2.Regions = connector.GuardDuty, "AWSLogs/123456789012", []string{"eu-west-1"}
	if st := mustRun(t, context.Background(), c2, b2, l2, collect.Options{}); st.Records != int64(want["eu-west-1"]) || st.Objects != 3 {
		t.Errorf("with regions eu-west-1: %+v, want %d records from 3 objects", st, want["eu-west-1"])
	}
	if n := total(t, l2); n != int64(want["eu-west-1"]) {
		t.Errorf("%d rows, want %d", n, want["eu-west-1"])
	}
}
