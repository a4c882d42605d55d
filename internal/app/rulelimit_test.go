package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestTenantRuleLimit: a tenant adds rules up to its limit; the next is
// refused saying what to do, a replacement of one it has is not, and
// another tenant's rules are its own count.
func TestTenantRuleLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := newTrailFixture(t, ctx, &fixedClock{}, Options{MaxTenantRules: 2})
	a, root := f.a, f.root
	rule := func(id, event string) []byte {
		return []byte(fmt.Sprintf("title: %s\nid: %s\nlevel: low\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  selection:\n    eventName: %s\n  condition: selection\n", id, id, event))
	}
	for _, id := range []string{"acme-1", "acme-2"} {
		if _, err := a.AddRule(ctx, root, "acme", rule(id, "StopLogging")); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if err := a.SetRuleEnabled(ctx, root, "acme", "trawl-ct-003", false); err != nil {
		t.Fatal(err) // a built-in rule switched off takes no room
	}
	_, err := a.AddRule(ctx, root, "acme", rule("acme-3", "StopLogging"))
	var re *RuleError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "already has 2 rules") || !strings.Contains(err.Error(), "trawl rules delete") {
		t.Fatalf("third rule: %v, want refused at the limit with what to do", err)
	}
	if _, err := a.AddRule(ctx, root, "acme", rule("acme-2", "DeleteTrail")); err != nil {
		t.Fatalf("replacing a rule at the limit: %v", err)
	}
	if _, err := a.AddRule(ctx, root, "other", rule("other-1", "StopLogging")); err != nil {
		t.Fatalf("another tenant: %v", err)
	}
}
