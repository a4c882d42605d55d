package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// ServeOptions say what a server runs besides its API.
type ServeOptions struct {
	// Schedule, when set, collects the node's connectors on their
	// intervals; nil serves the API without collecting.
	Schedule *SchedulerOptions
	// MaintainEvery is how often compaction and the count rules run
	// (default 30 s).
	MaintainEvery time.Duration
	// Started, if set, is called once the API accepts requests; Stopping
	// when the shutdown begins.
	Started, Stopping func()
}

// Serve is the one owner of a server's lifecycle. It serves h on ln and
// runs the background jobs (the scheduler with its heartbeats, the detector
// at ingest, compaction with the count rules) until ctx ends or the
// listener fails. It then stops in order: scheduling stops and every run
// in flight is cancelled (each stops at a commit boundary), the API stops
// accepting requests and lets the answering ones end, and every job is
// joined before Serve returns; Close then closes the lake.
func (a *App) Serve(ctx context.Context, ln net.Listener, h http.Handler, opt ServeOptions) error {
	if opt.MaintainEvery <= 0 {
		opt.MaintainEvery = 30 * time.Second
	}
	// Timeouts bound what a slow or idle client holds; handlers that run
	// as long as their work (collect, test) lift the write deadline.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	jobs, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	var wg sync.WaitGroup
	wg.Go(func() { a.Maintain(jobs, opt.MaintainEvery) })
	wg.Go(func() { a.RunDetector(jobs) })
	if opt.Schedule != nil {
		wg.Go(func() { a.Schedule(jobs, *opt.Schedule) })
	}
	if opt.Started != nil {
		opt.Started()
	}
	var served error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			served = fmt.Errorf("serving the API: %w", err)
		}
	}
	if opt.Stopping != nil {
		opt.Stopping()
	}
	stopJobs()
	a.Shutdown()
	shCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shCtx)
	wg.Wait()
	return served
}
