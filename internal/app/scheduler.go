package app

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
)

// SchedulerOptions tune the scheduler.
type SchedulerOptions struct {
	// Tick is how often the connector list is read again for new, edited,
	// enabled or disabled connectors (default 1s). Runs do not wait for
	// it: a freed slot starts the next due run at once.
	Tick time.Duration
	// Parallel bounds connectors collected at once, so one huge bucket
	// cannot starve the others of every worker (default 2).
	Parallel int
	// RetryFailed re-runs a connector whose last run failed after this
	// delay (or its interval, if shorter) instead of a full interval
	// (default 1 minute); each further consecutive failure doubles the
	// delay, up to MaxBackoff.
	RetryFailed time.Duration
	// MaxBackoff caps the delay after consecutive failures (default the
	// larger of the connector's interval and 30 minutes): a connector
	// broken for a day is tried twice an hour, not every 10 seconds,
	// and a fixed one is back within half an hour (at once when edited).
	MaxBackoff time.Duration
	// Finished, if set, is called after each run (tests and benchmarks
	// observe the schedule with it).
	Finished func(id string, res *RunResult, err error)
	// Addr is where this node serves, shown to the other nodes of a
	// shared catalog beside its heartbeat.
	Addr string
}

// slot is one connector's place in the schedule.
type slot struct {
	id       string
	name     string
	version  int64
	interval time.Duration
	due      time.Time
	running  bool
	edited   bool // edited while running: run again at once
	failures int  // consecutive failed runs, for the backoff
}

// finished is a run's outcome reported to the scheduling loop.
type finished struct {
	id      string
	failed  bool
	reason  string // why it failed
	started time.Time
	objects int64 // objects the run collected
	// leasedElsewhere counts partitions another node held
	leasedElsewhere int64
}

// Schedule runs every enabled connector of this node immediately, then every
// interval (with up to 10% jitter), until ctx ends. Whenever a slot is
// free it starts the most overdue connector, so throughput is bounded by
// collection, not by a clock. It returns after the runs in flight have
// stopped at a commit boundary.
func (a *App) Schedule(ctx context.Context, opt SchedulerOptions) {
	if opt.Tick <= 0 {
		opt.Tick = time.Second
	}
	if opt.Parallel <= 0 {
		opt.Parallel = 2
	}
	if opt.RetryFailed <= 0 {
		opt.RetryFailed = time.Minute
	}
	s := &scheduler{a: a, opt: opt, slots: map[string]*slot{}, done: make(chan finished, opt.Parallel)}
	if a.leases != nil {
		beats := make(chan struct{})
		go func() { a.heartbeat(ctx, opt.Addr); close(beats) }()
		defer func() { <-beats }()
	}
	s.loop(ctx)
}

// heartbeat tells the other nodes of a shared catalog that this one is
// alive, at a third of a lease's life, until ctx ends: connectors that run
// on every node are shared among the live ones.
func (a *App) heartbeat(ctx context.Context, addr string) {
	started := time.Now()
	t := time.NewTicker(max(a.leases.TTL()/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		if err := a.leases.Heartbeat(ctx, addr, started); err != nil && ctx.Err() == nil {
			a.log.Warn("heartbeat to the shared catalog failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type scheduler struct {
	a      *App
	opt    SchedulerOptions
	slots  map[string]*slot
	active int
	done   chan finished
	wg     sync.WaitGroup
	listed time.Time
	// watched is when orphaned leases were last looked for.
	watched time.Time
	// receivers are the queue receivers running, per connector.
	receivers map[string]*receivers
}

// receivers are one connector's queue receivers on this node, for one
// version of it (an edit restarts them).
type receivers struct {
	version int64
	stop    context.CancelFunc
	done    sync.WaitGroup
}

func (s *scheduler) loop(ctx context.Context) {
	defer s.wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		if now.Sub(s.listed) >= s.opt.Tick {
			s.refresh(ctx, now)
		}
		s.startDue(ctx, now)
		wake := s.listed.Add(s.opt.Tick)
		if next, ok := s.nextDue(); ok && next.Before(wake) {
			wake = next
		}
		timer.Reset(max(time.Until(wake), time.Millisecond))
		select {
		case <-ctx.Done():
			// Runs in flight see ctx too; drain their reports so they
			// can return, then wait for them.
			go func() {
				for range s.done {
				}
			}()
			s.stopReceivers(nil)
			s.wg.Wait()
			close(s.done)
			return
		case f := <-s.done:
			s.finish(f)
		case <-timer.C:
		}
	}
}

// refresh reads the connector list: new, re-enabled and edited connectors
// are due at once (a fix shows without waiting an interval); disabled ones
// and those of other nodes leave the schedule.
func (s *scheduler) refresh(ctx context.Context, now time.Time) {
	s.listed = now
	list, err := s.a.ListConnectors(ctx, RootScope("scheduler"), "")
	if err != nil {
		if ctx.Err() == nil {
			s.a.log.Error("scheduler: list connectors", "err", err)
		}
		return
	}
	seen := make(map[string]bool, len(list))
	for i := range list {
		c := &list[i]
		if !s.mine(c) {
			continue
		}
		seen[c.ID] = true
		sl, ok := s.slots[c.ID]
		if !ok {
			s.slots[c.ID] = &slot{id: c.ID, name: c.Name, version: c.Version, interval: c.Interval.D(), due: now}
			continue
		}
		if sl.version != c.Version {
			// An edit is a new attempt: its failures start a new backoff.
			sl.version, sl.interval, sl.failures, sl.name = c.Version, c.Interval.D(), 0, c.Name
			if sl.running {
				sl.edited = true
			} else {
				sl.due = now
			}
		}
	}
	for id, sl := range s.slots {
		if !seen[id] && !sl.running {
			delete(s.slots, id)
			s.a.setScheduled(id, nil)
		}
	}
	s.adoptOrphans(ctx, now)
	s.startReceivers(ctx, list)
}

// startReceivers runs the queue receivers of this node's connectors with
// a queue, restarting those of an edited connector and stopping those of
// connectors disabled, deleted or without a queue now.
func (s *scheduler) startReceivers(ctx context.Context, list []connector.Connector) {
	if s.receivers == nil {
		s.receivers = map[string]*receivers{}
	}
	keep := map[string]bool{}
	for i := range list {
		c := list[i]
		if !s.mine(&c) || c.QueueURL == "" {
			continue
		}
		if r, ok := s.receivers[c.ID]; ok && r.version == c.Version {
			keep[c.ID] = true
			continue
		}
		s.stopReceivers(map[string]bool{c.ID: true})
		keep[c.ID] = true
		rctx, stop := context.WithCancel(ctx)
		r := &receivers{version: c.Version, stop: stop}
		s.receivers[c.ID] = r
		n := max(c.QueueReceivers, 1)
		st := s.a.queues.of(c.ID)
		st.mu.Lock()
		st.receivers = n
		st.mu.Unlock()
		for i := 0; i < n; i++ {
			r.done.Go(func() { s.a.receive(rctx, &c, i) })
		}
		r.done.Go(func() { s.a.watchQueue(rctx, &c, 10*time.Second) })
		s.a.log.Info("receiving from the connector's queue", "connector", c.Name, "queue", c.QueueURL, "receivers", n)
	}
	drop := map[string]bool{}
	for id := range s.receivers {
		if !keep[id] {
			drop[id] = true
		}
	}
	s.stopReceivers(drop)
}

// stopReceivers stops the receivers of the connectors named (nil: all)
// and waits for them: each settles the messages it holds first.
func (s *scheduler) stopReceivers(ids map[string]bool) {
	for id, r := range s.receivers {
		if ids != nil && !ids[id] {
			continue
		}
		r.stop()
		r.done.Wait()
		delete(s.receivers, id)
		st := s.a.queues.of(id)
		st.mu.Lock()
		st.receivers = 0
		st.mu.Unlock()
	}
}

// adoptOrphans makes due at once the connectors with a partition whose
// node died or stalled (its lease expired unreleased), so the partition is
// taken over within about a lease period, not at the next interval. It
// asks the catalog at most every quarter lease.
func (s *scheduler) adoptOrphans(ctx context.Context, now time.Time) {
	x := s.a.leases
	if x == nil || now.Sub(s.watched) < x.TTL()/4 {
		return
	}
	s.watched = now
	ids, err := x.Orphaned(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.a.log.Warn("scheduler: orphaned leases", "err", err)
		}
		return
	}
	for _, id := range ids {
		if sl, ok := s.slots[id]; ok && !sl.running && sl.due.After(now) {
			sl.due = now
		}
	}
}

func (s *scheduler) mine(c *connector.Connector) bool {
	return c.Enabled && (c.RunOn == "" || c.RunOn == connector.AnyNode || c.RunOn == s.a.opt.Node)
}

// startDue fills free slots with due connectors, most overdue first.
func (s *scheduler) startDue(ctx context.Context, now time.Time) {
	if s.active >= s.opt.Parallel {
		return
	}
	var due []*slot
	for _, sl := range s.slots {
		if !sl.running && !sl.due.After(now) {
			due = append(due, sl)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if !due[i].due.Equal(due[j].due) {
			return due[i].due.Before(due[j].due)
		}
		return due[i].id < due[j].id
	})
	for _, sl := range due {
		if s.active >= s.opt.Parallel {
			return
		}
		s.a.mu.Lock()
		busy := s.a.running[sl.id] != nil // a run started through the API or CLI
		s.a.mu.Unlock()
		if busy {
			continue
		}
		sl.running = true
		s.active++
		s.wg.Add(1)
		go s.run(ctx, sl.id)
	}
}

func (s *scheduler) run(ctx context.Context, id string) {
	defer s.wg.Done()
	started := time.Now()
	res, err := s.a.RunConnector(ctx, RootScope("scheduler"), id, collect.Options{})
	if err != nil && ctx.Err() == nil {
		s.a.log.Warn("scheduled run did not start", "connector", id, "err", err)
	}
	if s.opt.Finished != nil {
		s.opt.Finished(id, res, err)
	}
	f := finished{id: id, failed: err != nil || res.Failed(), started: started}
	switch {
	case err != nil:
		f.reason = err.Error()
	default:
		f.objects, f.leasedElsewhere, f.reason = res.Stats.Objects, res.Stats.LeasedElsewhere, res.Run.Reason
	}
	s.done <- f
}

// finish frees a slot and schedules the connector's next run: an interval
// after this one started, with up to 10% jitter (so connectors created
// together spread out); after a failure, with a backoff (see backoff);
// and at once when this run collected objects and took more than half the
// interval, because objects arrive faster than one run an interval takes
// in, and waiting would only grow the lag.
func (s *scheduler) finish(f finished) {
	s.active--
	sl, ok := s.slots[f.id]
	if !ok {
		return
	}
	sl.running = false
	took := time.Since(f.started)
	next := f.started.Add(sl.interval + time.Duration(rand.Int64N(int64(sl.interval)/10+1)))
	if f.failed {
		sl.failures++
		wait := s.backoff(sl)
		next = time.Now().Add(wait)
		s.a.log.Warn("connector run failed; retrying with backoff", "connector", sl.name, "failures", sl.failures,
			"retry_in", wait.Round(time.Second).String(), "next_run", next.UTC().Format(time.RFC3339), "reason", f.reason)
	} else {
		sl.failures = 0
		if f.objects > 0 && took > sl.interval/2 {
			next = time.Now()
		}
	}
	if sl.edited {
		next, sl.edited = time.Now(), false
	}
	// Partitions another node holds are tried again within a lease period:
	// if that node died, its leases expire and this one takes them over.
	if ttl := s.a.opt.LeaseTTL; f.leasedElsewhere > 0 && next.After(time.Now().Add(ttl)) {
		next = time.Now().Add(ttl)
	}
	sl.due = next
	s.a.setScheduled(f.id, &scheduled{Next: next, Failures: sl.failures, Decided: time.Now()})
}

// backoff is the delay before retrying a connector after its consecutive
// failures: the retry delay (at most the interval), doubled at each
// further failure, capped at MaxBackoff (default the larger of the
// interval and 30 minutes), less up to 10% jitter so connectors failing
// together (one revoked role) do not retry in step.
func (s *scheduler) backoff(sl *slot) time.Duration {
	limit := s.opt.MaxBackoff
	if limit <= 0 {
		limit = max(sl.interval, 30*time.Minute)
	}
	d := min(s.opt.RetryFailed, sl.interval, limit)
	for i := 1; i < sl.failures && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d - time.Duration(rand.Int64N(int64(d)/10+1))
}

// nextDue is the earliest due time of a connector not running.
func (s *scheduler) nextDue() (time.Time, bool) {
	var next time.Time
	found := false
	for _, sl := range s.slots {
		if !sl.running && (!found || sl.due.Before(next)) {
			next, found = sl.due, true
		}
	}
	return next, found
}

// scheduled is a connector's next scheduled run on this node.
type scheduled struct {
	Next     time.Time
	Failures int // consecutive failed runs
	// Decided is when the scheduler set these, after the runs that ended
	// before it: a run recorded later is one it has not counted yet.
	Decided time.Time
}

// setScheduled records (nil: forgets) a connector's next scheduled run.
func (a *App) setScheduled(id string, s *scheduled) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s == nil {
		delete(a.scheduled, id)
		return
	}
	a.scheduled[id] = *s
}
