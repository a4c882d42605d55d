package app

import (
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
)

// TestQueueVerdicts: a message is deleted only when every object it names
// is collected (or is no object of the connector's, under the delete
// policy); anything failed or held elsewhere brings it back.
func TestQueueVerdicts(t *testing.T) {
	a := &App{}
	del := &connector.Connector{QueueIgnored: connector.QueueIgnoredDelete}
	keep := &connector.Connector{QueueIgnored: connector.QueueIgnoredKeep}
	out := map[string]collect.Notified{
		"done": {Outcome: collect.OutcomeCollected}, "out": {Outcome: collect.OutcomeOutside}, "gone": {Outcome: collect.OutcomeGone},
		"fail": {Outcome: collect.OutcomeFailed}, "held": {Outcome: collect.OutcomeDeferred},
	}
	cases := []struct {
		c          *connector.Connector
		m          message
		runFailed  bool
		verdict    string
		wantReason string
	}{
		{del, message{keys: []string{"done"}}, false, "delete", ""},
		{del, message{keys: []string{"done", "out"}}, false, "delete", ""},
		{keep, message{keys: []string{"done", "out"}}, false, "ignore-keep", "outside"},
		{del, message{keys: []string{"out", "gone"}}, false, "delete", "outside"},
		{del, message{keys: []string{"done", "fail"}}, false, "failed", ""},
		{del, message{keys: []string{"done", "held"}}, false, "deferred", ""},
		{del, message{keys: []string{"done", "never-decided"}}, false, "failed", ""},
		{del, message{keys: []string{"done"}}, true, "failed", ""},
		{del, message{ignored: "test-event"}, false, "delete", "test-event"},
		{keep, message{ignored: "unparseable"}, false, "ignore-keep", "unparseable"},
	}
	for i, tc := range cases {
		v, r := a.verdict(tc.c, tc.m, out, tc.runFailed)
		if v != tc.verdict || r != tc.wantReason {
			t.Errorf("case %d %v: verdict %s (%q), want %s (%q)", i, tc.m.keys, v, r, tc.verdict, tc.wantReason)
		}
	}
	// Backoffs double per delivery and stop at their cap: no tight loop.
	if d := retryAfter(1, 15*time.Second, 15*time.Minute); d != 15*time.Second {
		t.Errorf("first retry after %s", d)
	}
	if d := retryAfter(4, 15*time.Second, 15*time.Minute); d != 2*time.Minute {
		t.Errorf("fourth retry after %s, want 2m", d)
	}
	if d := retryAfter(40, 15*time.Second, 15*time.Minute); d != 15*time.Minute {
		t.Errorf("40th retry after %s, want the cap", d)
	}
}
