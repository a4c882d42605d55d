package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
	"github.com/trawlhq/trawl/internal/segment"
)

func openTest(t *testing.T) *Lake {
	t.Helper()
	l, err := OpenLake(context.Background(), filepath.Join(t.TempDir(), "trawl.db"), testOptions(t, LakeOptions{MemoryLimit: "256MB"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

var base = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func event(tenant string, pos int64, name, ip, errCode string) *interflow.Record {
	r := interflow.New(interflow.Events())
	r.Stamp(interflow.Provenance{Tenant: tenant, Connector: "c", Bucket: "b", Key: "k-" + tenant, ETag: "e"}, pos, "cloudtrail", "paas")
	r.Set(interflow.FTimestamp, base.Add(time.Duration(pos)*time.Minute))
	r.SetString(interflow.EEventName, name)
	r.SetString(interflow.FSrcIP, ip)
	r.SetString(interflow.EErrorCode, errCode)
	r.Set(interflow.FRaw, fmt.Sprintf(`{"eventName":%q,"note":"Mimikatz-%d"}`, name, pos))
	return r
}

func flow(tenant string, pos int64, dport int64, action string) *interflow.Record {
	r := interflow.New(interflow.Traffic())
	r.Stamp(interflow.Provenance{Tenant: tenant, Connector: "f", Bucket: "b", Key: "flows", ETag: "e"}, pos, "vpcflow", "paas")
	r.Set(interflow.FTimestamp, base.Add(time.Duration(pos)*time.Minute))
	r.Set(interflow.TDstPort, dport)
	r.SetString(interflow.FAction, action)
	r.SetString(interflow.FSrcIP, "172.16.0.9")
	r.Set(interflow.FRaw, "2 123 eni-1 172.16.0.9")
	return r
}

func seed(t *testing.T, l *Lake) {
	ctx := context.Background()
	evs := []*interflow.Record{
		event("acme", 0, "GetObject", "10.1.2.3", ""),
		event("acme", 1, "GetObjectAcl", "10.200.0.1", "AccessDenied"),
		event("acme", 2, "CreateUser", "198.51.100.7", ""),
		event("acme", 3, "ConsoleLogin", "2001:db8::5", ""),
		event("globex", 4, "CreateUser", "10.1.2.3", ""),
	}
	if err := l.Commit(ctx, ingest.RecordsBatch("c1", ingest.ObjectState{Key: "k-acme", Version: "e", Position: 4, Done: true, Records: 4}, evs[:4]...)); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, ingest.RecordsBatch("c2", ingest.ObjectState{Key: "k-globex", Version: "e", Position: 1, Done: true, Records: 1}, evs[4:]...)); err != nil {
		t.Fatal(err)
	}
	fl := []*interflow.Record{flow("acme", 0, 22, "REJECT"), flow("acme", 1, 443, "ACCEPT"), flow("acme", 2, 3389, "REJECT")}
	if err := l.Commit(ctx, ingest.RecordsBatch("c3", ingest.ObjectState{Key: "flows", Version: "e", Position: 3, Done: true, Records: 3}, fl...)); err != nil {
		t.Fatal(err)
	}
}

func TestSearchSemantics(t *testing.T) {
	l := openTest(t)
	seed(t, l)
	ctx := context.Background()
	all := func(q string, tenants ...string) int64 {
		t.Helper()
		n, err := l.Count(ctx, segment.SearchRequest{Query: q, Tenants: tenants, From: base.Add(-time.Hour), To: base.Add(time.Hour)})
		if err != nil {
			t.Fatalf("Count(%q): %v", q, err)
		}
		return n
	}
	cases := []struct {
		q       string
		tenants []string
		want    int64
	}{
		{"", nil, 8},
		{"", []string{"acme"}, 7},
		{"", []string{"globex"}, 1},
		{"event_name:CreateUser", nil, 2},
		{"event_name:CreateUser", []string{"acme"}, 1},
		{"event_name:GetObject*", nil, 2},
		{"event_name:getobject", nil, 0},
		{"srcip:10.0.0.0/8", nil, 3},
		{"srcip:10.1.2.3", nil, 2},
		{"srcip:2001:db8::/32", nil, 1},
		{"srcip:172.16.0.0/12", nil, 3},
		{"dstport:[1 TO 1024]", nil, 2},
		{"dstport:>1024", nil, 1},
		{"action:REJECT", nil, 2},
		{"error_code:*", nil, 1},
		{"NOT error_code:*", []string{"acme"}, 6},
		{"NOT event_name:CreateUser", nil, 6},
		{"mimikatz-2", nil, 1},
		{`"MIMIKATZ"`, nil, 5},
		{"msg_class:vpcflow AND action:REJECT", nil, 2},
		{"event_name:(CreateUser OR ConsoleLogin) AND NOT tenant:globex", nil, 2},
		{"index:traffic", nil, 3},
		{"timestamp:[2024-05-01T10:01:00Z TO 2024-05-01T10:02:00Z]", nil, 4},
	}
	for _, c := range cases {
		if got := all(c.q, c.tenants...); got != c.want {
			t.Errorf("count(%q, %v) = %d, want %d", c.q, c.tenants, got, c.want)
		}
	}
	// Time range applies.
	n, _ := l.Count(ctx, segment.SearchRequest{From: base.Add(2 * time.Minute), To: base.Add(3 * time.Minute)})
	if n != 2 {
		t.Errorf("time-scoped count = %d, want 2", n)
	}
}

func TestSearchErrorsArePositioned(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	for q, pos := range map[string]int{"nosuch:1": 0, "event_name:x AND dstport:abc": 17, "srcip:10.0.0.0/99": 0, "dstport:Get*": 0} {
		_, err := l.Count(ctx, segment.SearchRequest{Query: q, From: base, To: base.Add(time.Hour)})
		var fe *query.FieldError
		var ve *query.ValueError
		var qe *query.Error
		switch {
		case errors.As(err, &fe):
			if fe.Pos != pos {
				t.Errorf("%q: pos %d, want %d", q, fe.Pos, pos)
			}
		case errors.As(err, &ve):
			if ve.Pos != pos {
				t.Errorf("%q: pos %d, want %d", q, ve.Pos, pos)
			}
		case errors.As(err, &qe):
		default:
			t.Errorf("%q: want a positioned error, got %v", q, err)
		}
	}
}

func TestSearchPagingNewestFirst(t *testing.T) {
	l := openTest(t)
	seed(t, l)
	ctx := context.Background()
	req := segment.SearchRequest{Tenants: []string{"acme"}, From: base.Add(-time.Hour), To: base.Add(time.Hour), Limit: 3}
	seen := map[string]bool{}
	var last time.Time
	for page := 0; page < 5; page++ {
		res, err := l.Search(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Rows {
			id := r["id"].(string)
			if seen[id] {
				t.Fatalf("record %s on two pages", id)
			}
			seen[id] = true
			ts := r["timestamp"].(time.Time)
			if !last.IsZero() && ts.After(last) {
				t.Fatalf("not newest first: %v after %v", ts, last)
			}
			last = ts
			if r["tenant"] != "acme" {
				t.Fatalf("tenant leak: %v", r["tenant"])
			}
		}
		if res.Next == nil {
			break
		}
		req.Before = res.Next
	}
	if len(seen) != 7 {
		t.Errorf("paged through %d records, want 7", len(seen))
	}
}

func TestHistogramAndTop(t *testing.T) {
	l := openTest(t)
	seed(t, l)
	ctx := context.Background()
	req := segment.SearchRequest{From: base, To: base.Add(10 * time.Minute)}
	hb, err := l.Histogram(ctx, req, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, b := range hb {
		sum += b.Count
	}
	if len(hb) != 10 || sum != 8 {
		t.Errorf("histogram: %d buckets, %d records; want 10, 8", len(hb), sum)
	}
	top, err := l.Top(ctx, req, "srcip", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 || top[0].Value != "172.16.0.9" || top[0].Count != 3 || top[1].Value != "10.1.2.3" || top[1].Count != 2 {
		t.Errorf("top srcip = %+v", top)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	opt := testOptions(t, LakeOptions{})
	l, err := OpenLake(ctx, filepath.Join(dir, "trawl.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, l)
	l.Close()
	l, err = OpenLake(ctx, filepath.Join(dir, "trawl.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n, _ := l.Count(ctx, segment.SearchRequest{From: base.Add(-time.Hour), To: base.Add(time.Hour)})
	if n != 8 {
		t.Errorf("after reopen: %d records, want 8", n)
	}
}

// TestPagingOverOverlappingSegments: segments whose times overlap (several
// nodes or workers committing the same hours, a long segment beside short
// ones) are paged through whole: every record once. The first chunk of
// segments ends with one whose rows are all newer than a page's cursor
// while another segment of it still holds older rows.
func TestPagingOverOverlappingSegments(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	commit := func(key string, positions ...int64) {
		var recs []*interflow.Record
		for _, p := range positions {
			r := event("acme", p, "GetObject", "10.0.0.1", "")
			r.Stamp(interflow.Provenance{Tenant: "acme", Connector: "c", Bucket: "b", Key: key, ETag: "e"}, p, "cloudtrail", "paas")
			recs = append(recs, r)
		}
		if err := l.Commit(ctx, ingest.RecordsBatch("c1", ingest.ObjectState{Key: key, Version: "e", Position: int64(len(positions)), Done: true}, recs...)); err != nil {
			t.Fatal(err)
		}
	}
	// A long segment spanning minutes 0..60, and short ones inside it.
	long := make([]int64, 0, 61)
	for p := int64(0); p <= 60; p += 2 {
		long = append(long, p)
	}
	commit("long", long...)
	for i := int64(0); i < 6; i++ {
		commit(fmt.Sprintf("short-%d", i), 50+i*2+1, 51+i*2+1)
	}
	want := len(long) + 12
	for _, limit := range []int{1, 2, 3, 5, 7} {
		req := segment.SearchRequest{Tenants: []string{"acme"}, From: base.Add(-time.Hour), To: base.Add(2 * time.Hour), Limit: limit}
		seen := map[string]bool{}
		for page := 0; page < 200; page++ {
			res, err := l.Search(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Rows {
				id := r["id"].(string)
				if seen[id] {
					t.Fatalf("limit %d: record %s on two pages", limit, id)
				}
				seen[id] = true
			}
			if res.Next == nil {
				break
			}
			req.Before = res.Next
		}
		if len(seen) != want {
			t.Errorf("limit %d: paged through %d records, want %d", limit, len(seen), want)
		}
	}
}

// TestSearchRawPaths: raw.<path> reaches values inside the original JSON
// record that Interflow does not normalise; a VPC flow line (not JSON) and
// a record without the key have none.
func TestSearchRawPaths(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	raws := []string{
		`{"eventName":"PutBucketAcl","requestParameters":{"bucketName":"secret-bucket","x-amz-acl":"public-read"},"additionalEventData":{"MFAUsed":"No"}}`,
		`{"eventName":"PutBucketAcl","requestParameters":{"bucketName":"logs"},"additionalEventData":{"MFAUsed":"Yes"}}`,
		`{"eventName":"GetObject","requestParameters":{"bucketName":"secret-bucket-2","n":7}}`,
	}
	var recs []*interflow.Record
	for i, raw := range raws {
		r := event("acme", int64(i), "PutBucketAcl", "10.0.0.1", "")
		r.Set(interflow.FRaw, raw)
		recs = append(recs, r)
	}
	if err := l.Commit(ctx, ingest.RecordsBatch("c1", ingest.ObjectState{Key: "k-acme", Version: "e", Position: 3, Done: true}, recs...)); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, ingest.RecordsBatch("c3", ingest.ObjectState{Key: "flows", Version: "e", Position: 1, Done: true}, flow("acme", 0, 22, "REJECT"))); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]int64{
		"raw.requestParameters.bucketName:secret-bucket":                 1,
		"raw.requestParameters.bucketName:secret-bucket*":                2,
		`raw.requestParameters.x-amz-acl:public-read`:                    1,
		"raw.additionalEventData.MFAUsed:No AND event_name:PutBucketAcl": 1,
		"raw.requestParameters.n:7":                                      1,
		"raw.additionalEventData:*":                                      2,
		"NOT raw.additionalEventData.MFAUsed:Yes":                        3, // two events and the flow
	} {
		n, err := l.Count(ctx, segment.SearchRequest{Query: q, From: base.Add(-time.Hour), To: base.Add(time.Hour)})
		if err != nil || n != want {
			t.Errorf("%s: %d records (%v), want %d", q, n, err, want)
		}
	}
	if _, err := l.Count(ctx, segment.SearchRequest{Query: "raw.requestParameters.n:>5", From: base.Add(-time.Hour), To: base.Add(time.Hour)}); err == nil {
		t.Error("a comparison on a raw value was accepted")
	}
}

// TestTopIPAgreesWithReference: Top over an IP field gives the counts a
// plain tally of the same records gives, whichever way it groups: IPv4
// keys in a narrow range (counted in an array), spread over the address
// space (hashed), IPv6 beside IPv4, a time range that cuts segments, a
// query and a tenant.
func TestTopIPAgreesWithReference(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	type rec struct {
		tenant, name, ip string
		pos              int64
	}
	var all []rec
	add := func(tenant, name, ip string, times int) {
		for range times {
			all = append(all, rec{tenant, name, ip, int64(len(all))})
		}
	}
	for i := 1; i <= 30; i++ {
		add("acme", "GetObject", fmt.Sprintf("10.0.%d.%d", i%3, i), 31-i+i%2*40) // distinct counts
	}
	add("acme", "ConsoleLogin", "10.0.1.7", 25)
	add("other", "GetObject", "10.0.0.2", 200) // another tenant's
	add("acme", "AssumeRole", "AWS Internal", 90)
	// Commit in segments of at most 100 records of one tenant.
	commit := func(rs []rec) {
		byTenant := map[string][]*interflow.Record{}
		for _, r := range rs {
			byTenant[r.tenant] = append(byTenant[r.tenant], event(r.tenant, r.pos, r.name, r.ip, ""))
		}
		for tenant, recs := range byTenant {
			for start := 0; start < len(recs); start += 100 {
				key := fmt.Sprintf("%s-%d-%d", tenant, rs[0].pos, start)
				if err := l.Commit(ctx, ingest.RecordsBatch("c", ingest.ObjectState{Key: key, Version: "e", Position: 1, Done: true}, recs[start:min(start+100, len(recs))]...)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	commit(all)
	check := func(label string, req segment.SearchRequest) {
		t.Helper()
		want := map[string]int64{}
		for _, r := range all {
			ts := base.Add(time.Duration(r.pos) * time.Minute)
			if ts.Before(req.From) || !ts.Before(req.To) || (len(req.Tenants) > 0 && r.tenant != req.Tenants[0]) ||
				(req.Query == "event_name:GetObject" && r.name != "GetObject") || r.ip == "AWS Internal" {
				continue
			}
			want[netip.MustParseAddr(r.ip).Unmap().String()]++ // ::ffff:10.0.0.3 is 10.0.0.3
		}
		top, err := l.Top(ctx, req, "srcip", 1000)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		got := map[string]int64{}
		for _, v := range top {
			got[fmt.Sprint(v.Value)] = v.Count
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: top srcip\n got %v\nwant %v", label, got, want)
		}
		top5, err := l.Top(ctx, req, "srcip", 5)
		if err != nil || len(top5) != min(5, len(want)) || (len(top5) > 0 && top5[0].Count != top[0].Count) {
			t.Errorf("%s: top 5 %v %v", label, top5, err)
		}
	}
	whole := segment.SearchRequest{From: base, To: base.Add(time.Duration(len(all)+1) * time.Minute)}
	check("narrow IPv4 range", whole)
	cut := segment.SearchRequest{From: base.Add(150 * time.Minute), To: base.Add(420 * time.Minute)}
	check("a time range that cuts segments", cut)
	check("a query and a tenant", segment.SearchRequest{From: whole.From, To: whole.To, Query: "event_name:GetObject", Tenants: []string{"acme"}})

	// Addresses across the IPv4 space and IPv6 ones beside them.
	add("acme", "GetObject", "1.2.3.4", 7)
	add("acme", "GetObject", "223.255.255.1", 300)
	add("acme", "GetObject", "2001:db8::1", 120)
	add("acme", "GetObject", "::ffff:10.0.0.3", 4)
	commit(all[len(all)-431:])
	whole.To = base.Add(time.Duration(len(all)+1) * time.Minute)
	check("IPv4 spread over the space, and IPv6", whole)
}

// TestOpensWithADamagedTableMetadata: the sweep at open of the tables'
// metadata folders is housekeeping: a current metadata file it cannot
// read (a damaged file, a store's hiccup) does not keep the lake from
// opening, and the records stay searchable.
func TestOpensWithADamagedTableMetadata(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	opt := testOptions(t, LakeOptions{})
	l, err := OpenLake(ctx, filepath.Join(dir, "trawl.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, l)
	if err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	kept, err := l.IcebergKept(ctx)
	if err != nil || len(kept.Current) == 0 {
		t.Fatalf("no published table: %+v %v", kept, err)
	}
	for _, current := range kept.Current {
		if err := l.PutFile(ctx, current, func(w io.Writer) error { _, err := io.WriteString(w, "not json"); return err }); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	l, err = OpenLake(ctx, filepath.Join(dir, "trawl.db"), opt)
	if err != nil {
		t.Fatalf("a damaged table's metadata kept the lake from opening: %v", err)
	}
	defer l.Close()
	if n, _ := l.Count(ctx, segment.SearchRequest{From: base.Add(-time.Hour), To: base.Add(time.Hour)}); n != 8 {
		t.Errorf("after reopen: %d records, want 8", n)
	}
}
