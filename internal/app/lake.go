package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/segment"
)

// The lake is the composition of two packages: the catalog
// (internal/catalog: the transactional state, including the registry of
// segments) and the segment engine (internal/segment: Parquet segments
// written, read, searched and merged, here or in a store). The engine
// reads the segments the catalog says are live; the one place the two
// meet is a commit, where segments written and synced first are
// registered in the same catalog transaction that advances their
// objects' checkpoints and stores what was quarantined, so a crash at
// any point leaves all of a batch or none of it.

// NotReadyError says what the lake lacks to serve (Ready): a folder gone
// or not writable, or a catalog that does not answer.
type NotReadyError = segment.NotReadyError

// ErrLocked means another process (normally `trawl serve`) holds the data
// directory.
var ErrLocked = catalog.ErrLocked

// RedactCatalog is a catalog location with its password masked, for logs,
// errors and flag defaults.
func RedactCatalog(s string) string { return catalog.RedactCatalog(s) }

// CollectOptions tune a run (App.RunConnector, Options.Collect), and
// CollectStats are its running totals (CollectOptions.Progress): named
// here so that the CLI, which talks only to app, needs no collect.
type (
	CollectOptions = collect.Options
	CollectStats   = collect.Stats
)

// DefaultLimits are the decompression limits a run has unless told
// otherwise (the base the CLI's --max-* flags change).
func DefaultLimits() format.Limits { return format.DefaultLimits() }

// LakeOptions tune a lake.
type LakeOptions struct {
	// MemoryLimit for DuckDB, e.g. "1GB" (default 512MB).
	MemoryLimit string
	// Catalog is where the catalog lives: empty for the embedded DuckDB
	// file at the path OpenLake is given, or a postgres:// URL.
	Catalog string
	// Store, when set, keeps the segments (S3); the lake folder is then a
	// cache of at most CacheBytes (default 8 GiB).
	Store      segment.Store
	CacheBytes int64
	// Threads that run a query over the segments (default: one a core).
	Threads int
	// Root is where segments are kept (default: a folder "lake" beside
	// the catalog file).
	Root string
	// Timings, if set, accumulates time per ingest stage (benchmarks).
	Timings *ingest.Timings
	// SnapshotRetention is how long a superseded Iceberg snapshot, and the
	// files only it holds, stay readable (default
	// DefaultSnapshotRetention).
	SnapshotRetention time.Duration
	// PublishAtClose: see Options.PublishAtClose.
	PublishAtClose bool
	// Logger takes what the lake's housekeeping could not do and left for
	// later (default: discarded).
	Logger *slog.Logger
}

// Lake is an open data directory's catalog and segments. The catalog's
// methods and the engine's are the Lake's; what needs both is defined
// here.
type Lake struct {
	*catalog.Catalog
	*segment.Engine
	lock *os.File // the data directory's
	log  *slog.Logger
	// committed is signalled (never waited on) after a commit queued
	// segments for detection.
	committed chan struct{}
	// ingestAlerts counts the new alerts commits raised at ingest (taken
	// by the next evaluation's report); alertsRaised says some wait for
	// the webhooks.
	ingestAlerts atomic.Int64
	alertsRaised atomic.Bool
	// swept is when the running lake was last swept (sweepWhileRunning);
	// the sweep at open counts as one.
	sweepMu sync.Mutex
	swept   time.Time
	// publishMu serialises the Iceberg snapshots of this process (the
	// catalog's pointer check serialises those of several nodes);
	// publishWake is signalled after a commit; stopPublisher ends the
	// publisher, publisherDone closes when it has.
	publishMu         sync.Mutex
	publishWake       chan struct{}
	stopPublisher     context.CancelFunc
	publisherDone     chan struct{}
	snapshotRetention time.Duration
}

// OpenLake opens or creates the lake whose catalog file is path (the
// embedded catalog's; the data directory is its folder).
func OpenLake(ctx context.Context, path string, opt LakeOptions) (*Lake, error) {
	if opt.Root == "" {
		opt.Root = filepath.Join(filepath.Dir(path), "lake")
	}
	if err := os.MkdirAll(opt.Root, 0o700); err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	lock, err := lockDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	cat, err := catalog.Open(ctx, path, catalog.Options{MemoryLimit: opt.MemoryLimit, Catalog: opt.Catalog, Timings: opt.Timings})
	if err != nil {
		lock.Close()
		return nil, err
	}
	eng, err := segment.Open(ctx, segment.Options{Root: opt.Root, TempDir: path + ".query.tmp", MemoryLimit: opt.MemoryLimit, Threads: opt.Threads,
		Store: opt.Store, CacheBytes: opt.CacheBytes, Registry: cat, Timings: opt.Timings})
	if err != nil {
		cat.Close()
		lock.Close()
		return nil, err
	}
	l := &Lake{Catalog: cat, Engine: eng, lock: lock, log: cmp.Or(opt.Logger, slog.New(slog.DiscardHandler)), committed: make(chan struct{}, 1), swept: time.Now(),
		publishWake: make(chan struct{}, 1), snapshotRetention: cmp.Or(opt.SnapshotRetention, DefaultSnapshotRetention)}
	if err := l.settleIn(ctx); err != nil {
		l.closeStores()
		return nil, err
	}
	if !opt.PublishAtClose {
		l.startPublisher()
	}
	return l, nil
}

// settleIn brings the segments and the catalog into step before the lake
// serves: a legacy directory's records become segments, the segments'
// place is checked against the catalog's, and files no segment row names
// are swept. No commit of this process is in flight yet.
func (l *Lake) settleIn(ctx context.Context) error {
	if err := l.migrateLegacyTables(ctx); err != nil {
		return err
	}
	if err := l.checkLocation(ctx); err != nil {
		return err
	}
	if err := l.SyncJDBCCatalog(ctx, l.URI); err != nil {
		return err
	}
	return l.sweep(ctx)
}

// lockDir takes the data directory's lock file: one process holds a data
// directory (its segments, its root token), whichever catalog it uses.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "trawl.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lake: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lake: open %s: %w (%v)", dir, ErrLocked, err)
	}
	return f, nil
}

// Close publishes what commits queued (so a `collect --once` leaves its
// tables current), closes the engine and the catalog (checkpointing an
// embedded one's WAL), then lets the data directory go.
func (l *Lake) Close() error {
	began := time.Now()
	perr := l.stopPublishing()
	closing := time.Now()
	err := errors.Join(perr, l.closeStores())
	l.log.Debug("lake closed", "snapshots", closing.Sub(began), "stores", time.Since(closing))
	return err
}

func (l *Lake) closeStores() error {
	err := l.Engine.Close()
	return errors.Join(err, l.Catalog.Close(), l.lock.Close())
}

// Ready reports whether the lake can serve searches and store runs: its
// data directory and lake folder are present and writable (a process
// holding deleted folders would otherwise answer from open files and
// write segments nobody finds again), and the catalog answers.
func (l *Lake) Ready(ctx context.Context) error {
	for _, d := range []struct{ what, path string }{{"data directory", l.Catalog.Dir()}, {"lake folder", l.Root()}} {
		if err := segment.WritableDir(d.path); err != nil {
			return &NotReadyError{What: d.what, Path: d.path, Problem: err.Error(), Err: err}
		}
	}
	if err := l.Catalog.Ping(ctx); err != nil {
		return &NotReadyError{What: "catalog", Problem: "does not answer: check the catalog database (--catalog) is up and reachable", Err: err}
	}
	return nil
}

// checkLocation records where the catalog's segments are kept the first
// time, and refuses a lake opened against another place: its queries would
// miss segments, and its sweep would delete them.
func (l *Lake) checkLocation(ctx context.Context) error {
	where := l.Location()
	have, err := l.Meta(ctx, "lake_location")
	if err != nil {
		return err
	}
	if have == "" {
		segs, err := l.SegmentCount(ctx, "")
		if err != nil {
			return err
		}
		if segs > 0 && where != "local" {
			return errors.New("lake: the catalog's segments are in the data directory: a lake with segments cannot move to " + where + " (yet); start a new catalog for it")
		}
		return l.SetMeta(ctx, "lake_location", where)
	}
	if have != where {
		how := "--lake " + have
		if have == "local" {
			how = "no --lake"
		}
		return fmt.Errorf("lake: the catalog's segments are in %s, not %s: open it with %s", have, where, how)
	}
	return nil
}
