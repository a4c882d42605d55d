package api

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/app"
)

// metrics serves Prometheus text format: per connector totals, the last
// run, errors by class and lag. It needs a root token: the labels name
// tenants and connectors.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	if !sc.Root {
		return app.ErrForbidden
	}
	list, err := s.app.ListConnectors(r.Context(), sc, "")
	if err != nil {
		return err
	}
	type series struct {
		name, help, typ string
		lines           []string
	}
	ms := []*series{
		{name: "trawl_objects_total", help: "Objects collected.", typ: "counter"},
		{name: "trawl_records_total", help: "Records stored.", typ: "counter"},
		{name: "trawl_bytes_total", help: "Compressed bytes read from collected objects.", typ: "counter"},
		{name: "trawl_quarantined_total", help: "Records or object remainders quarantined.", typ: "counter"},
		{name: "trawl_run_dropped", help: "Records dropped by log filters in the last run.", typ: "gauge"},
		{name: "trawl_run_errors", help: "Failed objects in the last run, by HTTP status class of the failure.", typ: "gauge"},
		{name: "trawl_run_duration_seconds", help: "Duration of the last run.", typ: "gauge"},
		{name: "trawl_run_success", help: "1 if the last run succeeded.", typ: "gauge"},
		{name: "trawl_lag_seconds", help: "Age of the newest collected object.", typ: "gauge"},
		{name: "trawl_connector_enabled", help: "1 if the connector is enabled.", typ: "gauge"},
		{name: "trawl_audit_missing_files", help: "Log files CloudTrail's digests list that were not collected (audited hours of the last week).", typ: "gauge"},
		{name: "trawl_audit_altered_files", help: "Collected log files whose content differs from the hash in CloudTrail's digest (last week).", typ: "gauge"},
		{name: "trawl_audit_hours", help: "Audited hours of the last week by status (verified, missing, altered, unlisted, unverifiable).", typ: "gauge"},
		{name: "trawl_audit_tampered_digests", help: "Audited hours of the last week whose CloudTrail digest's signature does not verify or whose digest chain is broken.", typ: "gauge"},
	}
	add := func(i int, labels string, v float64) {
		ms[i].lines = append(ms[i].lines, fmt.Sprintf("%s{%s} %g", ms[i].name, labels, v))
	}
	qs := newQueueSeries()
	for _, c := range list {
		st, err := s.app.ConnectorStatus(r.Context(), sc, c.ID)
		if err != nil {
			return err
		}
		l := fmt.Sprintf(`tenant=%q,connector=%q,sub_type=%q`, c.Tenant, c.Name, c.SubType)
		add(0, l, float64(st.Totals.Objects))
		add(1, l, float64(st.Totals.Records))
		add(2, l, float64(st.Totals.Bytes))
		add(3, l, float64(st.Totals.Quarantined))
		enabled := 0.0
		if c.Enabled {
			enabled = 1
		}
		add(9, l, enabled)
		if lr := st.LastRun; lr != nil {
			add(4, l, float64(lr.Dropped))
			class := "none"
			if lr.Status != 0 {
				class = fmt.Sprintf("%dxx", lr.Status/100)
			}
			add(5, l+fmt.Sprintf(`,class=%q`, class), float64(lr.Errors))
			if lr.EndedAt != nil {
				add(6, l, lr.EndedAt.Sub(lr.StartedAt).Seconds())
			}
			ok := 0.0
			if lr.Result == "ok" {
				ok = 1
			}
			add(7, l, ok)
		}
		if st.Totals.Newest != nil {
			add(8, l, time.Since(*st.Totals.Newest).Seconds())
		}
		if q := st.Queue; q != nil {
			queueMetrics(qs, l, q)
		}
		if in := st.Integrity; in != nil {
			add(10, l, float64(in.MissingFiles))
			add(11, l, float64(in.AlteredFiles))
			for status, n := range in.Hours {
				add(12, l+fmt.Sprintf(`,status=%q`, status), float64(n))
			}
			add(13, l, float64(in.TamperedDigests))
		}
	}
	for _, q := range qs.all() {
		ms = append(ms, &series{name: q.name, help: q.help, typ: q.typ, lines: q.lines})
	}
	if counts, err := s.app.AlertCounts(r.Context(), sc); err == nil {
		al := &series{name: "trawl_alerts_total", help: "Alerts raised by the detection rules, by tenant, rule and level.", typ: "counter"}
		for _, c := range counts {
			al.lines = append(al.lines, fmt.Sprintf("trawl_alerts_total{tenant=%q,rule_id=%q,level=%q} %d", c.Tenant, c.RuleID, c.Level, c.Count))
		}
		ms = append(ms, al)
	}
	if fails, err := s.app.FailedRules(r.Context(), sc); err == nil {
		// One line per failed rule: its evaluation is skipped until fixed
		// (trawl rules list says why).
		fl := &series{name: "trawl_rule_failed", help: "1 for each detection rule whose evaluation failed; it is skipped until fixed (trawl rules list shows why).", typ: "gauge"}
		for _, f := range fails {
			fl.lines = append(fl.lines, fmt.Sprintf("trawl_rule_failed{tenant=%q,rule=%q} 1", f.Tenant, f.RuleID))
		}
		ms = append(ms, fl)
	}
	if days, err := s.app.OldestDaysKept(r.Context(), sc); err == nil {
		// Where retention has cut each tenant's records: the start (UTC)
		// of its oldest day in the lake, as a unix time.
		od := &series{name: "trawl_oldest_day_kept", help: "Start (UTC, unix seconds) of each tenant's oldest day of records in the lake; retention drops older days.", typ: "gauge"}
		tenants := make([]string, 0, len(days))
		for t := range days {
			tenants = append(tenants, t)
		}
		sort.Strings(tenants)
		for _, t := range tenants {
			od.lines = append(od.lines, fmt.Sprintf("trawl_oldest_day_kept{tenant=%q} %d", t, days[t].Unix()))
		}
		ms = append(ms, od)
	}
	if sc.Root {
		// Segments committed but not yet read by the detector: it should
		// stay near zero; growth means detection at ingest fell behind.
		if n, err := s.app.DetectionBacklog(r.Context(), sc); err == nil {
			ms = append(ms, &series{name: "trawl_detect_backlog_segments", help: "Committed segments the detection rules have not yet evaluated.", typ: "gauge",
				lines: []string{fmt.Sprintf("trawl_detect_backlog_segments %d", n)}})
		}
	}
	// This node's own work: each node of a shared catalog serves its own
	// /metrics, so rates per node are these counters' rates.
	node, runs, objects, records := s.app.NodeTotals()
	nl := fmt.Sprintf(`node=%q`, node)
	ms = append(ms,
		&series{name: "trawl_node_runs_total", help: "Runs this node made since it started.", typ: "counter", lines: []string{fmt.Sprintf("trawl_node_runs_total{%s} %d", nl, runs)}},
		&series{name: "trawl_node_objects_total", help: "Objects this node collected since it started.", typ: "counter", lines: []string{fmt.Sprintf("trawl_node_objects_total{%s} %d", nl, objects)}},
		&series{name: "trawl_node_records_total", help: "Records this node stored since it started.", typ: "counter", lines: []string{fmt.Sprintf("trawl_node_records_total{%s} %d", nl, records)}})
	if nodes, err := s.app.Nodes(r.Context(), sc); err == nil {
		live := &series{name: "trawl_node_live", help: "1 if the node's heartbeat in the shared catalog is recent.", typ: "gauge"}
		for _, n := range nodes {
			v := 0
			if n.Live {
				v = 1
			}
			live.lines = append(live.lines, fmt.Sprintf("trawl_node_live{node=%q} %d", n.Name, v))
		}
		ms = append(ms, live)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	var b strings.Builder
	for _, m := range ms {
		sort.Strings(m.lines)
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.typ)
		for _, l := range m.lines {
			b.WriteString(l + "\n")
		}
	}
	_, err = w.Write([]byte(b.String()))
	return err
}

// queueSeries are the series of connectors' queues (event-driven
// collection), this node's.
type queueSeries struct{ s []*qseries }

type qseries struct {
	name, help, typ string
	lines           []string
}

func newQueueSeries() *queueSeries {
	return &queueSeries{s: []*qseries{
		{name: "trawl_queue_messages_received_total", help: "Queue messages this node received (a message received again counts again).", typ: "counter"},
		{name: "trawl_queue_messages_deleted_total", help: "Queue messages this node deleted: their objects collected, or announcing nothing.", typ: "counter"},
		{name: "trawl_queue_messages_ignored_total", help: "Queue messages announcing nothing to collect, by reason.", typ: "counter"},
		{name: "trawl_queue_messages_failed_total", help: "Queue messages left to come back after a failure.", typ: "counter"},
		{name: "trawl_queue_messages_deferred_total", help: "Queue messages left to come back because another run or node held their objects.", typ: "counter"},
		{name: "trawl_queue_messages_visible", help: "Messages waiting in the queue (SQS's ApproximateNumberOfMessages).", typ: "gauge"},
		{name: "trawl_queue_messages_in_flight", help: "Messages received and not yet deleted (SQS's ApproximateNumberOfMessagesNotVisible).", typ: "gauge"},
		{name: "trawl_queue_oldest_in_flight_seconds", help: "Age of the oldest message this node is working on.", typ: "gauge"},
		{name: "trawl_queue_latency_seconds", help: "Seconds from an object's S3 event to its records being searchable, over the last 1,000 objects.", typ: "gauge"},
	}}
}

func (qs *queueSeries) add(i int, labels string, v float64) {
	qs.s[i].lines = append(qs.s[i].lines, fmt.Sprintf("%s{%s} %g", qs.s[i].name, labels, v))
}

func (qs *queueSeries) all() []*qseries { return qs.s }

func queueMetrics(qs *queueSeries, l string, q *apiv1.QueueStatus) {
	qs.add(0, l, float64(q.Received))
	qs.add(1, l, float64(q.Deleted))
	for reason, n := range q.Ignored {
		qs.add(2, l+fmt.Sprintf(`,reason=%q`, reason), float64(n))
	}
	qs.add(3, l, float64(q.Failed))
	qs.add(4, l, float64(q.Deferred))
	qs.add(5, l, float64(q.Visible))
	qs.add(6, l, float64(q.InFlight))
	age := 0.0
	if q.OldestInFlight != nil {
		age = time.Since(*q.OldestInFlight).Seconds()
	}
	qs.add(7, l, age)
	if q.LatencyP50 > 0 || q.LatencyP95 > 0 {
		qs.add(8, l+`,quantile="0.5"`, q.LatencyP50)
		qs.add(8, l+`,quantile="0.95"`, q.LatencyP95)
	}
}
