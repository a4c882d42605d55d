package catalog

import (
	"context"
	"testing"
	"time"
)

// TestSetWebhookKeepsPendingAlerts: a tenant's first webhook does not
// receive the alerts raised before it (there was nowhere to send them);
// changing the URL keeps the alerts not yet delivered for the new one.
func TestSetWebhookKeepsPendingAlerts(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	raise := func(rule string) {
		t.Helper()
		a := Alert{Tenant: "acme", RuleID: rule, Rule: rule, Level: "high", WindowStart: base, WindowEnd: base.Add(5 * time.Minute), Count: 1, Query: "x"}
		if _, err := l.DoneDetection(ctx, nil, []Alert{a}, Coverage{}); err != nil {
			t.Fatal(err)
		}
	}
	pending := func() int {
		t.Helper()
		as, err := l.Unnotified(ctx, "acme", 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(as)
	}
	raise("before")
	if err := l.SetWebhook(ctx, "acme", "http://127.0.0.1:1/a"); err != nil {
		t.Fatal(err)
	}
	if n := pending(); n != 0 {
		t.Fatalf("the first webhook has %d alerts raised before it pending, want 0", n)
	}
	raise("after")
	if n := pending(); n != 1 {
		t.Fatalf("%d pending after an alert, want 1", n)
	}
	if err := l.SetWebhook(ctx, "acme", "http://127.0.0.1:1/b"); err != nil {
		t.Fatal(err)
	}
	if n := pending(); n != 1 {
		t.Errorf("after the URL changed %d alerts are pending, want the 1 never delivered", n)
	}
}

// TestRuleFailures: a failure is stored, replaced by a newer reason,
// listed per tenant or for all, and cleared.
func TestRuleFailures(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	for _, f := range []RuleFailure{{"a", "r1", "old", base}, {"a", "r1", "new", base}, {"b", "r2", "why", base}} {
		if err := l.SetRuleFailure(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := l.RuleFailures(ctx, "a")
	if err != nil || len(fs) != 1 || fs[0].Reason != "new" || !fs[0].At.Equal(base) {
		t.Fatalf("tenant a's failures %+v %v", fs, err)
	}
	if fs, _ := l.RuleFailures(ctx, ""); len(fs) != 2 {
		t.Errorf("every tenant's failures: %+v", fs)
	}
	if err := l.ClearRuleFailure(ctx, "a", "r1"); err != nil {
		t.Fatal(err)
	}
	if fs, _ := l.RuleFailures(ctx, "a"); len(fs) != 0 {
		t.Errorf("after clearing: %+v", fs)
	}
}
