package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
)

// TestStoredRuleThatNoLongerCompilesIsShownFailed: a tenant's rule stored
// before Trawl refused what it uses (here near) is not evaluated, and the
// rules list shows it failed with why instead of dropping it.
func TestStoredRuleThatNoLongerCompilesIsShownFailed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := Open(ctx, Options{DataDir: t.TempDir(), MasterKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	yaml := "title: Old\nid: acme-old\nlevel: low\nlogsource: {product: aws, service: cloudtrail}\n" +
		"detection:\n  a:\n    eventName: A\n  b:\n    eventName: B\n  timeframe: 5m\n  condition: a and b\n"
	if err := a.lake.PutRule(ctx, catalog.StoredRule{Tenant: "acme", ID: "acme-old", YAML: yaml, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	rs, err := a.Rules(ctx, RootScope("test"), "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.ID == "acme-old" {
			if !strings.Contains(r.Failed, "no longer compiles") || !strings.Contains(r.Failed, "timeframe") {
				t.Errorf("the stored rule is listed as %+v", r)
			}
			return
		}
	}
	t.Fatal("the stored rule that no longer compiles is not listed")
}
