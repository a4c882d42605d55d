package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/iceberg"
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
// over; and the tables' metadata files nothing references
// (sweepMetadata). It runs at open, when no commit of this process is in
// flight.
func (l *Lake) sweep(ctx context.Context) error {
	if err := l.collectGarbage(ctx, time.Now()); err != nil {
		return err
	}
	registered, err := l.RegisteredPaths(ctx)
	if err != nil {
		return err
	}
	if err := l.Sweep(ctx, registered, time.Now()); err != nil {
		return err
	}
	// No publish of this process is in flight, but another node's may be.
	// Housekeeping: a metadata file it cannot read (a store's hiccup, a
	// damaged file) does not keep the lake from opening; the running
	// sweep tries again.
	if err := l.sweepMetadata(ctx, time.Now().Add(-runningSweepGrace)); err != nil {
		l.log.Warn("sweeping the Iceberg tables' metadata folders failed; the lake opens, and the next sweep tries again", "err", err)
	}
	return nil
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
// files, empty files, unreferenced table metadata. It runs with compaction (every few minutes under
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
	if err := l.Sweep(ctx, registered, now.Add(-runningSweepGrace)); err != nil {
		return err
	}
	return l.sweepMetadata(ctx, now.Add(-runningSweepGrace))
}

// sweepMetadata deletes the files of the tables' metadata folders that
// nothing references, once last modified before cutoff: what a crash (or
// a commit whose outcome stayed unknown) left between writing a
// snapshot's manifests, manifest list and vN.metadata.json and the
// commit that would have named them. Besides the space, such a
// vN.metadata.json misleads: a Hadoop-catalog reader (Spark's
// HadoopTableOperations probes v(N+1).metadata.json) takes it for the
// current version. Kept: each table's current metadata file, the
// manifest lists its snapshots name, the current manifests, the
// superseded files the garbage still holds (collectGarbage deletes them
// when due) and the version hint. The cutoff leaves another node's
// publish in flight its files: it writes them seconds before its commit.
func (l *Lake) sweepMetadata(ctx context.Context, cutoff time.Time) error {
	kept, err := l.IcebergKept(ctx)
	if err != nil {
		return err
	}
	tables := slices.SortedFunc(maps.Keys(kept.Current), func(a, b catalog.TableRef) int {
		return cmp.Or(strings.Compare(a.Tenant, b.Tenant), strings.Compare(a.Index, b.Index))
	})
	var errs []error
	for _, t := range tables {
		errs = append(errs, l.sweepTableMetadata(ctx, t, kept, cutoff))
	}
	return errors.Join(errs...)
}

// sweepTableMetadata sweeps one table's metadata folder (see
// sweepMetadata). When its current metadata file cannot be read, which
// manifest lists it names is unknown, and nothing is deleted.
func (l *Lake) sweepTableMetadata(ctx context.Context, t catalog.TableRef, kept catalog.IcebergKept, cutoff time.Time) error {
	keep := map[string]bool{versionHint(t): true}
	if current := kept.Current[t]; current != "" {
		keep[current] = true
		data, err := l.ReadFile(ctx, current)
		if err != nil {
			return fmt.Errorf("lake: sweep the metadata of table %s.%s: %w", t.Tenant, t.Index, err)
		}
		m, err := iceberg.ParseMetadata(data)
		if err != nil {
			return fmt.Errorf("lake: sweep the metadata of table %s.%s: %s: %w", t.Tenant, t.Index, current, err)
		}
		for _, s := range m.Snapshots {
			if rel, ok := l.Rel(s.ManifestList); ok {
				keep[rel] = true
			}
		}
	}
	var orphans []string
	err := l.ListFiles(ctx, tableDir(t)+"/metadata", func(rel string, modified time.Time) error {
		if !keep[rel] && !kept.Paths[rel] && modified.Before(cutoff) {
			orphans = append(orphans, rel)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lake: sweep the metadata of table %s.%s: %w", t.Tenant, t.Index, err)
	}
	for _, p := range orphans {
		if err := l.RemoveFile(ctx, p); err != nil {
			return fmt.Errorf("lake: sweep the metadata of table %s.%s: %w", t.Tenant, t.Index, err)
		}
	}
	return nil
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
