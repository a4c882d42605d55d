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

// record builds a CloudTrail-like event.
func record(fields map[int]string) *interflow.Record {
	r := interflow.New(interflow.Events())
	for f, v := range fields {
		r.Set(f, v)
	}
	return r
}

// TestRuleAndSearchAgree: a rule's tree and the search it prints as give
// the same verdict on every record: the alert's hunting query finds
// exactly what the rule matched.
func TestRuleAndSearchAgree(t *testing.T) {
	recs := []*interflow.Record{
		record(map[int]string{interflow.EEventName: "ConsoleLogin", interflow.EUserType: "Root", interflow.FSrcIP: "198.51.100.7"}),
		record(map[int]string{interflow.EEventName: "ConsoleLogin", interflow.EUserType: "IAMUser", interflow.FSrcIP: "10.1.2.3"}),
		record(map[int]string{interflow.EEventName: "ConsoleLogin", interflow.EErrorCode: "Failed", interflow.FSrcIP: "2001:db8::9"}),
		record(map[int]string{interflow.EEventName: "StopLogging", interflow.EEventSource: "cloudtrail.amazonaws.com"}),
		record(map[int]string{interflow.EEventName: "PutBucketPolicy", interflow.EEventSource: "s3.amazonaws.com",
			interflow.EUserAgent: "aws-cli/2.15.0 Python/3.11.6 Linux/6.1", interflow.EUserARN: "arn:aws:iam::1:root user*x"}),
		record(map[int]string{interflow.EEventName: "DeleteDetector", interflow.EUserARN: "arn:aws:sts::1:assumed-role/OrgAdmin"}),
		record(map[int]string{interflow.EEventName: "StopConfigurationRecorder", interflow.EUserARN: "arn:aws:iam::1:user/eve",
			interflow.FRaw: `{"note":"Invoke-Mimikatz"}`}),
		record(map[int]string{interflow.EEventName: "PutBucketAcl",
			interflow.FRaw: `{"eventName":"PutBucketAcl","requestParameters":{"x-amz-acl":"public-read"},"additionalEventData":{"MFAUsed":"No"}}`}),
		record(map[int]string{interflow.EEventName: "PutBucketAcl",
			interflow.FRaw: `{"eventName":"PutBucketAcl","requestParameters":{"x-amz-acl":"private"},"additionalEventData":{"MFAUsed":"No"}}`}),
		record(map[int]string{interflow.EEventName: "GetSecretValue", interflow.EUserAgent: "Python-requests/2.31"}),
		record(map[int]string{interflow.EEventName: "GetSecretValue", interflow.EUserAgent: "aws-cli/2"}),
	}
	recs[5].Set(interflow.EReadOnly, false)
	recs[6].Set(interflow.EReadOnly, false)
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
