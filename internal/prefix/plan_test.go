package prefix

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/source"
)

// memLister is an in-memory bucket for planner unit tests.
type memLister struct {
	keys  []string
	calls int
}

func (m *memLister) ListLevel(_ context.Context, prefix string) ([]string, []source.Object, error) {
	m.calls++
	dirs := map[string]bool{}
	var objs []source.Object
	for _, k := range m.keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := k[len(prefix):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			dirs[prefix+rest[:i+1]] = true
		} else {
			objs = append(objs, source.Object{Key: k})
		}
	}
	var out []string
	for d := range dirs {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, objs, nil
}

func ctRelevant(d string) bool {
	d = strings.TrimSuffix(d, "/")
	return strings.HasPrefix(d, "CloudTrail") && d != "CloudTrail-Digest"
}

func TestDiscoverWildcardAccountsAndRegions(t *testing.T) {
	m := &memLister{keys: []string{
		"AWSLogs/o-abc123defg/111111111111/CloudTrail/us-east-1/2024/05/01/a.json.gz",
		"AWSLogs/o-abc123defg/111111111111/CloudTrail/eu-west-1/2024/05/01/b.json.gz",
		"AWSLogs/o-abc123defg/111111111111/CloudTrail-Digest/us-east-1/2024/05/01/d.json.gz",
		"AWSLogs/o-abc123defg/111111111111/vpcflowlogs/us-east-1/2024/05/01/f.log.gz",
		"AWSLogs/o-abc123defg/222222222222/CloudTrail/us-east-1/2024/05/02/c.json.gz",
		"AWSLogs/o-abc123defg/222222222222/CloudTrail-Insight/us-east-1/2024/05/02/i.json.gz",
		"AWSLogs/o-abc123defg/not-an-account/CloudTrail/us-east-1/2024/05/02/x.json.gz",
	}}
	tp, _ := Parse("AWSLogs/o-abc123defg/*/CloudTrail", Options{AllowWildcard: true})
	d, err := Discover(context.Background(), m, tp, ctRelevant, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range d.Partitions {
		got = append(got, p.Kind.String()+" "+p.Prefix)
	}
	want := []string{
		"dated AWSLogs/o-abc123defg/111111111111/CloudTrail/eu-west-1/",
		"dated AWSLogs/o-abc123defg/111111111111/CloudTrail/us-east-1/",
		"dated AWSLogs/o-abc123defg/222222222222/CloudTrail/us-east-1/",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("partitions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Join(d.Accounts, ",") != "111111111111,222222222222" {
		t.Errorf("accounts %v", d.Accounts)
	}
	// The prefix stopping at the organization: services filtered, Insight kept.
	tp, _ = Parse("AWSLogs/o-abc123defg", Options{})
	d, _ = Discover(context.Background(), m, tp, ctRelevant, []string{"us-east-1"})
	got = got[:0]
	for _, p := range d.Partitions {
		got = append(got, p.Prefix)
	}
	want = []string{
		"AWSLogs/o-abc123defg/111111111111/CloudTrail/us-east-1/",
		"AWSLogs/o-abc123defg/222222222222/CloudTrail-Insight/us-east-1/",
		"AWSLogs/o-abc123defg/222222222222/CloudTrail/us-east-1/",
		// Under a literal prefix every folder is the user's: kept.
		"AWSLogs/o-abc123defg/not-an-account/CloudTrail/us-east-1/",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("with region narrowing:\n%s", strings.Join(got, "\n"))
	}
	// Every region found is named, and what the filter left out is listed
	// with its reason (Test shows it).
	if strings.Join(d.Regions, ",") != "eu-west-1,us-east-1" {
		t.Errorf("regions found %v, want eu-west-1 and us-east-1", d.Regions)
	}
	if len(d.Excluded) != 1 || d.Excluded[0].Prefix != "AWSLogs/o-abc123defg/111111111111/CloudTrail/eu-west-1/" ||
		!strings.Contains(d.Excluded[0].Reason, "eu-west-1 is not in the connector's regions") {
		t.Errorf("excluded %+v", d.Excluded)
	}
}

func TestDiscoverHiveAndFlat(t *testing.T) {
	m := &memLister{keys: []string{
		"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=05/day=01/hour=00/f.log.gz",
		"exports/a.json.gz",
		"exports/b.json.gz",
	}}
	tp, _ := Parse("AWSLogs", Options{})
	d, _ := Discover(context.Background(), m, tp, func(s string) bool { return s == "aws-service=vpcflowlogs/" }, nil)
	if len(d.Partitions) != 1 || d.Partitions[0].Kind != Hive || d.Partitions[0].Account != "123456789012" {
		t.Errorf("hive: %+v", d.Partitions)
	}
	tp, _ = Parse("exports", Options{})
	d, _ = Discover(context.Background(), m, tp, nil, nil)
	if len(d.Partitions) != 1 || d.Partitions[0].Kind != Flat {
		t.Errorf("flat: %+v", d.Partitions)
	}
}

func TestPrefixesAcrossBoundaries(t *testing.T) {
	p := Partition{Prefix: "AWSLogs/1/CloudTrail/us-east-1/", Kind: Dated}
	from := time.Date(2023, 12, 31, 23, 10, 0, 0, time.UTC)
	to := time.Date(2024, 1, 1, 0, 20, 0, 0, time.UTC)
	got := p.Prefixes(from, to)
	if strings.Join(got, " ") != "AWSLogs/1/CloudTrail/us-east-1/2023/12/31/ AWSLogs/1/CloudTrail/us-east-1/2024/01/01/" {
		t.Errorf("year boundary: %v", got)
	}
	// A time zone other than UTC is converted: AWS names folders in UTC.
	ny, _ := time.LoadLocation("America/New_York")
	got = p.Prefixes(time.Date(2024, 2, 28, 20, 0, 0, 0, ny), time.Date(2024, 2, 28, 21, 0, 0, 0, ny))
	if strings.Join(got, " ") != "AWSLogs/1/CloudTrail/us-east-1/2024/02/29/" {
		t.Errorf("UTC conversion / leap day: %v", got)
	}
	h := Partition{Prefix: "x/aws-region=us-east-1/", Kind: Hive}
	if got := h.Prefixes(from, to); got[1] != "x/aws-region=us-east-1/year=2024/month=01/day=01/" || len(got) != 2 {
		t.Errorf("hive: %v", got)
	}
	if got := p.Prefixes(time.Date(2024, 1, 30, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)); len(got) != 33 {
		t.Errorf("month boundaries: %d days", len(got))
	}
}

func TestTemplatedPrefixes(t *testing.T) {
	p := Partition{Prefix: "logs/year=///YYYY///month=///mm///day=///dd//", Kind: Templated}
	got := p.Prefixes(time.Date(2020, 10, 31, 23, 0, 0, 0, time.UTC), time.Date(2020, 11, 1, 1, 0, 0, 0, time.UTC))
	if strings.Join(got, " ") != "logs/year=/2020/month=/10/day=/31/ logs/year=/2020/month=/11/day=/01/" {
		t.Errorf("templated: %v", got)
	}
	p = Partition{Prefix: "logs/year=///YYYY///month=///m//", Kind: Templated}
	got = p.Prefixes(time.Date(2020, 11, 15, 0, 0, 0, 0, time.UTC), time.Date(2021, 2, 3, 0, 0, 0, 0, time.UTC))
	if strings.Join(got, " ") != "logs/year=/2020/month=/11/ logs/year=/2020/month=/12/ logs/year=/2021/month=/1/ logs/year=/2021/month=/2/" {
		t.Errorf("monthly: %v", got)
	}
	p = Partition{Prefix: "h///YYYY/////HH//", Kind: Templated}
	if got := p.Prefixes(time.Date(2020, 1, 1, 22, 30, 0, 0, time.UTC), time.Date(2020, 1, 2, 0, 10, 0, 0, time.UTC)); len(got) != 3 {
		t.Errorf("hourly: %v", got)
	}
}

// TestPartitionOfAgreesWithDiscover: the partition a notified key is
// collected under (its lease) is the one polling's discovery finds for
// it, and a key discovery leaves out is left out with a reason.
func TestPartitionOfAgreesWithDiscover(t *testing.T) {
	keys := []string{
		"AWSLogs/o-abc123defg/111111111111/CloudTrail/us-east-1/2024/05/01/a.json.gz",
		"AWSLogs/o-abc123defg/111111111111/CloudTrail/eu-west-1/2024/05/01/b.json.gz",
		"AWSLogs/o-abc123defg/111111111111/CloudTrail-Digest/us-east-1/2024/05/01/d.json.gz",
		"AWSLogs/o-abc123defg/111111111111/vpcflowlogs/us-east-1/2024/05/01/f.log.gz",
		"AWSLogs/o-abc123defg/222222222222/CloudTrail/us-east-1/2024/05/02/c.json.gz",
		"AWSLogs/o-abc123defg/222222222222/CloudTrail-Insight/us-east-1/2024/05/02/i.json.gz",
		"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=05/day=01/hour=00/f.log.gz",
		"exports/a.json.gz",
		"exports/deeper/b.json.gz",
		"tmpl/333333333333/2024/05/01/x.json.gz",
		"tmpl/444444444444/2024/05/01/y.json.gz",
	}
	m := &memLister{keys: keys}
	cases := []struct {
		tmpl    string
		regions []string
	}{
		{"AWSLogs/o-abc123defg/*/CloudTrail", nil},
		{"AWSLogs/o-abc123defg", []string{"us-east-1"}},
		{"AWSLogs/o-abc123defg", nil},
		{"AWSLogs", nil},
		{"exports", nil},
		{"", nil},
		{"tmpl/*///YYYY//", nil},
		{"tmpl/*", nil},
	}
	for _, tc := range cases {
		tp, err := Parse(tc.tmpl, Options{AllowWildcard: true})
		if err != nil {
			t.Fatal(err)
		}
		d, err := Discover(context.Background(), m, tp, ctRelevant, tc.regions)
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]Kind{}
		for _, p := range d.Partitions {
			found[p.Prefix] = p.Kind
		}
		matched := 0
		for _, k := range keys {
			if !tp.Match(k) {
				continue
			}
			matched++
			p, why := tp.PartitionOf(k, ctRelevant, tc.regions)
			kind, ok := found[p.Prefix]
			switch {
			case why == "" && !ok:
				t.Errorf("%q: key %s put in partition %q, which discovery does not find (%v)", tc.tmpl, k, p.Prefix, d.Partitions)
			case why == "" && kind != p.Kind:
				t.Errorf("%q: key %s: kind %v, discovery says %v", tc.tmpl, k, p.Kind, kind)
			case why != "" && ok && strings.HasPrefix(k, p.Prefix) && p.Prefix != "":
				t.Errorf("%q: key %s left out (%s), but discovery collects its partition %q", tc.tmpl, k, why, p.Prefix)
			case why != "":
				// Left out: no partition discovery finds may hold it either.
				for pre, kd := range found {
					if kd == Dated && strings.HasPrefix(k, pre) && isDatedBelow(k[len(pre):]) {
						t.Errorf("%q: key %s left out (%s), but discovery's partition %q holds it", tc.tmpl, k, why, pre)
					}
				}
			}
		}
		if matched == 0 {
			t.Errorf("%q matched no key: the case tests nothing", tc.tmpl)
		}
	}
}

func isDatedBelow(rest string) bool {
	y, _, _ := strings.Cut(rest, "/")
	return yearDir.MatchString(y + "/")
}
