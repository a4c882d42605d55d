// Package collect runs one collection pass of a connector: list the objects
// under its prefix, skip those already checkpointed, stream each remaining
// object through its decoder and normalizer, and commit records together
// with the object's checkpoint. A crash at any point loses nothing and a
// rerun adds nothing twice, because a batch and the checkpoint position it
// advances to commit in one transaction.
package collect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/prefix"
	"github.com/trawlhq/trawl/internal/source"
)

// Bucket is where a connector's objects are read from.
type Bucket interface {
	Name() string
	List(ctx context.Context, prefix, startAfter string, fn func(source.Object) error) error
	ListLevel(ctx context.Context, prefix string) ([]string, []source.Object, error)
	Open(ctx context.Context, obj source.Object) (io.ReadCloser, error)
}

// Store is where records, checkpoints and listing watermarks are kept.
type Store interface {
	ObjectStatesSince(ctx context.Context, connectorID string, since time.Time) (map[string]ingest.ObjectState, error)
	ObjectStateOf(ctx context.Context, connectorID, key string) (ingest.ObjectState, bool, error)
	ObjectStatesOf(ctx context.Context, connectorID string, keys []string) (map[string]ingest.ObjectState, error)
	Watermarks(ctx context.Context, connectorID string) (map[string]time.Time, error)
	SetWatermarks(ctx context.Context, connectorID string, w map[string]time.Time) error
	CommitMany(ctx context.Context, bs []*ingest.Batch) error
}

// Leaser shares a connector's partitions between the nodes of one catalog:
// a run collects only the partitions it holds a lease on, renews them
// while it runs, and commits under them (the store refuses a commit whose
// lease was taken over).
type Leaser interface {
	TTL() time.Duration
	Claim(ctx context.Context, connectorID string, partitions []string, limit int) (map[string]ingest.Lease, error)
	Renew(ctx context.Context, connectorID string, held map[string]ingest.Lease) error
	Release(ctx context.Context, connectorID string, held map[string]ingest.Lease)
}

// Options tune a run.
type Options struct {
	// Leases, when set, share the connector's partitions with other
	// nodes; nil collects them all.
	Leases Leaser
	// Share is how many nodes share the connector: a run claims at most
	// that share of its partitions (rounded up), leaving the rest to the
	// others. 0 or 1 claims every partition it can.
	Share      int
	Workers    int   // objects decoded and committed in parallel (default 2)
	BatchSize  int   // records per commit and segment (default 65,536)
	BatchBytes int64 // bytes of records per commit (default 16 MiB; a worker holds two batches)
	Limits     format.Limits
	Logger     *slog.Logger
	// Keep decides whether a record is stored (log filters); nil keeps all.
	Keep func(*interflow.Record) bool
	// Detect, when set, gives each worker its evaluator of the tenant's
	// single-event detection rules, applied to every stored record: the
	// batches carry the rules and their hits to the commit, which stores
	// the alerts in its own transaction (ingest.Batch.Rules). nil leaves
	// the records to the detector, after the commit.
	Detect func() Detection
	// Progress, if set, is called with the running totals after each object.
	Progress func(Stats)
	// From and To, when set, make the run a backfill: every partition is
	// listed over [From, To) whatever its watermark, and only objects last
	// modified in that window are collected (those already collected are
	// skipped, so nothing is stored twice).
	From, To time.Time
	// Lookback is how far before a partition's watermark listing starts, so
	// objects delivered late under an earlier key are still found (default:
	// the connector's, else 1 hour).
	Lookback time.Duration
	// Now is the clock (tests).
	Now func() time.Time
	// Timings, if set, accumulates time per stage (the benchmark's
	// breakdown): read (source and gunzip), decode, normalize.
	Timings *ingest.Timings
	// Claims, when set, are the connector's objects in flight in this
	// process, shared by its polling run and its queue receivers.
	Claims *Claims
}

// Detection evaluates detection rules on records as they are stored, one
// goroutine's (a worker's).
type Detection interface {
	Rules() *ingest.RuleSet
	// Match calls hit with the index in Rules().Rules of each rule the
	// record matches.
	Match(v interflow.Values, hit func(rule int))
}

// Stats count what a run did.
type Stats struct {
	Objects      int64 `json:"objects"`      // objects finished
	Records      int64 `json:"records"`      // records stored
	Bytes        int64 `json:"bytes"`        // compressed bytes read
	Decompressed int64 `json:"decompressed"` // decompressed bytes read
	Skipped      int64 `json:"skipped"`      // objects skipped by design (digests)
	Quarantined  int64 `json:"quarantined"`  // records or object remainders quarantined
	Dropped      int64 `json:"dropped"`      // records dropped by log filters
	// Matched counts the rule matches of stored records, evaluated at
	// ingest (a record two rules match counts twice).
	Matched    int64 `json:"matched"`
	Errors     int64 `json:"errors"`     // objects that failed and will be retried
	Pending    int64 `json:"pending"`    // objects listed to collect
	Listings   int64 `json:"listings"`   // listing requests made (discovery and partitions)
	Partitions int64 `json:"partitions"` // partitions found
	// LeasedElsewhere counts partitions this run did not collect because
	// another node held them or they were left to other nodes' shares.
	LeasedElsewhere int64      `json:"leased_elsewhere,omitempty"`
	Newest          *time.Time `json:"newest_object,omitempty"`
	// FirstError is the first failure, classified when it came from the store.
	FirstError error `json:"-"`
}

func (s *Stats) add(o Stats) {
	s.Objects += o.Objects
	s.Records += o.Records
	s.Bytes += o.Bytes
	s.Decompressed += o.Decompressed
	s.Skipped += o.Skipped
	s.Quarantined += o.Quarantined
	s.Dropped += o.Dropped
	s.Matched += o.Matched
	s.Errors += o.Errors
	s.Listings += o.Listings
	s.Partitions += o.Partitions
	s.LeasedElsewhere += o.LeasedElsewhere
	if o.Newest != nil && (s.Newest == nil || o.Newest.After(*s.Newest)) {
		t := *o.Newest
		s.Newest = &t
	}
	if s.FirstError == nil {
		s.FirstError = o.FirstError
	}
}

// Run collects one connector once, in stages: plan (discover and claim
// partitions, decide each one's listing window, load checkpoints), list
// (walk the windows, skip what is checkpointed, hand the rest to the
// workers, which decode and commit), finish (the outcome, and each
// partition's new watermark).
func Run(ctx context.Context, c *connector.Connector, b Bucket, st Store, opt Options) (Stats, error) {
	r, err := newRun(c, b, st, opt)
	if err != nil {
		return Stats{}, err
	}
	if err := r.plan(ctx); err != nil {
		return Stats{}, err
	}
	if r.held != nil {
		defer r.opt.Leases.Release(context.WithoutCancel(ctx), c.ID, r.held)
	}
	if opt.Claims != nil {
		r.claimRun = opt.Claims.begin()
		defer opt.Claims.end(r.claimRun)
	}
	return r.collect(ctx)
}

// window is the span of delivery days a partition is listed over.
type window struct{ from, to time.Time }

// run is one collection pass of a connector.
type run struct {
	c        *connector.Connector
	b        Bucket
	st       Store
	opt      Options
	log      *slog.Logger
	f        Format
	tmpl     *prefix.Template
	now      func() time.Time
	lookback time.Duration
	backfill bool

	// The plan.
	disc      *prefix.Discovery
	held      map[string]ingest.Lease
	elsewhere int64
	marks     map[string]time.Time
	windows   []window
	ck        *checkpoints

	parts partitionMarks
	mu    sync.Mutex // guards total
	total Stats

	// claimRun is this run's claims (Options.Claims), outcomes what became
	// of each object a notified run was given.
	claimRun uint64
	outcomes *outcomes
	place    map[string]int // a notified key's partition
}

func newRun(c *connector.Connector, b Bucket, st Store, opt Options) (*run, error) {
	if opt.Workers <= 0 {
		opt.Workers = 2
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 65536
	}
	if opt.BatchBytes <= 0 {
		opt.BatchBytes = 16 << 20
	}
	if opt.Limits == (format.Limits{}) {
		opt.Limits = format.DefaultLimits()
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &run{c: c, b: b, st: st, opt: opt, log: log.With("connector", c.Name, "tenant", c.Tenant), now: time.Now,
		backfill: !opt.From.IsZero() || !opt.To.IsZero(), parts: partitionMarks{partOf: map[string]int{}, doneMax: map[int]time.Time{}, failMin: map[int]time.Time{}}}
	var ok bool
	if r.f, ok = FormatFor(c.SubType); !ok {
		return nil, fmt.Errorf("connector %s: sub type %q cannot be decoded by this version of Trawl", c.Name, c.SubType)
	}
	var err error
	if r.tmpl, err = prefix.Parse(c.Prefix, prefix.Options{AllowWildcard: c.SubType != connector.WAF}); err != nil {
		return nil, fmt.Errorf("connector %s: %w", c.Name, err)
	}
	if opt.Now != nil {
		r.now = opt.Now
	}
	r.lookback = opt.Lookback
	if r.lookback <= 0 {
		r.lookback = c.Lookback.D()
	}
	if r.lookback <= 0 {
		r.lookback = connector.DefaultLookback
	}
	return r, nil
}

// plan discovers the partitions (accounts, regions: again every run, so
// new ones are picked up), claims their leases, and decides the days each
// is listed over: only those that can hold objects newer than its
// watermark.
func (r *run) plan(ctx context.Context) error {
	c := r.c
	disc, err := Discover(ctx, r.b, r.tmpl, c)
	if err != nil {
		return fmt.Errorf("connector %s: discover partitions: %w", c.Name, err)
	}
	r.disc = disc
	if r.opt.Leases != nil {
		found := len(disc.Partitions)
		if r.held, err = claim(ctx, r.opt.Leases, c.ID, disc, r.opt.Share); err != nil {
			return fmt.Errorf("connector %s: %w", c.Name, err)
		}
		r.elsewhere = int64(found - len(disc.Partitions))
	}
	if r.marks, err = r.st.Watermarks(ctx, c.ID); err != nil {
		r.release(ctx)
		return err
	}
	since := r.planWindows()
	// Checkpoints of objects the listed days can hold: AWS writes an
	// object into the folder of the day it delivers it, so objects in the
	// listed folders were last modified after the first listed day began
	// (less a margin for clock skew). Anything older met in a folder is
	// looked up one by one.
	since = since.UTC().Truncate(24 * time.Hour).Add(-2 * time.Hour)
	states, err := r.st.ObjectStatesSince(ctx, c.ID, since)
	if err != nil {
		r.release(ctx)
		return err
	}
	r.ck = &checkpoints{st: r.st, connectorID: c.ID, since: since, states: states}
	r.total = Stats{Listings: int64(disc.Requests), Partitions: int64(len(disc.Partitions)) + r.elsewhere, LeasedElsewhere: r.elsewhere}
	return nil
}

// release lets go of the leases of a run that ends before collecting.
func (r *run) release(ctx context.Context) {
	if r.held != nil {
		r.opt.Leases.Release(context.WithoutCancel(ctx), r.c.ID, r.held)
		r.held = nil
	}
}

// planWindows sets each partition's listing window and returns the
// earliest start.
func (r *run) planWindows() time.Time {
	c, now := r.c, r.now()
	r.windows = make([]window, len(r.disc.Partitions))
	since := now
	// The previous UTC day is always listed again: AWS names a folder by
	// the day it delivers into, and an object delivered late (or just
	// after midnight for the day before) lands in a folder the watermark
	// has passed. One more listing per partition is what it costs.
	yesterday := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	for i, p := range r.disc.Partitions {
		w := window{from: c.Start, to: now}
		if m, ok := r.marks[p.Prefix]; ok && m.Add(-r.lookback).After(w.from) {
			w.from = m.Add(-r.lookback)
			if yesterday.Before(w.from) {
				w.from = yesterday
				if w.from.Before(c.Start) {
					w.from = c.Start
				}
			}
		}
		if r.backfill {
			w = window{from: r.opt.From, to: r.opt.To}
			if w.from.IsZero() || w.from.Before(c.Start) {
				w.from = c.Start
			}
			if w.to.IsZero() {
				w.to = now
			}
		}
		r.windows[i] = w
		if w.from.Before(since) {
			since = w.from
		}
	}
	return since
}

// collect lists the planned windows and feeds the workers, then finishes.
func (r *run) collect(ctx context.Context) (Stats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var renewing sync.WaitGroup
	if r.opt.Leases != nil {
		// Joined before the deferred Release, so no renewal races it.
		renewing.Go(func() { renew(ctx, r.opt.Leases, r.c.ID, r.held, cancel) })
		defer renewing.Wait()
		defer cancel(nil)
	}
	work := make(chan task)
	fatal := r.startWorkers(ctx, cancel, work)
	listErr := r.list(ctx, work)
	close(work)
	return r.finish(ctx, fatal(), listErr)
}

// startWorkers starts the workers that decode and commit in parallel; the
// listing feeds them through an unbuffered channel, so it waits for them
// (backpressure blocks, never drops). The function returned waits for them
// and gives the first fatal error.
func (r *run) startWorkers(ctx context.Context, cancel context.CancelCauseFunc, work <-chan task) func() error {
	var wg sync.WaitGroup
	var fatalMu sync.Mutex
	var fatal error
	for i := 0; i < r.opt.Workers; i++ {
		w := newWorker(r.c, r.b, r.f, r.st, r.opt, r.log)
		w.done, w.report, w.leaseOf = r.objectDone, r.report, r.leaseOf
		wg.Go(func() {
			if err := w.run(ctx, work); err != nil && ctx.Err() == nil {
				fatalMu.Lock()
				if fatal == nil {
					fatal = err
				}
				fatalMu.Unlock()
				cancel(err)
			}
		})
	}
	return func() error {
		wg.Wait()
		return fatal
	}
}

// report adds a worker's or the listing's counts to the run's totals.
func (r *run) report(s Stats) {
	r.mu.Lock()
	r.total.add(s)
	cp := r.total
	r.mu.Unlock()
	if r.opt.Progress != nil {
		r.opt.Progress(cp)
	}
}

// leaseOf is the lease an object's commit runs under (nil without leases).
func (r *run) leaseOf(key string) *ingest.Lease {
	if r.held == nil {
		return nil
	}
	p, ok := r.parts.of(key)
	if !ok {
		return nil
	}
	ls := r.held[r.disc.Partitions[p].Prefix]
	return &ls
}

// list walks every partition's window and sends what is to collect.
func (r *run) list(ctx context.Context, work chan<- task) error {
	for i, p := range r.disc.Partitions {
		switch p.Kind {
		case prefix.Flat:
			if err := r.listFlat(ctx, i, p, work); err != nil {
				return err
			}
			continue
		case prefix.TimeNamed:
			n, err := p.ListNamedByTime(ctx, r.b, r.windows[i].from, r.windows[i].to, func(o source.Object) error { return r.consider(ctx, i, o, work) })
			r.report(Stats{Listings: int64(n)})
			if err != nil {
				return err
			}
			continue
		}
		for _, pre := range p.Prefixes(r.windows[i].from, r.windows[i].to) {
			err := listAll(ctx, r.b, pre, func(o source.Object) error { return r.consider(ctx, i, o, work) }, r.report)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// listFlat lists a flat folder whole (it has no dates to narrow it by);
// its objects' checkpoints are fetched a page at a time, so a steady-state
// run costs one catalog query per 1,000 objects, not one each.
func (r *run) listFlat(ctx context.Context, i int, p prefix.Partition, work chan<- task) error {
	_, objs, err := r.b.ListLevel(ctx, p.Prefix)
	r.report(Stats{Listings: int64(len(objs)/1000 + 1)})
	for start := 0; err == nil && start < len(objs); start += flatPage {
		page := objs[start:min(start+flatPage, len(objs))]
		if err = r.ck.prefetch(ctx, page); err != nil {
			break
		}
		for _, o := range page {
			if err = r.consider(ctx, i, o, work); err != nil {
				break
			}
		}
	}
	return err
}

// consider decides what becomes of one listed object: outside the
// template or the window, already collected, skipped by design (and
// checkpointed), or sent to a worker.
func (r *run) consider(ctx context.Context, part int, o source.Object, work chan<- task) error {
	if !r.tmpl.Match(o.Key) || !r.parts.claim(o.Key, part) {
		return nil // not the connector's, or listed twice (overlapping template expansions)
	}
	if !o.LastModified.IsZero() && o.LastModified.Before(r.c.Start) {
		return nil
	}
	from, to := r.opt.From, r.opt.To
	if r.backfill && (!from.IsZero() && o.LastModified.Before(from) || !to.IsZero() && !o.LastModified.Before(to)) {
		return nil
	}
	prev, err := r.ck.of(ctx, o)
	if err != nil {
		return err
	}
	if !prev.Done {
		var held bool
		if prev, held, err = r.claim(ctx, o, prev); err != nil || !held {
			return err
		}
	}
	if prev.Done {
		r.objectDone(o.Key, o.LastModified, true)
		return nil
	}
	t := task{obj: o, prev: prev}
	if reason := r.f.SkipReason(o.Key); reason != "" {
		// Checkpointed so it is neither read nor reported again.
		r.log.Debug("skipping object", "key", o.Key, "reason", reason)
		t = task{obj: o, skip: true}
	} else {
		r.mu.Lock()
		r.total.Pending++
		r.mu.Unlock()
	}
	select {
	case work <- t:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// claim takes an object's claim (Options.Claims) before it is read. An
// object another run of this process holds is left to it (held false),
// its partition's watermark held back so it is listed again; one given
// back since this run began is looked up again.
func (r *run) claim(ctx context.Context, o source.Object, prev ingest.ObjectState) (ingest.ObjectState, bool, error) {
	if r.opt.Claims == nil {
		return prev, true, nil
	}
	ok, stale := r.opt.Claims.take(r.claimRun, o.Key)
	if !ok {
		r.parts.done(o.Key, o.LastModified, false)
		r.outcomes.set(o.Key, OutcomeDeferred, "another run of this connector in this process is collecting it")
		return prev, false, nil
	}
	if stale {
		s, _, err := r.st.ObjectStateOf(ctx, r.c.ID, o.Key)
		if err != nil {
			return prev, false, err
		}
		prev = s
	}
	return prev, true, nil
}

// objectDone records an object finished (ok: its last commit is done) or
// failed. A finished object's claim is given back at once; a failed one's
// at the run's end, after the commit of what it held.
func (r *run) objectDone(key string, lm time.Time, ok bool) {
	r.parts.done(key, lm, ok)
	if ok && r.opt.Claims != nil {
		r.opt.Claims.release(r.claimRun, key)
	}
	if ok {
		r.outcomes.set(key, OutcomeCollected, "")
	} else {
		r.outcomes.set(key, OutcomeFailed, "")
	}
}

// finish gives the run's outcome and, unless it was a backfill, moves each
// partition's watermark to its newest collected object, held back to its
// oldest failed one so that object's day is listed again. A lower
// watermark only costs listing; never a record.
func (r *run) finish(ctx context.Context, fatal, listErr error) (Stats, error) {
	c := r.c
	if fatal != nil {
		return r.total, fmt.Errorf("connector %s: %w", c.Name, fatal)
	}
	// A lost lease ends the run with its own reason, not as a shutdown.
	if cause := context.Cause(ctx); ctx.Err() != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return r.total, fmt.Errorf("connector %s: %w", c.Name, cause)
	}
	if listErr != nil {
		return r.total, fmt.Errorf("connector %s: %w", c.Name, listErr)
	}
	if err := ctx.Err(); err != nil {
		return r.total, err
	}
	if r.backfill {
		return r.total, nil
	}
	next := r.parts.watermarks(r.disc.Partitions, r.marks)
	if err := r.st.SetWatermarks(ctx, c.ID, next); err != nil {
		return r.total, err
	}
	return r.total, nil
}

// checkpoints are the states of the objects a run may meet: those the
// listed days can hold, loaded at once, and older ones looked up as met.
type checkpoints struct {
	st          Store
	connectorID string
	since       time.Time
	mu          sync.Mutex
	states      map[string]ingest.ObjectState
}

// prefetch loads the checkpoints of a page of objects older than since
// (which the states loaded at plan time do not hold) in one query.
func (k *checkpoints) prefetch(ctx context.Context, objs []source.Object) error {
	var keys []string
	k.mu.Lock()
	for _, o := range objs {
		if _, ok := k.states[o.Key]; !ok && o.LastModified.Before(k.since) {
			keys = append(keys, o.Key)
		}
	}
	k.mu.Unlock()
	got, err := k.st.ObjectStatesOf(ctx, k.connectorID, keys)
	if err != nil {
		return err
	}
	k.mu.Lock()
	for _, key := range keys {
		k.states[key] = got[key] // a zero state: looked up, never seen
	}
	k.mu.Unlock()
	return nil
}

// of is an object's checkpoint.
func (k *checkpoints) of(ctx context.Context, o source.Object) (ingest.ObjectState, error) {
	k.mu.Lock()
	s, ok := k.states[o.Key]
	k.mu.Unlock()
	if ok || !o.LastModified.Before(k.since) {
		return s, nil
	}
	s, _, err := k.st.ObjectStateOf(ctx, k.connectorID, o.Key)
	return s, err
}

// partitionMarks keeps, per partition, which objects it listed, its newest
// object done and its oldest object failed: what its next watermark is.
type partitionMarks struct {
	mu      sync.Mutex
	partOf  map[string]int
	doneMax map[int]time.Time
	failMin map[int]time.Time
}

// claim records that part listed key; false if another listing did first.
func (m *partitionMarks) claim(key string, part int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.partOf[key]; dup {
		return false
	}
	m.partOf[key] = part
	return true
}

func (m *partitionMarks) of(key string) (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.partOf[key]
	return p, ok
}

// done records an object finished (ok) or failed, by its delivery time.
func (m *partitionMarks) done(key string, lm time.Time, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, known := m.partOf[key]
	if !known {
		return
	}
	if ok {
		if lm.After(m.doneMax[p]) {
			m.doneMax[p] = lm
		}
	} else if f, seen := m.failMin[p]; !seen || lm.Before(f) {
		m.failMin[p] = lm
	}
}

// watermarks returns the partitions' watermarks that changed.
func (m *partitionMarks) watermarks(parts []prefix.Partition, marks map[string]time.Time) map[string]time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := map[string]time.Time{}
	for i, p := range parts {
		w, ok := m.doneMax[i]
		if f, failed := m.failMin[i]; failed && (!ok || f.Before(w)) {
			w, ok = f, true
		}
		if old, had := marks[p.Prefix]; ok && (!had || !w.Equal(old)) {
			next[p.Prefix] = w
		}
	}
	return next
}

// claim takes the leases of the discovered partitions it can, up to its
// share, and keeps only those partitions: the others are other nodes'
// this run.
func claim(ctx context.Context, x Leaser, connectorID string, disc *prefix.Discovery, share int) (map[string]ingest.Lease, error) {
	names := make([]string, len(disc.Partitions))
	for i, p := range disc.Partitions {
		names[i] = p.Prefix
	}
	limit := 0
	if share > 1 {
		limit = (len(names) + share - 1) / share
	}
	held, err := x.Claim(ctx, connectorID, names, limit)
	if err != nil {
		return nil, err
	}
	kept := disc.Partitions[:0:0]
	for _, p := range disc.Partitions {
		if _, ok := held[p.Prefix]; ok {
			kept = append(kept, p)
		}
	}
	disc.Partitions = kept
	return held, nil
}

// renew renews the run's leases at a third of their life; a lease lost
// (paused past its expiry, cut off from the catalog) ends the run.
func renew(ctx context.Context, x Leaser, connectorID string, held map[string]ingest.Lease, cancel context.CancelCauseFunc) {
	t := time.NewTicker(max(x.TTL()/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := x.Renew(ctx, connectorID, held); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("partition leases: %w", err))
				return
			}
		}
	}
}

// listAll lists a prefix recursively, counting its requests.
func listAll(ctx context.Context, b Bucket, pre string, fn func(source.Object) error, report func(Stats)) error {
	pages := int64(0)
	n := 0
	err := b.List(ctx, pre, "", func(o source.Object) error {
		n++
		if n%1000 == 1 {
			pages++
		}
		return fn(o)
	})
	if pages == 0 {
		pages = 1
	}
	report(Stats{Listings: pages})
	return err
}

// Discover finds a connector's partitions: for S3 server access logs,
// whose flat key format names objects by time in one folder, with
// prefix.DiscoverNamedByTime, which steps over those objects instead of
// listing them each run.
func Discover(ctx context.Context, b Bucket, t *prefix.Template, c *connector.Connector) (*prefix.Discovery, error) {
	if c.SubType == connector.S3Access {
		return prefix.DiscoverNamedByTime(ctx, b, t, RelevantFor(c.SubType), c.Regions)
	}
	return prefix.Discover(ctx, b, t, RelevantFor(c.SubType), c.Regions)
}

// PartitionOf is the partition Discover would put a key in (see
// prefix.Template.PartitionOf), or why it would leave the key out.
func PartitionOf(t *prefix.Template, key string, c *connector.Connector) (prefix.Partition, string) {
	p, why := t.PartitionOf(key, RelevantFor(c.SubType), c.Regions)
	if why == "" && p.Kind == prefix.Flat && c.SubType == connector.S3Access && prefix.NamedByTime(key[len(p.Prefix):]) {
		p.Kind = prefix.TimeNamed
	}
	return p, why
}

// RelevantFor keeps discovery inside the sub type's service folders.
func RelevantFor(st connector.SubType) prefix.Relevant {
	return func(dir string) bool {
		d := strings.TrimSuffix(dir, "/")
		switch st {
		case connector.CloudTrail:
			return strings.HasPrefix(d, "CloudTrail") && d != "CloudTrail-Digest"
		case connector.VPCFlow:
			return d == "vpcflowlogs" || d == "aws-service=vpcflowlogs"
		case connector.WAF:
			return d == "WAFLogs"
		case connector.R53Resolver:
			return d == "vpcdnsquerylogs"
		case connector.ALB:
			return d == "elasticloadbalancing"
		case connector.GuardDuty:
			return d == "GuardDuty"
		}
		return true
	}
}

// flatPage is how many objects of a flat folder share a catalog lookup.
const flatPage = 1000

func versionOf(o source.Object) string {
	return interflow.Provenance{ETag: o.ETag, Size: o.Size, LastModified: o.LastModified}.ObjectVersion()
}

// invalidUTF8 returns the offset of the first byte that is not valid UTF-8,
// or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}
