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
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/lake"
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
	ObjectStatesSince(ctx context.Context, connectorID string, since time.Time) (map[string]lake.ObjectState, error)
	ObjectStateOf(ctx context.Context, connectorID, key string) (lake.ObjectState, bool, error)
	ObjectStatesOf(ctx context.Context, connectorID string, keys []string) (map[string]lake.ObjectState, error)
	Watermarks(ctx context.Context, connectorID string) (map[string]time.Time, error)
	SetWatermarks(ctx context.Context, connectorID string, w map[string]time.Time) error
	CommitMany(ctx context.Context, bs []*lake.Batch) error
}

// Leaser shares a connector's partitions between the nodes of one catalog:
// a run collects only the partitions it holds a lease on, renews them
// while it runs, and commits under them (the store refuses a commit whose
// lease was taken over).
type Leaser interface {
	TTL() time.Duration
	Claim(ctx context.Context, connectorID string, partitions []string, limit int) (map[string]lake.Lease, error)
	Renew(ctx context.Context, connectorID string, held map[string]lake.Lease) error
	Release(ctx context.Context, connectorID string, held map[string]lake.Lease)
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
	Timings *lake.Timings
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
	Errors       int64 `json:"errors"`       // objects that failed and will be retried
	Pending      int64 `json:"pending"`      // objects listed to collect
	Listings     int64 `json:"listings"`     // listing requests made (discovery and partitions)
	Partitions   int64 `json:"partitions"`   // partitions found
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

// Run collects one connector once.
func Run(ctx context.Context, c *connector.Connector, b Bucket, st Store, opt Options) (Stats, error) {
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
	log = log.With("connector", c.Name, "tenant", c.Tenant)
	f, ok := FormatFor(c.SubType)
	if !ok {
		return Stats{}, fmt.Errorf("connector %s: sub type %q cannot be decoded by this version of Trawl", c.Name, c.SubType)
	}
	tmpl, err := prefix.Parse(c.Prefix, prefix.Options{AllowWildcard: c.SubType != connector.WAF})
	if err != nil {
		return Stats{}, fmt.Errorf("connector %s: %w", c.Name, err)
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	lookback := opt.Lookback
	if lookback <= 0 {
		lookback = c.Lookback.D()
	}
	if lookback <= 0 {
		lookback = connector.DefaultLookback
	}
	backfill := !opt.From.IsZero() || !opt.To.IsZero()

	// Plan: discover partitions (accounts, regions: again every run, so new
	// ones are picked up), then list only the days that can hold objects
	// newer than each partition's watermark.
	disc, err := prefix.Discover(ctx, b, tmpl, RelevantFor(c.SubType), c.Regions)
	if err != nil {
		return Stats{}, fmt.Errorf("connector %s: discover partitions: %w", c.Name, err)
	}
	var held map[string]lake.Lease
	var elsewhere int64
	if opt.Leases != nil {
		found := len(disc.Partitions)
		if held, err = claim(ctx, opt.Leases, c.ID, disc, opt.Share); err != nil {
			return Stats{}, fmt.Errorf("connector %s: %w", c.Name, err)
		}
		elsewhere = int64(found - len(disc.Partitions))
		defer opt.Leases.Release(context.WithoutCancel(ctx), c.ID, held)
	}
	marks, err := st.Watermarks(ctx, c.ID)
	if err != nil {
		return Stats{}, err
	}
	type window struct{ from, to time.Time }
	windows := make([]window, len(disc.Partitions))
	since := now()
	// The previous UTC day is always listed again: AWS names a folder by
	// the day it delivers into, and an object delivered late (or just
	// after midnight for the day before) lands in a folder the watermark
	// has passed. One more listing per partition is what it costs.
	yesterday := now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	for i, p := range disc.Partitions {
		w := window{from: c.Start, to: now()}
		if m, ok := marks[p.Prefix]; ok && m.Add(-lookback).After(w.from) {
			w.from = m.Add(-lookback)
			if yesterday.Before(w.from) {
				w.from = yesterday
				if w.from.Before(c.Start) {
					w.from = c.Start
				}
			}
		}
		if backfill {
			w = window{from: opt.From, to: opt.To}
			if w.from.IsZero() || w.from.Before(c.Start) {
				w.from = c.Start
			}
			if w.to.IsZero() {
				w.to = now()
			}
		}
		windows[i] = w
		if w.from.Before(since) {
			since = w.from
		}
	}
	// Checkpoints of objects the listed days can hold: AWS writes an
	// object into the folder of the day it delivers it, so objects in the
	// listed folders were last modified after the first listed day began
	// (less a margin for clock skew). Anything older met in a folder is
	// looked up one by one.
	since = since.UTC().Truncate(24 * time.Hour).Add(-2 * time.Hour)
	states, err := st.ObjectStatesSince(ctx, c.ID, since)
	if err != nil {
		return Stats{}, err
	}
	var mu sync.Mutex // guards states and the maps below
	// prefetch loads the checkpoints of a page of objects older than
	// since (which the states above do not hold) in one query.
	prefetch := func(objs []source.Object) error {
		var keys []string
		for _, o := range objs {
			if _, ok := states[o.Key]; !ok && o.LastModified.Before(since) {
				keys = append(keys, o.Key)
			}
		}
		got, err := st.ObjectStatesOf(ctx, c.ID, keys)
		if err != nil {
			return err
		}
		mu.Lock()
		for _, k := range keys {
			states[k] = got[k] // a zero state: looked up, never seen
		}
		mu.Unlock()
		return nil
	}
	stateOf := func(o source.Object) (lake.ObjectState, error) {
		mu.Lock()
		s, ok := states[o.Key]
		mu.Unlock()
		if ok || !o.LastModified.Before(since) {
			return s, nil
		}
		s, _, err := st.ObjectStateOf(ctx, c.ID, o.Key)
		return s, err
	}

	var (
		total = Stats{Listings: int64(disc.Requests), Partitions: int64(len(disc.Partitions)) + elsewhere, LeasedElsewhere: elsewhere}
		// per partition: newest object done, oldest object failed
		doneMax = map[int]time.Time{}
		failMin = map[int]time.Time{}
		partOf  = map[string]int{}
	)
	report := func(s Stats) {
		mu.Lock()
		total.add(s)
		cp := total
		mu.Unlock()
		if opt.Progress != nil {
			opt.Progress(cp)
		}
	}
	markDone := func(key string, lm time.Time, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		p, known := partOf[key]
		if !known {
			return
		}
		if ok {
			if lm.After(doneMax[p]) {
				doneMax[p] = lm
			}
		} else if f, seen := failMin[p]; !seen || lm.Before(f) {
			failMin[p] = lm
		}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if opt.Leases != nil {
		go renew(ctx, opt.Leases, c.ID, held, cancel)
	}
	leaseOf := func(key string) *lake.Lease {
		if held == nil {
			return nil
		}
		mu.Lock()
		p, ok := partOf[key]
		mu.Unlock()
		if !ok {
			return nil
		}
		ls := held[disc.Partitions[p].Prefix]
		return &ls
	}

	// Workers decode and commit in parallel; the listing feeds them
	// through an unbuffered channel, so it waits for them (backpressure
	// blocks, never drops).
	work := make(chan task)
	var wg sync.WaitGroup
	var fatalMu sync.Mutex
	var fatal error
	for i := 0; i < opt.Workers; i++ {
		w := newWorker(c, b, f, st, opt, log)
		w.done, w.report, w.leaseOf = markDone, report, leaseOf
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.run(ctx, work); err != nil && ctx.Err() == nil {
				fatalMu.Lock()
				if fatal == nil {
					fatal = err
				}
				fatalMu.Unlock()
				cancel(err)
			} else if err != nil && errors.Is(err, context.Canceled) {
				return
			}
		}()
	}
	send := func(t task) error {
		select {
		case work <- t:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	consider := func(part int, o source.Object) error {
		if !tmpl.Match(o.Key) {
			return nil
		}
		mu.Lock()
		if _, dup := partOf[o.Key]; dup {
			mu.Unlock()
			return nil // listed twice (overlapping template expansions)
		}
		partOf[o.Key] = part
		mu.Unlock()
		if !o.LastModified.IsZero() && o.LastModified.Before(c.Start) {
			return nil
		}
		if backfill && (!opt.From.IsZero() && o.LastModified.Before(opt.From) || !opt.To.IsZero() && !o.LastModified.Before(opt.To)) {
			return nil
		}
		prev, err := stateOf(o)
		if err != nil {
			return err
		}
		if prev.Done {
			markDone(o.Key, o.LastModified, true)
			return nil
		}
		if reason := f.SkipReason(o.Key); reason != "" {
			// Checkpointed so it is neither read nor reported again.
			log.Debug("skipping object", "key", o.Key, "reason", reason)
			return send(task{obj: o, skip: true})
		}
		mu.Lock()
		total.Pending++
		mu.Unlock()
		return send(task{obj: o, prev: prev})
	}
	var listErr error
	for i, p := range disc.Partitions {
		if p.Kind == prefix.Flat {
			_, objs, err := b.ListLevel(ctx, p.Prefix)
			report(Stats{Listings: int64(len(objs)/1000 + 1)})
			// A flat folder is listed whole every run: its objects'
			// checkpoints are fetched a page at a time, so a steady-state
			// run costs one catalog query per 1,000 objects, not one each.
			for start := 0; err == nil && start < len(objs); start += flatPage {
				page := objs[start:min(start+flatPage, len(objs))]
				if err = prefetch(page); err != nil {
					break
				}
				for _, o := range page {
					if err = consider(i, o); err != nil {
						break
					}
				}
			}
			if err != nil {
				listErr = err
				break
			}
			continue
		}
		for _, pre := range p.Prefixes(windows[i].from, windows[i].to) {
			err := listAll(ctx, b, pre, func(o source.Object) error { return consider(i, o) }, report)
			if err != nil {
				listErr = err
				break
			}
		}
		if listErr != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if fatal != nil {
		return total, fmt.Errorf("connector %s: %w", c.Name, fatal)
	}
	// A lost lease ends the run with its own reason, not as a shutdown.
	if cause := context.Cause(ctx); ctx.Err() != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return total, fmt.Errorf("connector %s: %w", c.Name, cause)
	}
	if listErr != nil {
		return total, fmt.Errorf("connector %s: %w", c.Name, listErr)
	}
	if err := ctx.Err(); err != nil {
		return total, err
	}
	if !backfill {
		// A partition's watermark is its newest collected object, held
		// back to its oldest failed one so that object's day is listed
		// again. A lower watermark only costs listing; never a record.
		next := map[string]time.Time{}
		for i, p := range disc.Partitions {
			w, ok := doneMax[i]
			if f, failed := failMin[i]; failed && (!ok || f.Before(w)) {
				w, ok = f, true
			}
			if old, had := marks[p.Prefix]; ok && (!had || !w.Equal(old)) {
				next[p.Prefix] = w
			}
		}
		if err := st.SetWatermarks(ctx, c.ID, next); err != nil {
			return total, err
		}
	}
	return total, nil
}

// claim takes the leases of the discovered partitions it can, up to its
// share, and keeps only those partitions: the others are other nodes'
// this run.
func claim(ctx context.Context, x Leaser, connectorID string, disc *prefix.Discovery, share int) (map[string]lake.Lease, error) {
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
func renew(ctx context.Context, x Leaser, connectorID string, held map[string]lake.Lease, cancel context.CancelCauseFunc) {
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
