package prefix

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/source"
)

// recLister records every prefix listed.
type recLister struct {
	memLister
	prefixes []string
}

func (r *recLister) ListLevel(ctx context.Context, prefix string) ([]string, []source.Object, error) {
	r.prefixes = append(r.prefixes, prefix)
	return r.memLister.ListLevel(ctx, prefix)
}

// iamLike matches as IAM does: "*" any run of characters, "?" one.
func iamLike(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if iamLike(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && iamLike(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && iamLike(pattern[1:], s[1:])
}

func anyLike(patterns []string, s string) bool {
	for _, p := range patterns {
		if iamLike(p, s) {
			return true
		}
	}
	return false
}

// TestPolicyPatternsCoverWhatIsListedAndRead: for each prefix form, every
// prefix discovery and a run list is allowed by the list patterns, every
// key the template accepts by the object patterns, and none of the keys
// beside it (another service, a 13-digit "account", another folder).
func TestPolicyPatternsCoverWhatIsListedAndRead(t *testing.T) {
	day := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		tmpl   string
		inside []string
		beside []string
	}{
		{"AWSLogs/123456789012/CloudTrail",
			[]string{"AWSLogs/123456789012/CloudTrail/us-east-1/2026/03/09/a.json.gz", "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/03/09/b.json.gz"},
			[]string{"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/03/09/d.json.gz", "AWSLogs/123456789012/Config/x.json.gz", "private/x"}},
		{"AWSLogs/o-abc123defg/*/CloudTrail",
			[]string{"AWSLogs/o-abc123defg/111111111111/CloudTrail/us-east-1/2026/03/09/a.json.gz", "AWSLogs/o-abc123defg/222222222222/CloudTrail/us-east-1/2026/03/09/b.json.gz"},
			[]string{"AWSLogs/o-abc123defg/111111111111/Config/us-east-1/c.json.gz", "AWSLogs/o-abc123defg/1111111111112/CloudTrail/us-east-1/2026/03/09/x.json.gz", "AWSLogs/o-other/111111111111/CloudTrail/x"}},
		{"AWSLogs/*/vpcflowlogs",
			[]string{"AWSLogs/111111111111/vpcflowlogs/us-east-1/2026/03/09/f.log.gz", "AWSLogs/aws-account-id=222222222222/vpcflowlogs/aws-region=us-east-1/year=2026/month=03/day=09/f.log.gz"},
			[]string{"AWSLogs/111111111111/CloudTrail/us-east-1/2026/03/09/a.json.gz"}},
		{"logs/year=///YYYY/////mm/////dd//",
			[]string{"logs/year=/2026/03/09/a.json.gz"},
			[]string{"logs/year=/2026/03/a.json.gz", "logs/years/2026/03/09/a.json.gz"}},
		{"waf///YYYY/////m/////d/////H/////MM//",
			[]string{"waf/2026/3/9/0/05/a.gz", "waf/2026/3/9/13/55/b.gz"},
			[]string{"waf/2026/03/09/extra/a.gz", "wafx/2026/3/9/0/05/a.gz"}},
	}
	for _, c := range cases {
		t.Run(c.tmpl, func(t *testing.T) {
			tp, err := Parse(c.tmpl, Options{AllowWildcard: true})
			if err != nil {
				t.Fatal(err)
			}
			list, objects := tp.PolicyPatterns()
			l := &recLister{memLister: memLister{keys: append(append([]string(nil), c.inside...), c.beside...)}}
			d, err := Discover(context.Background(), l, tp, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			listed := append([]string{tp.ListPrefix()}, l.prefixes...)
			for _, p := range d.Partitions {
				listed = append(listed, p.Prefixes(day, day.Add(14*time.Hour))...)
			}
			if len(listed) < 2 {
				t.Fatalf("nothing listed: %v", listed)
			}
			for _, p := range listed {
				if !anyLike(list, p) {
					t.Errorf("listing %q is not allowed by %q", p, list)
				}
			}
			for _, k := range c.inside {
				if !tp.Match(k) {
					t.Fatalf("test data: %s is not under the template", k)
				}
				if !anyLike(objects, k) {
					t.Errorf("reading %q is not allowed by %q", k, objects)
				}
			}
			for _, k := range c.beside {
				if anyLike(objects, k) && !tp.Match(k) {
					t.Errorf("%q is outside the template but allowed by %q", k, objects)
				}
			}
		})
	}
}

func ExampleTemplate_PolicyPatterns() {
	tp, _ := Parse("AWSLogs/o-abc123defg/*/CloudTrail", Options{AllowWildcard: true})
	list, objects := tp.PolicyPatterns()
	fmt.Println(list)
	fmt.Println(objects)
	// Output:
	// [AWSLogs/o-abc123defg/ AWSLogs/o-abc123defg/????????????/CloudTrail/* AWSLogs/o-abc123defg/aws-account-id=????????????/CloudTrail/*]
	// [AWSLogs/o-abc123defg/????????????/CloudTrail/* AWSLogs/o-abc123defg/aws-account-id=????????????/CloudTrail/*]
}
