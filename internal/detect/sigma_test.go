package detect

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/format/cloudtrail"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
)

var update = flag.Bool("update", false, "rewrite the goldens")

// describe is what a golden holds for a rule: its hunting query and count,
// or the error it is refused with.
func describe(r *Rule, err error) string {
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "title: %s\nlevel: %s\nlogsource: %s/%s\nhunt: %s\n", r.Title, r.Level, r.Logsource.Product, r.Logsource.Service, r.Hunt())
	if r.Count != nil {
		fmt.Fprintf(&b, "count: field=%q by=%q %s %d within %s\n", r.Count.Field, r.Count.GroupBy, r.Count.Op, r.Count.Threshold, r.Timeframe)
	}
	return b.String()
}

// TestGoldens: each testdata rule compiles to its golden hunting query, or
// is refused with its golden error (naming the line). go test -update
// rewrites them.
func TestGoldens(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yml")
	if len(files) < 10 {
		t.Fatalf("only %d rules in testdata", len(files))
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Parse(src)
		got := describe(r, err)
		golden := strings.TrimSuffix(f, ".yml") + ".golden"
		if *update {
			os.WriteFile(golden, []byte(got), 0o644)
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%s: %v (run go test -update)", golden, err)
		}
		if got != string(want) {
			t.Errorf("%s:\n got: %s\nwant: %s", f, got, want)
		}
		if strings.HasPrefix(filepath.Base(f), "err_") != strings.HasPrefix(got, "error:") {
			t.Errorf("%s: err_ files must be refused and only they: %s", f, got)
		}
	}
}

// ctRecord normalizes a CloudTrail record (given its fields but
// eventTime) as collection does.
func ctRecord(t *testing.T, fields string) *interflow.Record {
	t.Helper()
	r := interflow.New(interflow.Events())
	if err := cloudtrail.Normalize([]byte(`{"eventTime":"2024-05-01T10:00:00Z",`+fields+`}`), r); err != nil {
		t.Fatal(err)
	}
	r.SetString(interflow.FMsgClass, "cloudtrail") // as the collector stamps it
	return r
}

// TestRuleAndSearchAgree: a rule's tree and the search it prints as give
// the same verdict on every record: the alert's hunting query finds
// exactly what the rule matched.
func TestRuleAndSearchAgree(t *testing.T) {
	recs := []*interflow.Record{
		ctRecord(t, `"eventName":"ConsoleLogin","userIdentity":{"type":"Root"},"sourceIPAddress":"198.51.100.7"`),
		ctRecord(t, `"eventName":"consolelogin","userIdentity":{"type":"IAMUser"},"sourceIPAddress":"10.1.2.3"`),
		ctRecord(t, `"eventName":"ConsoleLogin","errorCode":"Failed","sourceIPAddress":"2001:db8::9"`),
		ctRecord(t, `"eventName":"ConsoleLogin","errorCode":"","sourceIPAddress":"192.0.2.1"`),
		ctRecord(t, `"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"`),
		ctRecord(t, `"eventName":"PutBucketPolicy","eventSource":"s3.amazonaws.com","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1","userIdentity":{"arn":"arn:aws:iam::1:root user*x"}`),
		ctRecord(t, `"eventName":"DeleteDetector","readOnly":false,"userIdentity":{"arn":"arn:aws:sts::1:assumed-role/OrgAdmin"}`),
		ctRecord(t, `"eventName":"StopConfigurationRecorder","readOnly":false,"userIdentity":{"arn":"arn:aws:iam::1:user/eve"},"note":"Invoke-Mimikatz"`),
		ctRecord(t, `"eventName":"PutBucketAcl","requestParameters":{"x-amz-acl":"public-read"},"additionalEventData":{"MFAUsed":"No"}`),
		ctRecord(t, `"eventName":"PutBucketAcl","requestParameters":{"x-amz-acl":"private"},"additionalEventData":{"MFAUsed":"NO"}`),
		ctRecord(t, `"eventName":"GetSecretValue","userAgent":"Python-requests/2.31"`),
		ctRecord(t, `"eventName":"GetSecretValue","userAgent":"aws-cli/2"`),
	}
	files, _ := filepath.Glob("testdata/*.yml")
	now := time.Now()
	matched := 0
	for _, f := range files {
		src, _ := os.ReadFile(f)
		r, err := Parse(src)
		if err != nil {
			continue
		}
		ruleExpr, err := query.Bind(r.Query, interflow.Events(), now)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		n, err := query.Parse(r.Hunt())
		if err != nil {
			t.Fatalf("%s: the hunting query %q does not parse: %v", f, r.Hunt(), err)
		}
		huntExpr, err := query.Bind(n, interflow.Events(), now)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, rec := range recs {
			a, b := query.Eval(ruleExpr, rec), query.Eval(huntExpr, rec)
			if a != b {
				t.Errorf("%s, record %d: the rule says %v, its hunting query %q says %v", f, i, a, r.Hunt(), b)
			}
			if a {
				matched++
			}
		}
	}
	if matched < 5 {
		t.Errorf("only %d rule/record matches: the fixtures do not exercise the rules", matched)
	}
}

// FuzzParse: any input is compiled or refused with a *Error; a compiled
// rule's hunting query parses.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	for _, file := range files {
		src, _ := os.ReadFile(file)
		f.Add(string(src))
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse([]byte(s))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if _, err := query.Parse(r.Hunt()); err != nil {
			t.Fatalf("hunting query %q does not parse: %v", r.Hunt(), err)
		}
	})
}
