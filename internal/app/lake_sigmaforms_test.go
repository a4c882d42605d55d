package app

import (
	"context"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
	"github.com/trawlhq/trawl/internal/segment"
)

// TestCaseFoldRefsAndRawValuesAgree: the forms Sigma rules compile to
// (field:~value, field:~pattern*, field:@other, raw values that are
// objects, lists and non-integer numbers) select in SQL exactly the
// records query.Eval selects, and each selects what it is written for.
func TestCaseFoldRefsAndRawValuesAgree(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	raws := []string{
		`{"eventName":"ListBuckets","userIdentity":{"arn":"arn:aws:iam::1:user/alice"},"requestParameters":{"userName":"alice","VersioningConfiguration":{"Status":"Suspended"}},"additionalEventData":{"MFAUsed":"No"}}`,
		`{"eventName":"listusers","userIdentity":{"arn":"ALICE"},"requestParameters":{"userName":"alice","layers":["arn:aws:lambda:us-east-1:1:layer:evil:1"]},"n":1.50,"big":1e5,"small":1.5e-7}`,
		`{"eventName":"GetObject","userIdentity":{"arn":"bob"},"requestParameters":{"userName":"bob","layers":[],"tags":[{"k":"v\tw"},null,"Keep"]},"responseElements":null,"errorCode":""}`,
		`{"eventName":"Other","requestParameters":{"quote":"a\"b\\c","uni":"é\u0001"},"additionalEventData":{"bytesTransferredIn":0.0}}`,
	}
	names := []string{"ListBuckets", "listusers", "GetObject", "Other"}
	var recs []*interflow.Record
	for i, raw := range raws {
		r := event("acme", int64(i), names[i], "10.0.0.1", "")
		r.SetString(interflow.EUserARN, []string{"arn:aws:iam::1:user/alice", "ALICE", "bob", ""}[i])
		r.SetString(interflow.EUserName, []string{"Alice", "alice", "bob", "x"}[i])
		r.Set(interflow.FRaw, raw)
		recs = append(recs, r)
	}
	if err := l.Commit(ctx, ingest.RecordsBatch("c1", ingest.ObjectState{Key: "k-acme", Version: "e", Position: 4, Done: true}, recs...)); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]int64{
		"event_name:~list*":                                     2,
		"event_name:list*":                                      1,
		`event_name:~"LISTUSERS"`:                               1,
		"event_name:~LISTBUCKETS":                               1,
		"raw.eventName:~getobject":                              1,
		"raw.eventName:~*OBJ*":                                  1,
		"raw.additionalEventData.MFAUsed:~NO":                   1,
		"raw.requestParameters:~*suspended*":                    1,
		"raw.requestParameters:*Suspended*":                     1,
		"raw.requestParameters.layers:*":                        2, // present, even empty
		"raw.requestParameters.layers:~*layer*":                 1,
		"raw.requestParameters.tags:~keep":                      1,
		`raw.requestParameters.tags:"{\"k\":\"v\\tw\"}"`:        1,
		`raw.requestParameters:*\"a\\\"b\\\\c\"*`:               1,
		`raw.requestParameters:*\"é\\u0001\"*`:                  1,
		"raw.n:1.5":                                             1,
		`raw.big:"100000.0"`:                                    1,
		`raw.small:"1.5e-7"`:                                    1,
		`raw.additionalEventData:*\"bytesTransferredIn\"\:0.0*`: 1,
		"raw.errorCode:*":                                       1,
		`raw.errorCode:""`:                                      1,
		"raw.responseElements:*":                                0,
		"user.name:~@raw.requestParameters.userName":            3,
		"user.name:@raw.requestParameters.userName":             2,
		"user.arn:~@raw.requestParameters.userName":             2,
		"raw.userIdentity.arn:@raw.requestParameters.userName":  1,
		"user.arn:@user.name":                                   1,
		"NOT user.name:~@raw.requestParameters.userName":        1,
		"raw.requestParameters:@raw.requestParameters":          4,
	} {
		n, err := l.Count(ctx, segment.SearchRequest{Query: q, From: base.Add(-time.Hour), To: base.Add(time.Hour)})
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		ast, err := query.Parse(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		e, err := query.Bind(ast, interflow.Events(), base)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var inGo int64
		for _, r := range recs {
			if query.Eval(e, r) {
				inGo++
			}
		}
		if n != inGo || n != want {
			t.Errorf("%s: SQL %d records, Go %d, want %d", q, n, inGo, want)
		}
	}
}

// TestRawPrefilterAgrees: a raw.<path> term's SQL first looks for a
// literal run of its value in the record's raw text (see
// segment.verbatimFragment) and must still select exactly what
// query.Eval selects: values written with JSON escapes, objects and
// lists written with spaces, numbers an engine re-formats, cased and
// folded values, patterns, negations, and raw text that is not JSON.
func TestRawPrefilterAgrees(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	raws := []string{
		`{"eventName":"Stop\u004cogging","eventSource":"cloudtrail.amazonaws.com"}`,
		`{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"}`,
		`{"eventName":"stoplogging", "requestParameters": {"name" : "trail-1", "tags": [ "Team/Sec" , {"k": "owner@example.com"} ]}}`,
		`{"eventName":"DeleteTrail","requestParameters":{"name":"a\/b","n": 1e5}}`,
		`2 123456789012 eni-1 10.0.0.1 10.0.0.2 StopLogging`,
	}
	var recs []*interflow.Record
	for i, raw := range raws {
		r := event("acme", int64(i), "x", "10.0.0.1", "")
		r.Set(interflow.FRaw, raw)
		recs = append(recs, r)
	}
	if err := l.Commit(ctx, ingest.RecordsBatch("c1", ingest.ObjectState{Key: "k-acme", Version: "e", Position: 5, Done: true}, recs...)); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]int64{
		"raw.eventName:~stoplogging":                         3,
		"raw.eventName:StopLogging":                          2,
		"NOT raw.eventName:~stoplogging":                     2,
		"raw.eventName:~*logg?ng*":                           3,
		"raw.eventName:*Logging":                             2,
		`raw.eventSource:~"cloudtrail.amazonaws.com"`:        2,
		"raw.requestParameters.name:~trail-1":                1,
		"raw.requestParameters.name:a/b":                     1,
		"raw.requestParameters.tags:~team/sec":               1,
		"raw.requestParameters.tags:~*owner@example*":        1,
		"raw.requestParameters:~*owner@example.com*":         1,
		`raw.requestParameters.n:"100000.0"`:                 1,
		"raw.requestParameters:~*trail-1*":                   1,
		"raw.eventName:~stop* AND NOT raw.eventName:~*Trail": 3,
	} {
		n, err := l.Count(ctx, segment.SearchRequest{Query: q, From: base.Add(-time.Hour), To: base.Add(time.Hour)})
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		ast, err := query.Parse(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		e, err := query.Bind(ast, interflow.Events(), base)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var inGo int64
		for _, r := range recs {
			if query.Eval(e, r) {
				inGo++
			}
		}
		if n != inGo || n != want {
			t.Errorf("%s: SQL %d records, Go %d, want %d", q, n, inGo, want)
		}
	}
}

// TestFreeTextMatchesJSONEscapes: free text (a search's, a Sigma
// keyword's) matches a value as the record holds it, whether JSON wrote it
// escaped or not: a quote, a backslash, a tab, a slash written "\/"
// (from an outside try: the keyword 'my"trail/x' found nothing), in SQL
// exactly as in query.Eval, with and without wildcards.
func TestFreeTextMatchesJSONEscapes(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	raws := []string{
		`{"requestParameters":{"trailName":"my\"trail/x"}}`,
		`{"requestParameters":{"path":"C:\\Windows\\x","policyArn":"arn:aws:iam::aws:policy\/AdministratorAccess"}}`,
		`{"userAgent":"evil \"agent\"/1.0","note":"a\tb"}`,
		`{"userAgent":"plain agent/1.0","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}`,
		`2 123456789012 eni-1 10.0.0.1 10.0.0.2 my"trail/x`,
	}
	var recs []*interflow.Record
	for i, raw := range raws {
		r := event("acme", int64(i), "x", "10.0.0.1", "")
		r.Set(interflow.FRaw, raw)
		recs = append(recs, r)
	}
	if err := l.Commit(ctx, ingest.RecordsBatch("c1", ingest.ObjectState{Key: "k-acme", Version: "e", Position: 5, Done: true}, recs...)); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]int64{
		`"my\"trail/x"`:                    2, // JSON escaped, and a line holding it as is
		`"C:\\Windows\\x"`:                 1,
		`"policy/AdministratorAccess"`:     2, // as "\/" and as "/"
		`"evil \"agent\"/1.0"`:             1,
		"\"a\tb\"":                         1,
		`*trail/x*`:                        2,
		`*\"agent\"*`:                      1,
		`agent`:                            2,
		`NOT "policy/AdministratorAccess"`: 3,
	} {
		n, err := l.Count(ctx, segment.SearchRequest{Query: q, From: base.Add(-time.Hour), To: base.Add(time.Hour)})
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		ast, err := query.Parse(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		e, err := query.Bind(ast, interflow.Events(), base)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var inGo int64
		for _, r := range recs {
			if query.Eval(e, r) {
				inGo++
			}
		}
		if n != inGo || n != want {
			t.Errorf("%s: SQL %d records, Go %d, want %d", q, n, inGo, want)
		}
	}
}
