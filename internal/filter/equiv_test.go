package filter_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/filter"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/segment"
)

var base = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

var (
	ips     = []string{"10.0.0.1", "10.0.0.3", "10.0.0.9", "10.0.0.10", "10.0.0.20", "10.0.0.21", "10.0.1.3", "192.168.1.5", "::ffff:10.0.0.7", "2001:db8::1", "2001:db8::ff", "255.255.255.255", "::"}
	words   = []string{"alpha", "Beta", "GAMMA", "déjà", "Ünïcode", "x_y", "50%", "a*b", "get", "GetObject", "Describe", "f(x).y+[z]", "alphax", "alpha-gamma", "xalpha", "getobject."}
	actions = []string{"ACCEPT", "REJECT", "accept", "BLOCK"}
	names   = []string{"GetObject", "PutObject", "ConsoleLogin", "getobject", "Get", "Délete", "AssumeRole"}
	labels  = []string{"awswaf:managed:bot", "awswaf:core:sqli", "x"}
)

// randomRecord fills a record of either index with values from small
// domains, so random queries hit, miss and meet absent fields.
func randomRecord(r *rand.Rand, i int) *interflow.Record {
	s := interflow.Traffic()
	if r.IntN(2) == 0 {
		s = interflow.Events()
	}
	rec := interflow.New(s)
	rec.Stamp(interflow.Provenance{Tenant: "acme", Connector: "c", Bucket: "b", Key: fmt.Sprintf("k%d", i), ETag: "e"}, int64(i), "x", "paas")
	// Sub-microsecond parts test that both sides compare at microseconds.
	rec.Set(interflow.FTimestamp, base.Add(time.Duration(r.IntN(3600))*time.Second+time.Duration(r.IntN(3))*time.Microsecond))
	maybe := func(idx int, v any) {
		if r.IntN(4) > 0 {
			rec.Set(idx, v)
		}
	}
	maybe(interflow.FSrcIP, pick(r, ips))
	maybe(interflow.FAction, pick(r, actions))
	var raw []string
	for range 1 + r.IntN(4) {
		raw = append(raw, pick(r, words))
	}
	rec.Set(interflow.FRaw, strings.Join(raw, " "))
	if s == interflow.Events() && r.IntN(3) > 0 {
		// A JSON record, as CloudTrail and WAF write, for raw.<path>.
		rec.Set(interflow.FRaw, pick(r, jsonRaws))
	}
	if s == interflow.Traffic() {
		maybe(interflow.TDstPort, int64(r.IntN(40)))
		maybe(interflow.TBytes, int64(r.IntN(3000)))
		maybe(interflow.TDstIP, pick(r, ips))
		maybe(interflow.TStart, base.Add(time.Duration(r.IntN(100))*time.Second))
	} else {
		maybe(interflow.EEventName, pick(r, names))
		maybe(interflow.EReadOnly, r.IntN(2) == 0)
		if r.IntN(3) > 0 {
			var l []string
			for range r.IntN(3) {
				l = append(l, pick(r, labels))
			}
			rec.Set(interflow.ELabels, l)
		}
	}
	return rec
}

// jsonRaws are raw records for raw.<path> queries: strings, booleans,
// integers, a float and objects (never equal to text), nulls, absent keys.
var jsonRaws = []string{
	`{"requestParameters":{"bucketName":"secret-bucket","acl":"public-read"},"additionalEventData":{"MFAUsed":"No"}}`,
	`{"requestParameters":{"bucketName":"logs","acl":null},"additionalEventData":{"MFAUsed":"Yes"},"readOnly":true}`,
	`{"requestParameters":{"bucketName":"Secret-Bucket","n":42},"readOnly":false,"x":{"y":1.5}}`,
	`{"requestParameters":{"n":-7,"bucketName":{"nested":"secret-bucket"}},"additionalEventData":{}}`,
	`{"responseElements":null,"requestParameters":{"bucketName":"a\u00e9b\/c"}}`,
	`{"requestParameters":{"bucketName":"SECRET-bucket","tags":["Alpha",{"k":"v"},null,7,1.50],"owner":"secret-BUCKET"},"x":{"y":1e5}}`,
	// Paths through lists: lists of objects, nested, mixed, empty.
	`{"labels":[{"name":"awswaf:core:sqli"},{"name":"x"}],"requestParameters":{"items":[{"bucketName":"secret-bucket"},[{"bucketName":"Secret-Bucket"}],null,7],"owner":"SECRET-bucket"}}`,
	`{"requestParameters":{"items":[],"tags":[{"k":"v"},{"k":null}]},"labels":[null,"awswaf:core:sqli",{"name":null}]}`,
}

// randomQuery writes a query in the search language over the fields above.
func randomQuery(r *rand.Rand, depth int) string {
	if depth > 0 && r.IntN(3) == 0 {
		l, rr := randomQuery(r, depth-1), randomQuery(r, depth-1)
		switch r.IntN(4) {
		case 0:
			return "(" + l + " OR " + rr + ")"
		case 1:
			return "NOT " + l
		case 2:
			return l + " " + rr
		}
		return "(" + l + " AND " + rr + ")"
	}
	ip := func() string { return strings.ReplaceAll(pick(r, ips), ":", `\:`) }
	bracket := func() (string, string) {
		lo, hi := "[", "]"
		if r.IntN(2) == 0 {
			lo = "{"
		}
		if r.IntN(2) == 0 {
			hi = "}"
		}
		return lo, hi
	}
	switch r.IntN(16) {
	case 0:
		return "srcip:" + ip()
	case 1:
		return "srcip:" + pick(r, []string{"10.0.0.0/28", "10.0.0.0/8", "10.0.0.8/29", "2001\\:db8\\:\\:/32", "0.0.0.0/0", "::ffff:10.0.0.0/120"})
	case 2:
		lo, hi := bracket()
		return fmt.Sprintf("srcip:%s%s TO %s%s", lo, pick(r, []string{"10.0.0.3", "10.0.0.9", "*", "::"}), pick(r, []string{"10.0.0.20", "10.0.0.21", "*", "2001:db8::1"}), hi)
	case 3:
		return "dstport:" + pick(r, []string{"", ">", ">=", "<", "<="}) + fmt.Sprint(r.IntN(40))
	case 4:
		lo, hi := bracket()
		return fmt.Sprintf("bytes:%s%d TO %s%s", lo, r.IntN(3000), pick(r, []string{"*", "1500", "2999"}), hi)
	case 5:
		return "action:" + pick(r, actions)
	case 6:
		return "event_name:" + pick(r, []string{"Get*", "*Object", "G?tObject", "D?lete", "*", "getobject", "Get", "*e*O*j*", "G*t*b*t", "*é*e*", "?*?*?*?"})
	case 7:
		return pick(r, append(words[:6:6], "alpha-gamma", `"alpha gamma"`, "a-g", "-gamma", "y+\\[z\\]"))
	case 8:
		return pick(r, []string{"alp*", "*ta", "d?j?", "ü*", `50\%`, `a\*b`, "x_y", "*a*p*a*", "a*e*t*a", "*.*(*)*", "?e*a*?"})
	case 9:
		return pick(r, []string{"labels:awswaf\\:managed\\:bot", "labels:awswaf*", "labels:*", "labels:x"})
	case 10:
		return "read_only:" + pick(r, []string{"true", "false"})
	case 11:
		lo, hi := bracket()
		a := base.Add(time.Duration(r.IntN(3600)) * time.Second).Format(time.RFC3339Nano)
		b := base.Add(time.Duration(r.IntN(3600)) * time.Second).Format(time.RFC3339Nano)
		return fmt.Sprintf("timestamp:%s%s TO %s%s", lo, a, b, hi)
	case 12:
		return "timestamp:" + pick(r, []string{">", ">=", "<", "<="}) + strings.ReplaceAll(base.Add(time.Duration(r.IntN(3600))*time.Second).Format(time.RFC3339), ":", `\:`)
	case 13:
		return pick(r, []string{"dstip:*", "srcip:*", "event_name:*", "start:*", "dstip:10.0.0.0/24"})
	case 15:
		if r.IntN(3) == 0 {
			return pick(r, []string{"event_name:/^Get/", "event_name:/Obj.ct$/", "action:/^(ACCEPT|REJECT)$/", "action:/(?i)accept/",
				`event_name:/D\x{e9}lete|AssumeRole/`, "labels:/sqli$/", "srcip:/^10\\.0\\.0\\.[0-9]$/", "event_name:/é/"})
		}
		if r.IntN(2) == 0 {
			return pick(r, []string{"raw.requestParameters.bucketName:secret-bucket", "raw.requestParameters.bucketName:*ecret*",
				"raw.additionalEventData.MFAUsed:No", "raw.readOnly:true", "raw.readOnly:false", "raw.requestParameters.n:42",
				`raw.requestParameters.n:\-7`, "raw.x.y:1.5", "raw.requestParameters.acl:*", "raw.responseElements:*",
				"raw.requestParameters.bucketName:*", `raw.requestParameters.bucketName:"aéb/c"`, "raw.requestParameters.bucketName:Secret?Bucket",
				"raw.additionalEventData.MFAUsed:/No/", "raw.additionalEventData.MFAUsed:/^No$/", "raw.additionalEventData.MFAUsed:/N./",
				"raw.additionalEventData.MFAUsed:/(?i)^(no|yes)$/", "raw.requestParameters.bucketName:/ecret-b/", "raw.requestParameters.n:/^-?[0-9]+$/",
				"raw.readOnly:/^t/", "raw.x.y:/1/", `raw.requestParameters.bucketName:/^a\x{e9}b\/c$/`,
				// The forms Sigma rules compile to: regardless of case,
				// objects as JSON text, lists by element, field references.
				"raw.requestParameters.bucketName:~secret-BUCKET", "raw.requestParameters.bucketName:~*ECRET*", "raw.requestParameters:~*secret*",
				"raw.requestParameters.tags:~alpha", "raw.requestParameters.tags:*", `raw.requestParameters.tags:"{\"k\":\"v\"}"`, "raw.requestParameters.tags:1.5",
				"raw.requestParameters.tags:7", "raw.x:*100000.0*", "raw.x.y:~1*", "raw.requestParameters.bucketName:~@raw.requestParameters.owner",
				"raw.requestParameters.bucketName:@raw.requestParameters.owner", "event_name:~@raw.requestParameters.bucketName", "event_name:~getobject", "event_name:~G*T*",
				// Paths through lists, and a reference through one (no value).
				"raw.labels.name:~*sqli*", "raw.labels.name:*", "raw.requestParameters.items.bucketName:secret-bucket",
				"raw.requestParameters.items.bucketName:~*ECRET*", "raw.requestParameters.items.bucketName:*", "raw.requestParameters.tags.k:v",
				"raw.requestParameters.tags.k:*", "raw.requestParameters.items.bucketName:/ecret/", "raw.requestParameters.owner:~@raw.requestParameters.items.bucketName"})
		}
	case 14:
		lo, hi := bracket()
		return fmt.Sprintf("action:%s%s TO %s%s", lo, pick(r, []string{"A", "ACCEPT", "*"}), pick(r, []string{"REJECT", "Z", "a"}), hi)
	}
	return "srcip:" + pick(r, []string{"10.0.*", "*::*", "10.0.0.?"})
}

// TestFilterAgreesWithSearch runs random queries over random records as a
// search in the lake (SQL) and as a log filter (in memory) and requires the
// same records from both.
func TestFilterAgreesWithSearch(t *testing.T) {
	ctx := context.Background()
	l, err := app.OpenLake(ctx, filepath.Join(t.TempDir(), "trawl.db"), app.LakeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := rand.New(rand.NewPCG(7, 11))
	var recs []*interflow.Record
	bySchema := map[*interflow.Schema][]*interflow.Record{}
	for i := range 600 {
		rec := randomRecord(r, i)
		recs = append(recs, rec)
		bySchema[rec.Schema] = append(bySchema[rec.Schema], rec)
	}
	var batches []*ingest.Batch
	for s, recs := range bySchema {
		batches = append(batches, ingest.RecordsBatch("c1", ingest.ObjectState{Key: s.Index, Version: "e", Position: int64(len(recs)), Done: true}, recs...))
	}
	if err := l.CommitMany(ctx, batches); err != nil {
		t.Fatal(err)
	}
	queries := 400
	if testing.Short() {
		queries = 100
	}
	matched := 0
	for range queries {
		q := randomQuery(r, 3)
		fs, ferr := filter.Compile([]connector.Filter{{Action: "keep", Query: q}})
		res, serr := l.Search(ctx, segment.SearchRequest{Query: q, From: base.Add(-time.Hour), To: base.Add(2 * time.Hour), Limit: 10000})
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("%q: filter error %v, search error %v", q, ferr, serr)
		}
		if ferr != nil {
			continue
		}
		var want, got []string
		for _, rec := range recs {
			if fs.KeepRecord(rec) {
				want = append(want, rec.Value(interflow.FID).(string))
			}
		}
		for _, row := range res.Rows {
			got = append(got, row["id"].(string))
		}
		sort.Strings(want)
		sort.Strings(got)
		if strings.Join(want, ",") != strings.Join(got, ",") {
			t.Errorf("%q: filter keeps %d records, search finds %d; first difference: %s", q, len(want), len(got), firstDiff(want, got, recs))
		}
		if len(got) > 0 && len(got) < len(recs) {
			matched++
		}
	}
	// The generator must produce selective queries, or the test proves little.
	if matched < queries/4 {
		t.Errorf("only %d of %d queries selected some but not all records", matched, queries)
	}
}

func firstDiff(want, got []string, recs []*interflow.Record) string {
	in := func(xs []string, s string) bool { i := sort.SearchStrings(xs, s); return i < len(xs) && xs[i] == s }
	show := func(id string) string {
		for _, r := range recs {
			if r.Value(interflow.FID) == id {
				var parts []string
				for i, f := range r.Schema.Fields {
					if r.Value(i) != nil && i != interflow.FID && i != interflow.FTenant && f.Name != "connector" && !strings.HasPrefix(f.Name, "msg_origin") && !strings.HasPrefix(f.Name, "origin.") {
						parts = append(parts, fmt.Sprintf("%s=%v", f.Name, r.Value(i)))
					}
				}
				return strings.Join(parts, " ")
			}
		}
		return id
	}
	for _, w := range want {
		if !in(got, w) {
			return "only the filter: " + show(w)
		}
	}
	for _, g := range got {
		if !in(want, g) {
			return "only the search: " + show(g)
		}
	}
	return ""
}

// TestFilterRejectsWhatSearchRejects: a rule is refused at save time for
// the same reasons a search is.
func TestFilterRejectsWhatSearchRejects(t *testing.T) {
	for _, q := range []string{"bytes:abc", "dstport:[1 TO x]", "srcip:10.0.0.0/99", "srcip:>10.0.0.1", "read_only:maybe", "timestamp:>yesterday", "nosuch:1", "labels:>a", "dstport:Get*", "raw.additionalEventData.MFAUsed:/(/"} {
		_, ferr := filter.Compile([]connector.Filter{{Action: "drop", Query: q}})
		serr := segment.Validate(q)
		if ferr == nil || serr == nil {
			t.Errorf("%q: filter error %v, search error %v; both must refuse it", q, ferr, serr)
		}
	}
}

// TestIPRangeFilter is the reported case: an IP range compares addresses,
// not strings.
func TestIPRangeFilter(t *testing.T) {
	fs, err := filter.Compile([]connector.Filter{{Action: "drop", Query: "srcip:[10.0.0.3 TO 10.0.0.20]"}})
	if err != nil {
		t.Fatal(err)
	}
	for ip, keep := range map[string]bool{"10.0.0.3": false, "10.0.0.9": false, "10.0.0.20": false, "10.0.0.21": true, "10.0.0.100": true, "10.0.0.2": true} {
		rec := interflow.New(interflow.Traffic())
		rec.Set(interflow.FSrcIP, ip)
		if got := fs.KeepRecord(rec); got != keep {
			t.Errorf("%s: keep %v, want %v", ip, got, keep)
		}
	}
}
