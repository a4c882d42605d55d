package catalog

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestAuditPages: stored results come back in pages that continue after
// the cursor in (hour, account, region) order, and capped key lists keep
// their count of the rest.
func TestAuditPages(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	var rs []AuditResult
	for h := range 3 {
		for _, acct := range []string{"111111111111", "222222222222"} {
			for _, region := range []string{"eu-west-1", "us-east-1"} {
				rs = append(rs, AuditResult{ConnectorID: "c", Account: acct, Region: region, Hour: base.Add(time.Duration(h) * time.Hour), Status: "verified"})
			}
		}
	}
	rs[5].Status, rs[5].Missing, rs[5].MissingMore, rs[5].Unlisted = "missing", []string{"a", "b"}, 7, []string{"u"}
	if err := l.SaveAudit(ctx, rs); err != nil {
		t.Fatal(err)
	}
	var got []AuditResult
	var after *AuditCursor
	for n := 0; n < 10; n++ {
		page, err := l.AuditPage(ctx, "c", base, time.Time{}, after, 5)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 5 {
			break
		}
		last := page[len(page)-1]
		after = &AuditCursor{Hour: last.Hour, Account: last.Account, Region: last.Region}
	}
	if len(got) != len(rs) {
		t.Fatalf("pages gave %d results, want %d", len(got), len(rs))
	}
	for i, r := range got {
		key := func(r AuditResult) string { return fmt.Sprint(r.Hour.UTC(), r.Account, r.Region) }
		if key(r) != key(rs[i]) {
			t.Errorf("result %d: %s, want %s", i, key(r), key(rs[i]))
		}
	}
	if r := got[5]; len(r.Missing) != 2 || r.MissingMore != 7 || len(r.Unlisted) != 1 || r.UnlistedMore != 0 {
		t.Errorf("capped lists: missing %v (+%d), unlisted %v (+%d)", r.Missing, r.MissingMore, r.Unlisted, r.UnlistedMore)
	}
}
