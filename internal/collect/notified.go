package collect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/prefix"
	"github.com/trawlhq/trawl/internal/source"
)

// Outcome is what became of one object a notification named.
type Outcome string

// Outcomes of a notified object.
const (
	// OutcomeCollected: its records are committed, now or by an earlier
	// run, or it is skipped by design (a digest) and checkpointed.
	OutcomeCollected Outcome = "collected"
	// OutcomeFailed: reading or committing it failed; what was committed
	// stays, and it is tried again later.
	OutcomeFailed Outcome = "failed"
	// OutcomeDeferred: another run holds it (in this process, or its
	// partition's lease on another node); tried again later.
	OutcomeDeferred Outcome = "deferred"
	// OutcomeOutside: not the connector's (another bucket, outside its
	// prefix, region or service folders, older than its start).
	OutcomeOutside Outcome = "outside"
	// OutcomeGone: no longer in the bucket (deleted, or moved by a
	// lifecycle rule, before it was read).
	OutcomeGone Outcome = "gone"
)

// Notified is one notified object's outcome, with why.
type Notified struct {
	Outcome Outcome
	Reason  string
}

// outcomes are a notified run's outcomes by key (nil for a polling run).
type outcomes struct {
	mu sync.Mutex
	m  map[string]Notified
}

func (o *outcomes) set(key string, oc Outcome, reason string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, known := o.m[key]; !known { // the first word stands
		o.m[key] = Notified{Outcome: oc, Reason: reason}
	}
}

// Header reads one object's metadata: a notified object is looked up
// before it is read, so its version is the bucket's (as a listing gives
// it), not the notification's.
type Header interface {
	Head(ctx context.Context, key string) (source.Object, string, error)
}

// RunObjects collects the objects notifications named (an S3 event through
// SQS), exactly as a polling run would collect them when it lists them:
// the same checkpoints, partition leases, claims and commits, so an object
// collected by either is never collected again by the other. It returns
// what became of each key; the error is a failure of the run itself (the
// store), after which no outcome is final.
func RunObjects(ctx context.Context, c *connector.Connector, b Bucket, st Store, opt Options, keys []string) (Stats, map[string]Notified, error) {
	r, err := newRun(c, b, st, opt)
	if err != nil {
		return Stats{}, nil, err
	}
	r.outcomes = &outcomes{m: map[string]Notified{}}
	h, ok := b.(Header)
	if !ok {
		return Stats{}, nil, fmt.Errorf("connector %s: its bucket cannot look objects up", c.Name)
	}
	keys = r.placeNotified(keys)
	if err := r.leaseNotified(ctx, keys); err != nil {
		return Stats{}, nil, err
	}
	objs := r.headNotified(ctx, h, keys)
	if opt.Claims != nil {
		r.claimRun = opt.Claims.begin()
		defer opt.Claims.end(r.claimRun)
	}
	stats, err := r.collectNotified(ctx, objs)
	return stats, r.outcomes.m, err
}

// placeNotified finds each key's partition as discovery would, and
// returns the keys that are the connector's.
func (r *run) placeNotified(keys []string) []string {
	r.disc = &prefix.Discovery{}
	r.place = map[string]int{}
	index := map[string]int{}
	var kept []string
	for _, k := range keys {
		if _, seen := r.outcomes.m[k]; seen {
			continue
		}
		if _, seen := r.place[k]; seen {
			continue
		}
		if dotSegment(k) {
			// S3 keys are literal, but some S3-compatible stores resolve
			// "." and ".." in a path: such a key could name an object
			// outside the prefix it appears to be under. AWS writes none.
			r.outcomes.set(k, OutcomeOutside, "the key has a '.' or '..' path segment, which AWS never writes in a log key")
			continue
		}
		if !r.tmpl.Match(k) {
			r.outcomes.set(k, OutcomeOutside, fmt.Sprintf("the key is outside the connector's prefix %q", r.c.Prefix))
			continue
		}
		p, why := PartitionOf(r.tmpl, k, r.c)
		if why != "" {
			r.outcomes.set(k, OutcomeOutside, why)
			continue
		}
		i, ok := index[p.Prefix]
		if !ok {
			i = len(r.disc.Partitions)
			index[p.Prefix] = i
			r.disc.Partitions = append(r.disc.Partitions, p)
		}
		r.place[k] = i
		kept = append(kept, k)
	}
	return kept
}

// leaseNotified takes the leases of the keys' partitions (a shared
// catalog); keys of partitions another node holds are deferred. The
// leases are not released at the end: the polling run of this process may
// hold them too (one holder), and they expire unless renewed.
func (r *run) leaseNotified(ctx context.Context, keys []string) error {
	if r.opt.Leases == nil || len(r.disc.Partitions) == 0 {
		return nil
	}
	names := make([]string, len(r.disc.Partitions))
	for i, p := range r.disc.Partitions {
		names[i] = p.Prefix
	}
	held, err := r.opt.Leases.Claim(ctx, r.c.ID, names, 0)
	if err != nil {
		return fmt.Errorf("connector %s: %w", r.c.Name, err)
	}
	r.held = held
	for _, k := range keys {
		if p := r.disc.Partitions[r.place[k]].Prefix; held[p].Holder == "" {
			r.outcomes.set(k, OutcomeDeferred, "another node holds the lease of its partition "+p)
		}
	}
	return nil
}

// headNotified looks up the keys not decided yet, a few at a time.
func (r *run) headNotified(ctx context.Context, h Header, keys []string) []source.Object {
	var mu sync.Mutex
	var objs []source.Object
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var todo []string
	for _, k := range keys {
		if _, decided := r.outcomes.m[k]; !decided {
			todo = append(todo, k)
		}
	}
	for _, k := range todo {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o, _, err := h.Head(ctx, k)
			var se *source.Error
			switch {
			case errors.As(err, &se) && se.Status == 404:
				r.outcomes.set(k, OutcomeGone, "the object is no longer in the bucket")
			case err != nil:
				r.outcomes.set(k, OutcomeFailed, err.Error())
				r.report(Stats{Errors: 1, FirstError: err})
			case !o.LastModified.IsZero() && o.LastModified.Before(r.c.Start):
				r.outcomes.set(k, OutcomeOutside, "the object is older than the connector's start "+r.c.Start.UTC().Format("2006-01-02T15:04:05Z"))
			default:
				mu.Lock()
				objs = append(objs, o)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return objs
}

// collectNotified loads the objects' checkpoints and feeds them to the
// workers as a listing would.
func (r *run) collectNotified(ctx context.Context, objs []source.Object) (Stats, error) {
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	states, err := r.st.ObjectStatesOf(ctx, r.c.ID, keys)
	if err != nil {
		return r.total, err
	}
	// Every object is looked up, so the loaded states are the whole truth.
	r.ck = &checkpoints{st: r.st, connectorID: r.c.ID, states: states}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var renewing sync.WaitGroup
	if r.held != nil {
		renewing.Go(func() { renew(ctx, r.opt.Leases, r.c.ID, r.held, cancel) })
		defer renewing.Wait()
		defer cancel(nil)
	}
	work := make(chan task)
	fatal := r.startWorkers(ctx, cancel, work)
	var sendErr error
	for _, o := range objs {
		if sendErr = r.consider(ctx, r.place[o.Key], o, work); sendErr != nil {
			break
		}
	}
	close(work)
	r.backfill = true // a notified run moves no watermark: polling owns them
	return r.finish(ctx, fatal(), sendErr)
}

// dotSegment reports whether a key has a "." or ".." path segment.
func dotSegment(key string) bool {
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
