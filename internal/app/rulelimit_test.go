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

// TestTenantRuleTerms: a tenant's rules together hold at most
// Options.MaxTenantTerms terms (each is evaluated on every record stored): rules
// of 500 values each are accepted until the next would pass it, and the
// refusal says what to do; a regular expression whose repeats compile to
// a program too large is refused whatever its length.
func TestTenantRuleTerms(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newTrailFixture(t, ctx, &fixedClock{}, Options{MaxTenantTerms: 2000})
	a, root := f.a, f.root
	refused := 0
	for i := 1; i <= 8 && refused == 0; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "title: wide %d\nid: wide-%d\nlevel: low\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  selection:\n    eventName:\n", i, i)
		for v := range 500 {
			fmt.Fprintf(&b, "      - Event%dx%d\n", i, v)
		}
		b.WriteString("  condition: selection\n")
		if _, err := a.AddRule(ctx, root, "wide", []byte(b.String())); err != nil {
			if !strings.Contains(err.Error(), "terms") || !strings.Contains(err.Error(), "fewer values") {
				t.Fatalf("rule %d: %v", i, err)
			}
			refused = i
		}
	}
	if want := 2000 / 500; refused != want && refused != want+1 {
		t.Fatalf("refused at rule %d, want about %d (500 terms each, 2,000 in all)", refused, want)
	}
	heavy := "title: heavy\nid: heavy-1\nlevel: low\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  s:\n    eventName|re: '" +
		strings.Repeat("x{1,1000}", 20) + "'\n  condition: s\n"
	if _, err := a.AddRule(ctx, root, "acme", []byte(heavy)); err == nil || !strings.Contains(err.Error(), "instructions") {
		t.Fatalf("a 180-byte regular expression of 40,000 instructions: %v, want refused", err)
	}
}
