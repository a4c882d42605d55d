package filter

import (
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/interflow"
)

func flow(dport int64, action, src string) *interflow.Record {
	r := interflow.New(interflow.Traffic())
	r.Set(interflow.TDstPort, dport)
	r.Set(interflow.FAction, action)
	r.Set(interflow.FSrcIP, src)
	r.Set(interflow.FTimestamp, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	r.Set(interflow.FRaw, "2 123 eni-1 "+src+" 10.0.0.1 ACCEPT OK NODATA")
	return r
}

func event(name, agent string, labels []string) *interflow.Record {
	r := interflow.New(interflow.Events())
	r.Set(interflow.EEventName, name)
	r.Set(interflow.EUserAgent, agent)
	if labels != nil {
		r.Set(interflow.ELabels, labels)
	}
	r.Set(interflow.FRaw, `{"eventName":"`+name+`"}`)
	return r
}

func TestKeepDrop(t *testing.T) {
	cases := []struct {
		filters []connector.Filter
		rec     *interflow.Record
		keep    bool
	}{
		{nil, flow(22, "ACCEPT", "10.0.0.1"), true},
		{[]connector.Filter{{Action: "drop", Query: "action:ACCEPT AND dstport:443"}}, flow(443, "ACCEPT", "10.0.0.1"), false},
		{[]connector.Filter{{Action: "drop", Query: "action:ACCEPT AND dstport:443"}}, flow(22, "ACCEPT", "10.0.0.1"), true},
		{[]connector.Filter{{Action: "drop", Query: "srcip:10.0.0.0/8"}}, flow(22, "REJECT", "10.9.8.7"), false},
		{[]connector.Filter{{Action: "drop", Query: "srcip:10.0.0.0/8"}}, flow(22, "REJECT", "192.0.2.1"), true},
		{[]connector.Filter{{Action: "keep", Query: "action:REJECT"}}, flow(22, "ACCEPT", "192.0.2.1"), false},
		{[]connector.Filter{{Action: "keep", Query: "action:REJECT"}, {Action: "keep", Query: "dstport:[1 TO 1024]"}}, flow(22, "ACCEPT", "192.0.2.1"), true},
		{[]connector.Filter{{Action: "drop", Query: "dstport:>1024"}}, flow(8080, "ACCEPT", "192.0.2.1"), false},
		{[]connector.Filter{{Action: "drop", Query: "event_name:Describe*"}}, event("DescribeInstances", "", nil), false},
		{[]connector.Filter{{Action: "drop", Query: "event_name:Describe*"}}, event("RunInstances", "", nil), true},
		{[]connector.Filter{{Action: "drop", Query: "user_agent:*/internal/*"}}, event("x", "sdk/internal/1.0", nil), false},
		{[]connector.Filter{{Action: "drop", Query: "NOT error_code:*"}}, event("x", "", nil), false},
		{[]connector.Filter{{Action: "drop", Query: "labels:awswaf:*bot*"}}, event("x", "", []string{"a", "awswaf:managed:bot:x"}), false},
		{[]connector.Filter{{Action: "drop", Query: "nodata"}}, flow(1, "ACCEPT", "1.2.3.4"), false},
		{[]connector.Filter{{Action: "drop", Query: "dstport:22"}}, event("x", "", nil), true},
	}
	for i, c := range cases {
		s, err := Compile(c.filters)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got := s.KeepRecord(c.rec); got != c.keep {
			t.Errorf("case %d %v: keep = %v, want %v", i, c.filters, got, c.keep)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, q := range []string{"nosuch:1", "(action:X", "dstport:[1 TO"} {
		if _, err := Compile([]connector.Filter{{Action: "drop", Query: q}}); err == nil {
			t.Errorf("%q compiled", q)
		}
	}
}
