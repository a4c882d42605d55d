package app

import (
	"context"
	"strings"
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
		`{"eventName":"Tagged","userIdentity":{"arn":"carol"},"requestParameters":{"users":[{"userName":"carol"},{"userName":"Dave"}],"tags":[{"k":"v\tw"}]}}`,
	}
	names := []string{"ListBuckets", "listusers", "GetObject", "Other", "Tagged"}
	var recs []*interflow.Record
	for i, raw := range raws {
		r := event("acme", int64(i), names[i], "10.0.0.1", "")
		r.SetString(interflow.EUserARN, []string{"arn:aws:iam::1:user/alice", "ALICE", "bob", "", "carol"}[i])
		r.SetString(interflow.EUserName, []string{"Alice", "alice", "bob", "x", "Carol"}[i])
		r.Set(interflow.FRaw, raw)
		recs = append(recs, r)
	}
	if err := l.Commit(ctx, ingest.RecordsBatch("c1", ingest.ObjectState{Key: "k-acme", Version: "e", Position: 5, Done: true}, recs...)); err != nil {
		t.Fatal(err)
	}
	agree(t, l, recs, map[string]int64{
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
		`raw.requestParameters.tags:"{\"k\":\"v\\tw\"}"`:        2, // an element, and one through a list
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
		"NOT user.name:~@raw.requestParameters.userName":        2,
		"raw.requestParameters:@raw.requestParameters":          5,
		"raw.requestParameters.users.userName:~dave":            1,
		"raw.requestParameters.tags.k:~V*":                      2,
		"user.name:~@raw.requestParameters.users.userName":      0, // through a list: no value
	})
}

// TestRawPrefilterAgrees: a raw.<path> term's SQL first looks for a
// literal run of its value in the record's raw text (see
// segment.verbatimFragment) and must still select exactly what
// query.Eval selects: values written with JSON escapes, objects and
// lists written with spaces, numbers an engine re-formats, cased and
// folded values, patterns, negations, and raw text that is not JSON.
func TestRawPrefilterAgrees(t *testing.T) {
	l := openTest(t)
	raws := []string{
		`{"eventName":"Stop\u004cogging","eventSource":"cloudtrail.amazonaws.com"}`,
		`{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"}`,
		`{"eventName":"stoplogging", "requestParameters": {"name" : "trail-1", "tags": [ "Team/Sec" , {"k": "owner@example.com"} ]}}`,
		`{"eventName":"DeleteTrail","requestParameters":{"name":"a\/b","n": 1e5}}`,
		`{"eventName":"TagResource","resources" : [ { "ARN" : "arn:aws:s3:::Sp\u0061ced" } , [ {"ARN":"arn:aws:s3:::nested-bucket"} ] ]}`,
		`2 123456789012 eni-1 10.0.0.1 10.0.0.2 StopLogging`,
	}
	recs := commitRaws(t, l, raws)
	agree(t, l, recs, map[string]int64{
		"raw.eventName:~stoplogging":                         3,
		"raw.eventName:StopLogging":                          2,
		"NOT raw.eventName:~stoplogging":                     3,
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
		"raw.resources.ARN:~*spaced*":                        1, // written only escaped, in a list
		`raw.resources.ARN:"arn:aws:s3:::nested-bucket"`:     1,
		"NOT raw.resources.ARN:~*nested-bucket*":             5,
	})
}

// TestRawPathsThroughListsAgree: a raw.<path> term whose path meets a
// list applies the rest of the path to each element (lists in lists too,
// query.ListDepth deep) and matches when any value reached does, in SQL
// exactly as in query.Eval: WAF's labels.name, CloudTrail's
// resources.ARN and ipPermissions.items.ipRanges.items.cidrIp; nested,
// empty and mixed lists (nulls, scalars, objects without the key); a
// path through a list to a missing key; escapes and spaces; a record
// that is a list, or not JSON. A field reference through a list has no
// value (a list holds many).
func TestRawPathsThroughListsAgree(t *testing.T) {
	l := openTest(t)
	recs := commitRaws(t, l, []string{
		`{"action":"BLOCK","labels":[{"name":"awswaf:managed:aws:sql-database:SQLi_QueryArguments"},{"name":"awswaf:clientip:geo:country:NL"}],"httpRequest":{"clientIp":"203.0.113.50","headers":[{"name":"Host","value":"shop.example.com"},{"name":"User-Agent","value":"sqlmap/1.5"}]}}`,
		`{"eventName":"AuthorizeSecurityGroupIngress","resources":[{"ARN":"arn:aws:ec2:us-east-1:1:security-group/sg-1","type":"AWS::EC2::SecurityGroup"},{"accountId":"1"}],"requestParameters":{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"},{"cidrIp":"0.0.0.0/0"}]}}]}}}`,
		`{"labels":[],"m":[[{"k":"deep"}],[[{"k":"deeper"}]],{"k":"flat"}],"n4":[[[[{"k":"four"}]]]],"n5":[[[[[{"k":"five"}]]]]]}`,
		`{"labels":[null,"awswaf:plain",{"name":null},{"name":"awswaf:x","extra":[1,2]},[{"name":"nested-label"}],7,{"other":"y"}],"resources":[{"ARN":null}],"items":[{"tags":["a","b"]},{"tags":[{"k":"v"}]},{"tags":[]},{"tags":null}]}`,
		`{"labels":[{"nom":"x"}],"resources":[{"type":"t"}],"items":[{"other":1}]}`,
		`{"rules":[{"match":{"type":"SQLi","loc":"ARGS"},"n":1.50,"on":true}],"a":[{"0":"zero"},"first"],"d":[{"k":"one"}],"d":{"k":"two"}}`,
		`{"labels" : [ { "name" : "awswaf:Sql\u0069" } , [ { "name" : "spaced-nested" } ] ]}`,
		`[{"labels":[{"name":"rooted"}]}]`,
		`2 123456789012 eni-1 10.0.0.1 labels name sqli`,
	})
	agree(t, l, recs, map[string]int64{
		"raw.labels.name:~*sqli*":                 2, // the escaped one too
		"raw.labels.name:~*SQLI_QUERY*":           1,
		"raw.labels.name:*":                       3, // not [], null, or no name
		"NOT raw.labels.name:*":                   6,
		"raw.labels.name:~*label*":                1, // a list in the list
		`raw.labels.name:"awswaf:x"`:              1,
		"raw.labels.name:spaced-nested":           1,
		"raw.labels.name:rooted":                  0, // the record is a list
		`raw.labels:~"awswaf:plain"`:              1, // a list at the end: its elements, as before
		"raw.httpRequest.headers.value:~sqlmap*":  1,
		"raw.httpRequest.headers.name:Host":       1,
		"raw.resources.ARN:~*security-group*":     1,
		"NOT raw.resources.ARN:~*security-group*": 8,
		"raw.resources.ARN:*":                     1, // null is no value
		`raw.requestParameters.ipPermissions.items.ipRanges.items.cidrIp:"0.0.0.0/0"`: 1,
		`raw.requestParameters.ipPermissions.items.ipRanges.items.cidrIp:/^10\./`:     1,
		"raw.requestParameters.ipPermissions.items.fromPort:22":                       1,
		"raw.m.k:deep":                   1,
		"raw.m.k:deeper":                 1,
		"raw.m.k:flat":                   1,
		"raw.n4.k:four":                  1, // four lists deep: query.ListDepth
		"raw.n5.k:five":                  0, // five: past it
		"raw.items.tags:a":               1,
		`raw.items.tags:"{\"k\":\"v\"}"`: 1,
		"raw.items.tags:*":               1, // lists, even empty, are present
		"raw.items.other:1":              1,
		"raw.items.missing:*":            0,
		`raw.rules.match:"{\"type\":\"SQLi\",\"loc\":\"ARGS\"}"`: 1,
		"raw.rules.match.type:SQLi":                              1,
		"raw.rules.match:~*sqli*":                                1,
		"raw.rules.n:1.5":                                        1,
		"raw.rules.on:true":                                      1,
		"raw.a.0:zero":                                           1, // a key, never an index
		"raw.a.0:first":                                          0,
		"raw.a.1:first":                                          0, // query.Eval once read it as a[1]; SQL never did
		"raw.d.k:one":                                            1, // the first of two keys
		"raw.d.k:two":                                            0,
		"raw.labels.name:~*sqli* AND raw.httpRequest.headers.value:~sqlmap*": 1,
		"raw.labels.name:@raw.labels.name":                                   0, // through a list: no value
		"raw.rules.match:@raw.rules.match":                                   0,
		"raw.labels:@raw.labels":                                             0,
		"raw.httpRequest.clientIp:@raw.httpRequest.clientIp":                 1,
	})
}

// commitRaws commits one AWS Events record for each raw text.
func commitRaws(t *testing.T, l *Lake, raws []string) []*interflow.Record {
	t.Helper()
	var recs []*interflow.Record
	for i, raw := range raws {
		r := event("acme", int64(i), "x", "10.0.0.1", "")
		r.Set(interflow.FRaw, raw)
		recs = append(recs, r)
	}
	st := ingest.ObjectState{Key: "k-acme", Version: "e", Position: int64(len(raws)), Done: true}
	if err := l.Commit(context.Background(), ingest.RecordsBatch("c1", st, recs...)); err != nil {
		t.Fatal(err)
	}
	return recs
}

// agree checks that each query counts want records in the lake (SQL) and
// in query.Eval over recs.
func agree(t *testing.T, l *Lake, recs []*interflow.Record, want map[string]int64) {
	t.Helper()
	for q, w := range want {
		n, err := l.Count(context.Background(), segment.SearchRequest{Query: q, From: base.Add(-time.Hour), To: base.Add(time.Hour)})
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
		if n != inGo || n != w {
			t.Errorf("%s: SQL %d records, Go %d, want %d", q, n, inGo, w)
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
	raws := []string{
		`{"requestParameters":{"trailName":"my\"trail/x"}}`,
		`{"requestParameters":{"path":"C:\\Windows\\x","policyArn":"arn:aws:iam::aws:policy\/AdministratorAccess"}}`,
		`{"userAgent":"evil \"agent\"/1.0","note":"a\tb"}`,
		`{"userAgent":"plain agent/1.0","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}`,
		`2 123456789012 eni-1 10.0.0.1 10.0.0.2 my"trail/x`,
	}
	recs := commitRaws(t, l, raws)
	agree(t, l, recs, map[string]int64{
		`"my\"trail/x"`:                    2, // JSON escaped, and a line holding it as is
		`"C:\\Windows\\x"`:                 1,
		`"policy/AdministratorAccess"`:     2, // as "\/" and as "/"
		`"evil \"agent\"/1.0"`:             1,
		"\"a\tb\"":                         1,
		`*trail/x*`:                        2,
		`*\"agent\"*`:                      1,
		`agent`:                            2,
		`NOT "policy/AdministratorAccess"`: 3,
	})
}

// TestDoubleFieldAgrees: a double field (GuardDuty's finding.severity)
// compares as a number in SQL exactly as in query.Eval: equality of 7
// and 7.0, comparisons and ranges (inclusive and exclusive), presence and
// its negation; a search returns the value as the number it is; a value
// that is no number is refused with the field named.
func TestDoubleFieldAgrees(t *testing.T) {
	l := openTest(t)
	sev := []any{2.0, 5.5, 7.0, 7.5, 8.9, 9.0, 10.0, nil}
	var recs []*interflow.Record
	for i, v := range sev {
		r := event("acme", int64(i), "x", "10.0.0.1", "")
		r.Set(interflow.EFindingSeverity, v)
		recs = append(recs, r)
	}
	if err := l.Commit(context.Background(), ingest.RecordsBatch("c1", ingest.ObjectState{Key: "k-acme", Version: "e", Position: int64(len(recs)), Done: true}, recs...)); err != nil {
		t.Fatal(err)
	}
	agree(t, l, recs, map[string]int64{
		"finding.severity:>=7":        5,
		"finding.severity:>7":         4,
		"finding.severity:<4":         1,
		"finding.severity:7":          1,
		"finding.severity:7.0":        1,
		"finding.severity:7.5":        1,
		"finding.severity:[7 TO 8.9]": 3,
		"finding.severity:{7 TO 9}":   2,
		"finding.severity:[9 TO *]":   2,
		"finding.severity:*":          7,
		"NOT finding.severity:>=7":    3, // the absent one too
	})
	res, err := l.Search(context.Background(), segment.SearchRequest{Query: "finding.severity:7.5", From: base.Add(-time.Hour), To: base.Add(time.Hour), Limit: 5})
	if err != nil || len(res.Rows) != 1 {
		t.Fatalf("search: %v, %d rows", err, len(res.Rows))
	}
	if v, ok := res.Rows[0]["finding.severity"].(float64); !ok || v != 7.5 {
		t.Errorf("finding.severity in a search row: %v (%T), want 7.5", res.Rows[0]["finding.severity"], res.Rows[0]["finding.severity"])
	}
	for _, q := range []string{"finding.severity:high", "finding.severity:NaN", "finding.severity:[1 TO Inf]", "finding.severity:7*"} {
		if _, err := l.Count(context.Background(), segment.SearchRequest{Query: q, From: base.Add(-time.Hour), To: base.Add(time.Hour)}); err == nil || !strings.Contains(err.Error(), "finding.severity") {
			t.Errorf("%s: %v, want an error naming finding.severity", q, err)
		}
	}
}
