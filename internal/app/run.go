package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/filter"
	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/segment"
	"github.com/trawlhq/trawl/internal/source"
)

// RunConnector collects one connector once. One run per connector runs at
// a time in this process; a second caller waits for the first to end.
func (a *App) RunConnector(ctx context.Context, sc Scope, id string, opt collect.Options) (*RunResult, error) {
	c, err := a.GetConnector(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	// A run already in flight (the scheduler's, another caller's) is
	// waited for, then this one runs: `collect --once` right after adding
	// a connector that the scheduler started at once still collects.
	for {
		a.mu.Lock()
		busy := a.running[id]
		if busy == nil {
			break // a.mu held
		}
		a.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, fmt.Errorf("connector %s: waiting for its run in flight: %w", c.Name, ctx.Err())
		}
		if c, err = a.GetConnector(ctx, sc, id); err != nil {
			return nil, err // deleted meanwhile
		}
	}
	finished := make(chan struct{})
	a.running[id] = finished
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.running, id)
		close(finished)
		a.mu.Unlock()
	}()

	run := catalog.Run{ID: newID(), ConnectorID: id, StartedAt: time.Now().UTC(), Result: "running", Node: a.opt.Node}
	if err := a.lake.SaveRun(ctx, &run); err != nil {
		return nil, err
	}
	res := &RunResult{ConnectorID: id, Connector: c.Name, Tenant: c.Tenant}
	if opt.Logger == nil {
		opt.Logger = a.log
	}
	opt = a.mergeCollectDefaults(opt)
	if c.QueueURL != "" && opt.Claims == nil {
		// Shared with the queue's receivers of this connector.
		opt.Claims = a.queues.of(id).claims
	}
	stats, runErr := a.checkedCollect(ctx, c, opt)
	res.Stats = wireStats(stats)
	a.stored.runs.Add(1)
	a.stored.objects.Add(stats.Objects)
	a.stored.records.Add(stats.Records)
	end := time.Now().UTC()
	run.EndedAt = &end
	run.Objects, run.Records, run.Bytes = stats.Objects, stats.Records, stats.Bytes
	run.Skipped, run.Quarantined, run.Dropped, run.Errors = stats.Skipped, stats.Quarantined, stats.Dropped, stats.Errors
	run.NewestObject = stats.Newest
	run.Result = "ok"
	failure := runErr
	if failure == nil && stats.Errors > 0 {
		failure = stats.FirstError
	}
	if failure != nil {
		run.Result = "failed"
		if errors.Is(failure, context.Canceled) {
			run.Result = "interrupted" // shutdown: it resumes from its checkpoint
		}
		run.Status, run.Reason, run.Recommendation = explain(failure)
	}
	// The run's row is written even when ctx is cancelled by shutdown.
	if err := a.lake.SaveRun(context.WithoutCancel(ctx), &run); err != nil {
		return nil, err
	}
	if runErr == nil && ctx.Err() == nil {
		a.refreshAudit(ctx, c)
	}
	res.Run = wireRun(run)
	return res, nil
}

// checkedCollect collects a connector once the lake is ready to store
// what it reads and its log filters compile.
func (a *App) checkedCollect(ctx context.Context, c *connector.Connector, opt collect.Options) (collect.Stats, error) {
	if err := a.lake.Ready(ctx); err != nil {
		// A run that cannot store what it reads fails, rather than
		// reporting ok over a lake that is gone.
		return collect.Stats{}, fmt.Errorf("not ready to store records: %w", err)
	}
	if err := a.prepareRun(ctx, c, &opt); err != nil {
		return collect.Stats{}, err
	}
	return a.collect(ctx, c, opt)
}

// prepareRun sets what a run of c applies to each record: the
// connector's log filters and the tenant's detection rules.
func (a *App) prepareRun(ctx context.Context, c *connector.Connector, opt *collect.Options) error {
	fs, err := filter.Compile(c.Filters)
	if err != nil {
		return fmt.Errorf("log filter: %w (fix the connector's filters)", err)
	}
	if !fs.Empty() {
		opt.Keep = fs.KeepRecord
	}
	opt.Detect, err = a.ingestDetection(ctx, c)
	return err
}

func (a *App) mergeCollectDefaults(opt collect.Options) collect.Options {
	d := a.opt.Collect
	if opt.Workers == 0 {
		opt.Workers = d.Workers
	}
	if opt.BatchSize == 0 {
		opt.BatchSize = d.BatchSize
	}
	if opt.BatchBytes == 0 {
		opt.BatchBytes = d.BatchBytes
	}
	if opt.Limits == (format.Limits{}) {
		opt.Limits = d.Limits
	}
	if opt.Timings == nil {
		opt.Timings = d.Timings
	}
	if opt.Leases == nil && a.leases != nil {
		opt.Leases = a.leases
	}
	if opt.Progress == nil {
		opt.Progress = d.Progress
	}
	return opt
}

func (a *App) collect(ctx context.Context, c *connector.Connector, opt collect.Options) (collect.Stats, error) {
	b, full, err := a.bucketFor(ctx, c.ID)
	if err != nil {
		return collect.Stats{}, err
	}
	if a.leases != nil && full.RunOn == connector.AnyNode && opt.Share == 0 {
		// Every live node runs it: each run takes its share, so a busy
		// connector spreads across the nodes; a node alone takes all.
		opt.Share, _ = a.leases.LiveNodes(ctx, 3*a.leases.TTL())
	}
	return collect.Run(ctx, full, b, a.lake, opt)
}

// explain turns an error into status, reason and recommendation.
func explain(err error) (int, string, string) {
	var se *source.Error
	if errors.As(err, &se) {
		reason := fmt.Sprintf("%s %s: %s", se.Op, se.Target, se.Explanation)
		if a := se.Answer(); a != "" {
			reason += " (" + a + ")"
		}
		return se.Status, reason, se.Recommendation
	}
	if errors.Is(err, ingest.ErrFenced) {
		return 409, err.Error(), "Another node holds this partition now and resumes it from the last checkpoint; nothing this run held uncommitted was stored."
	}
	if errors.Is(err, context.Canceled) {
		return 499, "the run was interrupted (shutdown); it resumes from its checkpoint", ""
	}
	var nr *segment.NotReadyError
	if errors.As(err, &nr) {
		return 503, err.Error(), "Restore the data directory (or its access rights, or the catalog), then restart Trawl; the connector resumes from its last checkpoint."
	}
	return 500, err.Error(), "See the Trawl log for details."
}

// CollectOnce runs the given connectors (all enabled connectors of this node
// when ids is empty) one after another.
func (a *App) CollectOnce(ctx context.Context, sc Scope, ids []string, opt collect.Options) ([]*RunResult, error) {
	if len(ids) == 0 {
		list, err := a.ListConnectors(ctx, sc, "")
		if err != nil {
			return nil, err
		}
		for _, c := range list {
			if c.Enabled && (c.RunOn == "" || c.RunOn == connector.AnyNode || c.RunOn == a.opt.Node) {
				ids = append(ids, c.ID)
			}
		}
	}
	var out []*RunResult
	for _, id := range ids {
		r, err := a.RunConnector(ctx, sc, id, opt)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	return out, nil
}

// ConnectorStatus returns the status of one connector.
func (a *App) ConnectorStatus(ctx context.Context, sc Scope, id string) (*Status, error) {
	c, err := a.GetConnector(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	st := &Status{Connector: *c}
	if st.Integrity, err = a.auditSummary(ctx, c); err != nil {
		return nil, err
	}
	runs, err := a.lake.Runs(ctx, id, 1)
	if err != nil {
		return nil, err
	}
	if len(runs) > 0 {
		last := wireRun(runs[0])
		st.LastRun = &last
		if c.Enabled {
			n := runs[0].StartedAt.Add(c.Interval.D())
			st.NextRun = &n
		}
	}
	totals, err := a.lake.ConnectorTotals(ctx, id)
	if err != nil {
		return nil, err
	}
	st.Totals = apiv1.Totals(totals)
	if st.Totals.Newest != nil {
		lag := time.Since(*st.Totals.Newest).Seconds()
		st.LagSecond = &lag
	}
	a.mu.Lock()
	st.Running = a.running[id] != nil
	if sch, ok := a.scheduled[id]; ok && c.Enabled {
		// This node's scheduler knows better than the interval: a
		// failing connector waits out its backoff. Unless the last run
		// ended after it decided (the run is recorded before the
		// scheduler counts it): then a success has reset the failures
		// and the interval rules, and a failure is one more.
		n := sch.Next
		st.NextRun, st.Failures = &n, sch.Failures
		if lr := st.LastRun; lr != nil && lr.EndedAt != nil && lr.EndedAt.After(sch.Decided) {
			switch lr.Result {
			case "ok":
				next := lr.StartedAt.Add(c.Interval.D())
				st.NextRun, st.Failures = &next, 0
			case "failed":
				st.Failures = sch.Failures + 1
			}
		}
	}
	a.mu.Unlock()
	st.LastTest = a.lastTest(ctx, id)
	st.Queue = a.queueStatus(ctx, c)
	return st, nil
}

// Runs returns a connector's run history.
func (a *App) Runs(ctx context.Context, sc Scope, id string, limit int) ([]apiv1.Run, error) {
	if _, err := a.GetConnector(ctx, sc, id); err != nil {
		return nil, err
	}
	runs, err := a.lake.Runs(ctx, id, limit)
	return wireRuns(runs), err
}

// Search runs a search within the scope.
func (a *App) Search(ctx context.Context, sc Scope, tenant string, req apiv1.SearchRequest) (*apiv1.SearchResult, error) {
	res, err := query1(a, ctx, sc, tenant, req, a.lake.Search)
	return wireSearch(res), err
}

// Count counts matching records within the scope.
func (a *App) Count(ctx context.Context, sc Scope, tenant string, req apiv1.SearchRequest) (int64, error) {
	return query1(a, ctx, sc, tenant, req, a.lake.Count)
}

// Histogram counts matching records per interval within the scope.
func (a *App) Histogram(ctx context.Context, sc Scope, tenant string, req apiv1.SearchRequest, interval time.Duration) ([]segment.Bucket, error) {
	return query1(a, ctx, sc, tenant, req, func(ctx context.Context, r segment.SearchRequest) ([]segment.Bucket, error) {
		return a.lake.Histogram(ctx, r, interval)
	})
}

// Top returns the top values of a field within the scope.
func (a *App) Top(ctx context.Context, sc Scope, tenant string, req apiv1.SearchRequest, field string, n int) ([]segment.TopValue, error) {
	return query1(a, ctx, sc, tenant, req, func(ctx context.Context, r segment.SearchRequest) ([]segment.TopValue, error) {
		return a.lake.Top(ctx, r, field, n)
	})
}

// query1 runs one lake query in the scope's tenants, within the query
// deadline and the tenant's share of concurrent queries.
func query1[T any](a *App, ctx context.Context, sc Scope, tenant string, req apiv1.SearchRequest, run func(context.Context, segment.SearchRequest) (T, error)) (T, error) {
	var zero T
	ts, err := sc.tenants(tenant)
	if err != nil {
		return zero, err
	}
	req.Tenants = ts
	release, err := a.queries.acquire(ctx, sc.key())
	if err != nil {
		return zero, err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, a.queryTimeout())
	defer cancel()
	out, err := run(ctx, lakeSearch(req))
	// Past the deadline the answer is refused even without an error: an
	// interrupted scan can come back short rather than failing (a count
	// of 0 with status 200, seen once in TestQueryAndRequestLimits), and
	// a short answer must never pass for the whole one.
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return zero, &QueryTimeoutError{Limit: a.queryTimeout()}
	}
	return out, err
}

// Quarantine lists quarantined input within the scope.
func (a *App) Quarantine(ctx context.Context, sc Scope, tenant, connectorID string, limit int) ([]apiv1.QuarantineItem, error) {
	ts, err := sc.tenants(tenant)
	if err != nil {
		return nil, err
	}
	if connectorID != "" {
		if _, err := a.GetConnector(ctx, sc, connectorID); err != nil {
			return nil, err
		}
	}
	items, err := a.lake.Quarantine(ctx, catalog.QuarantineFilter{Tenants: ts, ConnectorID: connectorID, Limit: limit})
	return wireQuarantine(items), err
}

// Tenants lists the tenants a scope may see.
func (a *App) Tenants(ctx context.Context, sc Scope) ([]string, error) {
	if !sc.Root {
		return []string{sc.Tenant}, nil
	}
	return a.lake.Tenants(ctx)
}

// Nodes lists the nodes sharing the catalog (root only): with the embedded
// catalog, just this one.
func (a *App) Nodes(ctx context.Context, sc Scope) ([]NodeInfo, error) {
	if !sc.Root {
		return nil, fmt.Errorf("the nodes of the cluster are an operator's view: %w", ErrForbidden)
	}
	if a.leases == nil {
		return []NodeInfo{{Name: a.opt.Node, Live: true, This: true}}, nil
	}
	ns, err := a.lake.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := time.Now().Add(-3 * a.leases.TTL())
	out := make([]NodeInfo, 0, len(ns))
	for _, n := range ns {
		out = append(out, NodeInfo{Name: n.Name, Addr: n.Addr, StartedAt: n.StartedAt, SeenAt: n.SeenAt,
			Live: n.SeenAt.After(cutoff), This: n.Name == a.opt.Node})
	}
	return out, nil
}
