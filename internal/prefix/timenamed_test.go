package prefix

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/source"
)

// rangeLister is memLister with S3's List: keys in order, after a start,
// counting requests (a page per 1,000 keys).
type rangeLister struct {
	memLister
	lists, pages int
}

func (r *rangeLister) List(_ context.Context, prefix, startAfter string, fn func(source.Object) error) error {
	r.lists++
	keys := append([]string(nil), r.keys...)
	sort.Strings(keys)
	n := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) || k <= startAfter {
			continue
		}
		if n%1000 == 0 {
			r.pages++
		}
		n++
		if err := fn(source.Object{Key: k}); err != nil {
			return err
		}
	}
	return nil
}

// accessLogs is a target prefix's folder holding three years of flat
// server access logs (a name every 30 minutes), beside the date-partitioned
// folders of two source accounts, one whose ID sorts among the names
// (202411112222 after the names of 2024).
func accessLogs() *rangeLister {
	r := &rangeLister{}
	for t := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC); t.Before(time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)); t = t.Add(30 * time.Minute) {
		r.keys = append(r.keys, "logs/"+t.Format("2006-01-02-15-04-05")+"-0123456789ABCDEF")
	}
	r.keys = append(r.keys,
		"logs/123456789012/us-east-1/src/2025/03/01/2025-03-01-00-00-00-0123456789ABCDEF",
		"logs/202411112222/eu-west-1/src/2025/03/02/2025-03-02-00-00-00-0123456789ABCDEF",
		"logs/202411112222/eu-west-1/src/2025/03/02/2025-03-02-01-00-00-0123456789ABCDEF",
		"logs/notes.txt")
	return r
}

// TestDiscoverNamedByTime: the flat folder is one TimeNamed partition and
// the partitioned folders are dated ones; discovery steps over the
// thousands of names (a request per folder and per year, not per page of
// names).
func TestDiscoverNamedByTime(t *testing.T) {
	r := accessLogs()
	tp, _ := Parse("logs", Options{AllowWildcard: true})
	d, err := DiscoverNamedByTime(context.Background(), r, tp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range d.Partitions {
		got = append(got, p.Kind.String()+" "+p.Prefix+" "+p.Account)
	}
	want := "timenamed logs/ |dated logs/123456789012/us-east-1/src/ 123456789012|dated logs/202411112222/eu-west-1/src/ 202411112222"
	if strings.Join(got, "|") != want {
		t.Errorf("partitions %q, want %q", got, want)
	}
	if len(r.keys) < 30000 || d.Requests > 20 || r.pages > 20 {
		t.Errorf("%d keys: discovery made %d requests (%d pages listed)", len(r.keys), d.Requests, r.pages)
	}
	if strings.Join(d.Regions, ",") != "eu-west-1,us-east-1" || strings.Join(d.Accounts, ",") != "123456789012,202411112222" {
		t.Errorf("regions %v, accounts %v", d.Regions, d.Accounts)
	}
	d, err = DiscoverNamedByTime(context.Background(), r, tp, nil, []string{"us-east-1"})
	if err != nil || len(d.Partitions) != 2 || len(d.Excluded) != 1 || d.Excluded[0].Prefix != "logs/202411112222/eu-west-1/" {
		t.Errorf("with regions us-east-1: %+v, %v", d, err)
	}
	// A wildcard account expands to the account folders only.
	wp, _ := Parse("logs/*", Options{AllowWildcard: true})
	d, err = DiscoverNamedByTime(context.Background(), r, wp, nil, nil)
	if err != nil || len(d.Partitions) != 2 || d.Partitions[0].Kind != Dated || d.Partitions[0].Account != "123456789012" || d.Requests > 20 {
		t.Errorf("logs/*: %+v, %v", d, err)
	}
	// Plain Discover is unchanged: the folder's names make it flat.
	plain, _ := Discover(context.Background(), &r.memLister, tp, nil, nil)
	if k := plain.Partitions[0]; k.Kind != Flat || k.Prefix != "logs/" {
		t.Errorf("Discover: %+v", plain.Partitions)
	}
}

// TestListNamedByTime: a window lists only its days' names, from a start
// key derived from its first day: a few requests, however long the
// history; the partitioned folders between names are stepped over.
func TestListNamedByTime(t *testing.T) {
	r := accessLogs()
	p := Partition{Prefix: "logs/", Kind: TimeNamed}
	for _, tc := range []struct {
		from, to   time.Time
		n          int
		first, end string
	}{
		{time.Date(2025, 3, 1, 13, 0, 0, 0, time.UTC), time.Date(2025, 3, 2, 9, 0, 0, 0, time.UTC), 96, "2025-03-01-00-00-00", "2025-03-02-23-30-00"},
		{time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 96, "2024-12-31-00-00-00", "2025-01-01-23-30-00"},
		{time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 6, 0, 0, 0, 0, time.UTC), 0, "", ""},
	} {
		r.lists, r.pages = 0, 0
		var keys []string
		n, err := p.ListNamedByTime(context.Background(), r, tc.from, tc.to, func(o source.Object) error {
			keys = append(keys, o.Key)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != tc.n || n > 5 || r.lists > 5 {
			t.Errorf("%v..%v: %d keys in %d requests (%d lists), want %d", tc.from, tc.to, len(keys), n, r.lists, tc.n)
			continue
		}
		if tc.n > 0 && (keys[0] != "logs/"+tc.first+"-0123456789ABCDEF" || keys[len(keys)-1] != "logs/"+tc.end+"-0123456789ABCDEF") {
			t.Errorf("%v: first %s last %s", tc.from, keys[0], keys[len(keys)-1])
		}
		for _, k := range keys {
			if strings.Count(k, "/") != 1 {
				t.Errorf("listed %s, which is in a sub-folder", k)
			}
		}
	}
}

func TestNamedByTime(t *testing.T) {
	for name, want := range map[string]bool{
		"2019-02-06-00-00-38-5A2F7D3E1C8B9A40": true, "2019-02-06-00-00-38-": false, "2019-02-06-00-00-38": false,
		"2019-02-06T00-00-38-x": false, "notes.txt": false, "123456789012": false, fmt.Sprint("20a9-02-06-00-00-38-x"): false,
	} {
		if NamedByTime(name) != want {
			t.Errorf("%q: %v", name, !want)
		}
	}
}
