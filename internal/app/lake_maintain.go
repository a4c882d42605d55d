package app

import (
	"context"
	"fmt"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/segment"
)

// CompactOptions tune compaction (see internal/segment's compact.go).
type CompactOptions struct {
	// MinSegments a day must have below the small size (a sixteenth of a
	// compacted segment) before it is compacted (default 8).
	MinSegments int
	// MaxInputs bounds the segments merged at once, and so the memory a
	// merge holds (default 16).
	MaxInputs int
	// Grace is how long retired segments stay on disk (default 1 minute).
	Grace time.Duration
	// Budget bounds one call's work in time (default: none).
	Budget time.Duration
}

// CompactStats count what a compaction did.
type CompactStats struct {
	Merges   int
	Inputs   int
	Rows     int64
	Segments int // registered segments after it
}

// Compact merges small segments until no day has MinSegments of them, or
// the budget is spent: the catalog names a day's small segments, the
// engine merges them, and one catalog transaction swaps them.
func (l *Lake) Compact(ctx context.Context, opt CompactOptions) (CompactStats, error) {
	if opt.MinSegments <= 0 {
		opt.MinSegments = segment.DefaultMinSegments
	}
	if opt.MaxInputs <= 1 {
		opt.MaxInputs = segment.DefaultMaxInputs
	}
	if opt.Grace <= 0 {
		opt.Grace = time.Minute
	}
	var st CompactStats
	start := time.Now()
	// What commits queued goes first, so the merges' snapshots are
	// replace snapshots of their own (unless a commit runs meanwhile).
	if err := l.Publish(ctx); err != nil {
		return st, err
	}
	for _, s := range interflow.Schemas() {
		days, err := l.SmallDays(ctx, s.Index, l.SmallRows(s.Index), opt.MinSegments)
		if err != nil {
			return st, err
		}
		for _, d := range days {
			for ctx.Err() == nil && (opt.Budget == 0 || time.Since(start) < opt.Budget) {
				n, rows, err := l.compactDay(ctx, d, opt)
				if err != nil {
					return st, err
				}
				if n == 0 {
					break
				}
				st.Merges++
				st.Inputs += n
				st.Rows += rows
			}
		}
	}
	// The merges' replace snapshots, before the garbage: a retired segment
	// is deleted only once no current snapshot holds it.
	if err := l.Publish(ctx); err != nil {
		return st, err
	}
	if err := l.collectGarbage(ctx, time.Now()); err != nil {
		return st, err
	}
	if err := l.sweepWhileRunning(ctx, time.Now()); err != nil {
		return st, err
	}
	var err error
	st.Segments, err = l.SegmentCount(ctx, "")
	return st, err
}

// compactDay merges up to MaxInputs of a day's small segments, oldest
// first, into one. It returns how many it merged (0: nothing left to do).
func (l *Lake) compactDay(ctx context.Context, d catalog.Day, opt CompactOptions) (int, int64, error) {
	segs, err := l.SmallSegments(ctx, d, l.SmallRows(d.Index))
	if err != nil {
		return 0, 0, err
	}
	if len(segs) < opt.MinSegments {
		return 0, 0, nil
	}
	var inputs []ingest.Segment
	var rows int64
	for _, s := range segs {
		if len(inputs) == opt.MaxInputs || rows+s.Rows > l.TargetRows(d.Index) && len(inputs) >= 2 {
			break
		}
		inputs = append(inputs, s)
		rows += s.Rows
	}
	if len(inputs) < 2 {
		return 0, 0, nil
	}
	out, err := l.Merge(ctx, d.Index, d.Tenant, d.Day, inputs)
	if err != nil {
		return 0, 0, err
	}
	if err := l.settle(ctx, l.Swap(ctx, out, inputs, opt.Grace), []ingest.Segment{out}); err != nil {
		return 0, 0, err
	}
	return len(inputs), rows, nil
}

// collectGarbage deletes replaced segments whose grace period is over,
// and the tables' metadata files of expired snapshots.
func (l *Lake) collectGarbage(ctx context.Context, now time.Time) error {
	paths, err := l.DueGarbage(ctx, now)
	if err != nil {
		return err
	}
	if err := l.RemoveRetired(ctx, paths, func(p string) error { return l.ForgetGarbage(ctx, p) }); err != nil {
		return err
	}
	meta, err := l.DueIcebergGarbage(ctx, now)
	if err != nil {
		return err
	}
	for _, p := range meta {
		if err := l.RemoveFile(ctx, p); err != nil {
			return err
		}
		if err := l.ForgetIcebergGarbage(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// sweep deletes what no registered segment owns: files a crash left
// between writing a segment and registering it, and segments compaction
// replaced once their grace period (for queries still reading them) is
// over. It runs at open, when no commit of this process is in flight.
func (l *Lake) sweep(ctx context.Context) error {
	if err := l.collectGarbage(ctx, time.Now()); err != nil {
		return err
	}
	registered, err := l.RegisteredPaths(ctx)
	if err != nil {
		return err
	}
	return l.Sweep(ctx, registered, time.Now())
}

// runningSweepGrace is how old an unregistered file must be before a
// sweep of a running lake deletes it: a commit in flight holds files it
// wrote and has not registered yet, for seconds, never for this long.
// runningSweepEvery spaces the sweeps (each walks the lake folder).
const (
	runningSweepGrace = time.Hour
	runningSweepEvery = 10 * time.Minute
)

// sweepWhileRunning sweeps what a crash of another process, or a failed
// commit whose outcome stayed unknown, left: unregistered segments, staged
// files, empty files. It runs with compaction (every few minutes under
// `trawl serve`), so debris does not wait for the next start.
func (l *Lake) sweepWhileRunning(ctx context.Context, now time.Time) error {
	l.sweepMu.Lock()
	due := now.Sub(l.swept) >= runningSweepEvery
	if due {
		l.swept = now
	}
	l.sweepMu.Unlock()
	if !due {
		return nil
	}
	registered, err := l.RegisteredPaths(ctx)
	if err != nil {
		return err
	}
	return l.Sweep(ctx, registered, now.Add(-runningSweepGrace))
}

// migrateLegacyTables moves the records of a data directory written before
// segments (the aws_events and traffic tables of the embedded catalog)
// into segments: all segment files are written first, then one
// transaction registers them and drops the table, so a crash part-way
// leaves the tables as they were and unregistered files that the next
// start sweeps.
func (l *Lake) migrateLegacyTables(ctx context.Context) error {
	schemas, err := l.LegacyTables(ctx)
	if err != nil {
		return err
	}
	for _, s := range schemas {
		var segs []ingest.Segment
		err := l.ReadLegacyTable(ctx, s, func(tenant string, b *interflow.Batch) error {
			got, err := l.WriteRows(tenant, b)
			segs = append(segs, got...)
			return err
		})
		if err != nil {
			l.Remove(segs)
			return fmt.Errorf("lake: migrate %s to segments: %w", s.Index, err)
		}
		if err := l.settle(ctx, l.RegisterLegacy(ctx, s.Index, segs), segs); err != nil {
			return fmt.Errorf("lake: migrate %s to segments: %w", s.Index, err)
		}
	}
	return nil
}
