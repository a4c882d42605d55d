package app

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/trawlhq/trawl/internal/collect"
)

// SchedulerOptions tune the scheduler.
type SchedulerOptions struct {
	// Tick is how often due connectors are looked for (default 1s).
	Tick time.Duration
	// Parallel bounds connectors collected at once, so one huge bucket
	// cannot starve the others of every worker (default 2).
	Parallel int
	// RetryFailed re-runs a connector whose last run failed after this
	// delay instead of a full interval (default 1 minute).
	RetryFailed time.Duration
}

// Schedule runs every enabled connector of this node immediately, then every
// interval (with up to 10% jitter), until ctx ends. It returns after the
// runs in flight have stopped at a commit boundary.
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
	sem := make(chan struct{}, opt.Parallel)
	next := map[string]time.Time{}
	seen := map[string]int64{} // version of each connector when last scheduled
	var mu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	sc := RootScope("scheduler")
	t := time.NewTicker(opt.Tick)
	defer t.Stop()
	for {
		list, err := a.ListConnectors(ctx, sc, "")
		if err != nil && ctx.Err() == nil {
			a.log.Error("scheduler: list connectors", "err", err)
		}
		now := time.Now()
		for _, c := range list {
			if !c.Enabled || (c.RunOn != "" && c.RunOn != a.opt.Node) {
				mu.Lock()
				delete(next, c.ID)
				delete(seen, c.ID)
				mu.Unlock()
				continue
			}
			mu.Lock()
			due, known := next[c.ID]
			// An edited (or re-enabled) connector runs at once, so a fix
			// shows without waiting an interval.
			if v, ok := seen[c.ID]; ok && v != c.Version {
				known = false
			}
			mu.Unlock()
			if known && now.Before(due) {
				continue
			}
			a.mu.Lock()
			busy := a.running[c.ID]
			a.mu.Unlock()
			if busy {
				continue
			}
			select {
			case sem <- struct{}{}:
			default:
				continue // pool full: try at the next tick
			}
			id, interval := c.ID, c.Interval.D()
			mu.Lock()
			next[id] = now.Add(interval) // provisional, so it is not started twice
			seen[id] = c.Version
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				res, err := a.RunConnector(ctx, sc, id, collect.Options{})
				wait := interval + time.Duration(rand.Int64N(int64(interval)/10+1))
				if err != nil {
					if ctx.Err() == nil {
						a.log.Warn("scheduled run did not start", "connector", id, "err", err)
					}
				} else if res.Failed() && opt.RetryFailed < wait {
					wait = opt.RetryFailed
				}
				mu.Lock()
				next[id] = time.Now().Add(wait)
				mu.Unlock()
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
