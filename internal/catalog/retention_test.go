package catalog

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestRetentionSetByMigrates: settings stored before schema 18 did not
// record who set them; the migration makes each root's unless the audit
// log's latest retention.set of it was made by a token of its own tenant.
func TestRetentionSetByMigrates(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	for _, tok := range []Token{{ID: "ta", Tenant: "acme", Name: "a", CreatedAt: base}, {ID: "tb", Tenant: "beta", CreatedAt: base}, {ID: "tr", CreatedAt: base}} {
		if err := l.InsertToken(ctx, tok, "h-"+tok.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range [][2]string{{"acme", ""}, {"acme", "traffic"}, {"acme", "aws_events"}, {"beta", ""}, {"beta", "traffic"}, {"gamma", ""}, {"", ""}} {
		if _, err := l.db.ExecContext(ctx, `INSERT INTO retention (tenant, idx, days, updated_at) VALUES (?, ?, 3, ?)`, r[0], r[1], base); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range [][2]string{
		{"token:ta(a)", "acme"},            // acme's own token: acme's
		{"token:ta(a)", "acme/aws_events"}, // then root changed it: root's
		{"root", "acme/aws_events"},
		{"token:tb", "beta/traffic"}, // beta's own token, no name
		{"token:tb", "acme/traffic"}, // a token of another tenant: root's
		{"token:tr(ops)", "gamma"},   // a root token: root's
	} {
		if err := l.LogAction(ctx, a[0], "x", "retention.set", a[1], "3d"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // the log's order is its times
	}
	if err := l.migrateRetentionSetBy(ctx); err != nil {
		t.Fatal(err)
	}
	rs, err := l.Retentions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rs {
		got[r.Tenant+"/"+r.Index] = r.SetBy
	}
	want := map[string]string{"acme/": SetByTenant, "acme/traffic": SetByRoot, "acme/aws_events": SetByRoot, "beta/": SetByRoot,
		"beta/traffic": SetByTenant, "gamma/": SetByRoot, "/": SetByRoot}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("set by %v, want %v", got, want)
	}
	// A tenant's write never replaces root's setting; root's replaces any.
	err = l.SetRetention(ctx, Retention{Tenant: "beta", Days: 9, SetBy: SetByTenant})
	if !errors.Is(err, ErrSetByRoot) {
		t.Errorf("a tenant's write over root's setting: %v", err)
	}
	if err := l.ClearRetention(ctx, "beta", "", SetByTenant); !errors.Is(err, ErrSetByRoot) {
		t.Errorf("a tenant's removal of root's setting: %v", err)
	}
	if err := l.ClearRetention(ctx, "beta", "aws_events", SetByTenant); err != nil {
		t.Errorf("a tenant's removal of a setting that is not there: %v", err)
	}
	if err := l.SetRetention(ctx, Retention{Tenant: "acme", Days: 9, SetBy: SetByRoot}); err != nil {
		t.Errorf("root's write over a tenant's setting: %v", err)
	}
	if err := l.ClearRetention(ctx, "acme", "", SetByTenant); !errors.Is(err, ErrSetByRoot) {
		t.Errorf("the tenant's removal of the setting root took over: %v", err)
	}
}
