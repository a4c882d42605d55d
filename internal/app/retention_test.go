package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/ingest"
)

// TestRetentionDropsWholeDays: with records on three days and 2 days kept,
// the oldest day leaves the registry in one transaction, the table's next
// snapshot is a delete snapshot without its files, and once that
// snapshot's predecessors expire its files leave the disk; the other days
// are intact.
func TestRetentionDropsWholeDays(t *testing.T) {
	l := openTest(t)
	// Expiry is tested by the clock collectGarbage is given, not by
	// sleeping past a short retention: under load, the time between the
	// drop's snapshot and the first collection outlasted 50 ms, and the
	// file the previous snapshot still held was already gone.
	l.snapshotRetention = time.Hour
	ctx := context.Background()
	for day := int64(0); day < 3; day++ {
		for i := int64(0); i <= day; i++ { // 1, 2 and 3 records
			pos := day*24*60 + i
			r := event("acme", pos, "E", "10.0.0.1", "")
			if err := l.Commit(ctx, ingest.RecordsBatch("c", ingest.ObjectState{Key: fmt.Sprint(pos), Version: "e", Position: 1, Done: true}, r)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	table := filepath.Join(l.Root(), "index=aws_events", "tenant=acme")
	oldest := filepath.Join(table, "day=2024-05-01")
	if files := parquetFiles(t, table); len(files) != 6 {
		t.Fatalf("before: %d files", len(files))
	}
	held, err := l.LakeDays(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := retentionPolicy{def: 2}
	now := base.AddDate(0, 0, 2).Add(3 * time.Hour) // 2024-05-03 13:00
	drop := pastRetention(p, held, now)
	if len(drop) != 1 || !drop[0].Day.Equal(base.Truncate(24*time.Hour)) {
		t.Fatalf("past 2 days at %s: %v", now, drop)
	}
	if d := pastRetention(retentionPolicy{def: 2, byTenant: map[string]int{"acme": 0}}, held, now); len(d) != 0 {
		t.Fatalf("a tenant kept forever loses %v", d)
	}
	st, err := l.DropDays(ctx, drop, time.Millisecond)
	if err != nil || st.Days != 1 || st.Segments != 1 || st.Rows != 1 {
		t.Fatalf("drop: %+v %v", st, err)
	}
	segs, err := l.SegmentsIn(ctx, "aws_events", nil, base.Add(-time.Hour), base.AddDate(0, 0, 3))
	if err != nil || len(segs) != 5 {
		t.Fatalf("registered after the drop: %d %v", len(segs), err)
	}
	if err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	m := currentMetadata(t, table)
	if op := m.Snapshots[len(m.Snapshots)-1].Summary; op["operation"] != "delete" || op["total-records"] != "5" || op["deleted-records"] != "1" {
		t.Fatalf("after the drop: %v", op)
	}
	// The previous snapshot still holds the day: its file stays until it
	// expires.
	if err := l.collectGarbage(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if files := parquetFiles(t, oldest); len(files) != 1 {
		t.Fatalf("before expiry: %d files of the dropped day", len(files))
	}
	if err := l.collectGarbage(ctx, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if files := parquetFiles(t, oldest); len(files) != 0 {
		t.Fatalf("after expiry: %v", files)
	}
	if files := parquetFiles(t, table); len(files) != 5 {
		t.Fatalf("after expiry, the other days: %d files", len(files))
	}
	old, err := l.OldestDays(ctx)
	if err != nil || !old["acme"].Equal(base.Truncate(24*time.Hour).AddDate(0, 0, 1)) {
		t.Fatalf("oldest day kept: %v %v", old, err)
	}
}

func parquetFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]int{"90d": 90, "1d": 1, "0": 0, "forever": 0} {
		if got, err := ParseRetention(in); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"", "90", "0d", "-1d", "2h", "d"} {
		if _, err := ParseRetention(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestRetentionDropsTheFuture: with a retention set, days after tomorrow
// (records dated in the future: forged or broken) are dropped with the
// old ones; tomorrow is kept for a clock ahead of this one; a tenant
// keeping everything keeps them; a retention past a century is refused.
func TestRetentionDropsTheFuture(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	day := func(tenant string, d int) catalog.Day {
		return catalog.Day{Index: "aws_events", Tenant: tenant, Day: time.Date(2026, 12, 7+d, 0, 0, 0, 0, time.UTC)}
	}
	held := []catalog.Day{day("acme", -2), day("acme", 0), day("acme", 1), day("acme", 2), day("acme", 100000), day("beta", 3)}
	got := pastRetention(retentionPolicy{def: 2, byTenant: map[string]int{"beta": 0}}, held, now)
	var days []string
	for _, d := range got {
		days = append(days, d.Tenant+" "+d.Day.Format("2006-01-02"))
	}
	if want := "acme 2026-12-05,acme 2026-12-09,acme 2300-09-22"; strings.Join(days, ",") != want {
		t.Errorf("dropped %v, want %s", days, want)
	}
	if _, err := ParseRetention("2147483648d"); err == nil {
		t.Error("a retention past int32 days was accepted")
	}
	if n, err := ParseRetention("36500d"); err != nil || n != 36500 {
		t.Errorf("36500d: %d %v", n, err)
	}
}

// TestTenantSettingsCappedByRoot: a setting a tenant made applies no
// longer than what root decided for the tenant, even when root decided
// after it (from an outside try: a tenant's forever on its traffic index,
// set before root set 7d for the tenant, kept the tenant's flow records);
// root's own settings apply as set.
func TestTenantSettingsCappedByRoot(t *testing.T) {
	p := retentionPolicy{def: 30, byTenant: map[string]int{"acme": 7, "beta": 0, "gamma": 60}, byIndexOf: map[[2]string]int{
		{"acme", "traffic"}: 0, {"acme", "aws_events"}: 3, {"beta", "traffic"}: 90, {"gamma", "traffic"}: 0, {"delta", "traffic"}: 0,
	}, setBy: map[[2]string]string{
		{"acme", ""}: "root", {"acme", "traffic"}: "tenant", {"acme", "aws_events"}: "tenant",
		{"beta", ""}: "tenant", {"beta", "traffic"}: "tenant",
		{"gamma", ""}: "root", {"gamma", "traffic"}: "root",
		{"delta", "traffic"}: "tenant",
	}}
	for _, c := range []struct {
		tenant, index string
		want          int
	}{
		{"acme", "traffic", 7},    // tenant's forever, root's 7d for the tenant
		{"acme", "aws_events", 3}, // tenant's shorter setting stands
		{"acme", "other", 7},      // root's tenant-wide setting
		{"beta", "traffic", 30},   // no root setting for beta: the lake's default caps
		{"beta", "other", 30},     // beta's own forever, capped by the default
		{"gamma", "traffic", 0},   // root's forever stands
		{"gamma", "other", 60},    // root's 60d stands over the default
		{"delta", "traffic", 30},  // tenant's forever, the default caps
		{"omega", "traffic", 30},  // nothing set: the default
	} {
		if got := p.days(c.tenant, c.index); got != c.want {
			t.Errorf("%s/%s: %d days, want %d", c.tenant, c.index, got, c.want)
		}
	}
}
