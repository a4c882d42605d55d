package segment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/trawlhq/trawl/internal/interflow"
)

// Options tune the engine.
type Options struct {
	// Root is where segments are kept.
	Root string
	// TempDir is where the query engine spills.
	TempDir string
	// MemoryLimit for DuckDB, e.g. "1GB" (default 512MB).
	MemoryLimit string
	// Threads that run a query over the segments (default: one a core).
	Threads int
	// Store, when set, keeps the segments (S3); Root is then a cache of at
	// most CacheBytes (default 8 GiB).
	Store      Store
	CacheBytes int64
	// Registry lists the live segments a query reads (the catalog's).
	Registry Registry
	// Timings, if set, accumulates time per ingest stage (benchmarks).
	Timings *Timings
	// SchemaDir holds each index's schema file, outside Root (default:
	// Root's path with ".schema" appended).
	SchemaDir string
}

// Registry is the list of live segments the engine reads: which files
// are part of the lake is the catalog's to say, never the folder's (a
// file a crash left before its commit is not).
type Registry interface {
	// SegmentsIn lists the live segments of an index that may hold
	// records of the tenants (all when none) in [from, to), newest first.
	SegmentsIn(ctx context.Context, index string, tenants []string, from, to time.Time) ([]Segment, error)
	// SegmentsOf lists every live segment of an index.
	SegmentsOf(ctx context.Context, index string) ([]Segment, error)
}

// Engine writes, reads, searches and merges segments: an in-memory DuckDB
// reads them on every core.
type Engine struct {
	q       *sql.DB
	reg     Registry
	store   Store // where segments are kept when not only here (nil: here)
	cache   *segmentCache
	root    string
	layouts map[*interflow.Schema]*layout
	filters *filterCache
	timings *Timings
	// schemaFiles hold each index's full layout without rows (read beside
	// the segments of every query).
	schemaFiles map[string]string
	schemaDir   string
}

// Open opens the engine over the segments under opt.Root, creating the
// folder and each index's schema file.
func Open(ctx context.Context, opt Options) (*Engine, error) {
	if opt.MemoryLimit == "" {
		opt.MemoryLimit = "512MB"
	}
	if opt.CacheBytes <= 0 {
		opt.CacheBytes = 8 << 30
	}
	if err := os.MkdirAll(opt.Root, 0o700); err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	dsn := "?temp_directory=" + url.QueryEscape(opt.TempDir) + "&memory_limit=" + opt.MemoryLimit + "&autoinstall_known_extensions=false&autoload_known_extensions=false"
	if opt.Threads > 0 {
		dsn += fmt.Sprintf("&threads=%d", opt.Threads)
	}
	q, err := openDuckDB(dsn)
	if err != nil {
		return nil, fmt.Errorf("lake: query engine: %w", err)
	}
	l := &Engine{q: q, reg: opt.Registry, store: opt.Store, root: opt.Root, layouts: map[*interflow.Schema]*layout{}, filters: newFilterCache(256 << 20),
		timings: opt.Timings, schemaFiles: map[string]string{}, schemaDir: opt.SchemaDir}
	if l.schemaDir == "" {
		l.schemaDir = filepath.Clean(opt.Root) + ".schema"
	}
	if err := l.prepareEngine(ctx); err != nil {
		q.Close()
		return nil, err
	}
	if l.store != nil {
		l.cache = newSegmentCache(l.root, opt.CacheBytes)
	}
	return l, nil
}

// prepareEngine writes each index's schema file and sets the engine up.
// A lake written before the table format had its schema files and token
// filters in the tables' folders: they move out first.
func (l *Engine) prepareEngine(ctx context.Context) error {
	if err := os.RemoveAll(filepath.Join(l.root, legacySchemaDir)); err != nil {
		return fmt.Errorf("lake: remove the old schema folder: %w", err)
	}
	if err := l.moveLegacyTokens(); err != nil {
		return err
	}
	for _, s := range interflow.Schemas() {
		l.layouts[s] = newLayout(s)
		p, err := l.layouts[s].schemaFile(l.schemaDir)
		if err != nil {
			return fmt.Errorf("lake: schema file: %w", err)
		}
		l.schemaFiles[s.Index] = p
	}
	// Parquet footers of immutable segments are worth caching. Grouping
	// keys whose known range spans at most 2^denseKeyBits values are
	// counted in an array (DuckDB's perfect hash aggregate) instead of a
	// hash table: Top gives IP keys that range.
	for _, set := range []string{"SET parquet_metadata_cache = true", fmt.Sprintf("SET perfect_ht_threshold = %d", denseKeyBits)} {
		if _, err := l.q.ExecContext(ctx, set); err != nil {
			return fmt.Errorf("lake: %s: %w", set, err)
		}
	}
	return nil
}

// openDuckDB opens a DuckDB database from a DSN (a path, or none for
// memory, then its settings).
func openDuckDB(dsn string) (*sql.DB, error) {
	c, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// Close closes the query engine.
func (l *Engine) Close() error { return l.q.Close() }

// Root returns the folder holding the segments.
func (l *Engine) Root() string { return l.root }

// Location is where the segments are kept: "local", or the store's
// location (s3://bucket/prefix).
func (l *Engine) Location() string {
	if l.store == nil {
		return "local"
	}
	return l.store.Location()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// segmentsIn lists the live segments a query of an index reads (see
// Registry), fetched into the cache when the lake has a store.
func (l *Engine) segmentsIn(ctx context.Context, index string, tenants []string, from, to time.Time) ([]Segment, error) {
	segs, err := l.reg.SegmentsIn(ctx, index, tenants, from, to)
	if err != nil {
		return nil, err
	}
	return segs, l.cacheSegments(ctx, segs)
}

// segmentsOf lists every live segment of an index, cached (see
// segmentsIn).
func (l *Engine) segmentsOf(ctx context.Context, index string) ([]Segment, error) {
	segs, err := l.reg.SegmentsOf(ctx, index)
	if err != nil {
		return nil, err
	}
	return segs, l.cacheSegments(ctx, segs)
}

// Write writes the batches' rows as segments, synced and (with a store)
// put there, ready to be registered. On failure it returns the segments
// already written, for Remove.
func (l *Engine) Write(ctx context.Context, bs []*Batch) ([]Segment, error) {
	return l.writeSegments(ctx, bs)
}

// Remove deletes the files of segments that were not registered.
func (l *Engine) Remove(segs []Segment) { l.removeFiles(segs) }

// WriteRows writes rows of one tenant as local segments, sorted by time
// and split by day, without the store (a legacy data directory's
// records, which never had one).
func (l *Engine) WriteRows(tenant string, b *interflow.Batch) ([]Segment, error) {
	lay := l.layouts[b.Schema]
	var segs []Segment
	for _, span := range daySpans(b, sortedRows(b, nil)) {
		seg, err := lay.writeSegment(l.root, tenant, b, span, 0, nil)
		if err != nil {
			return segs, err
		}
		segs = append(segs, seg)
	}
	return segs, nil
}

// ReadSegment reads a segment's rows into b (checks and tools).
func (l *Engine) ReadSegment(s Segment, b *interflow.Batch) error {
	return l.layouts[b.Schema].readSegment(filepath.Join(l.root, s.Path), s.Tenant, b)
}

// SmallRows is the size under which a segment of the index is merged,
// and TargetRows the size a merge aims for.
func (l *Engine) SmallRows(index string) int64 {
	return l.layouts[interflow.SchemaFor(index)].smallRows()
}

// TargetRows: see SmallRows.
func (l *Engine) TargetRows(index string) int64 {
	return l.layouts[interflow.SchemaFor(index)].targetRows()
}

// Merge writes the rows of a day's inputs (of one index and tenant), in
// time order, as one segment, synced and (with a store) put there, ready
// to replace them in the catalog.
func (l *Engine) Merge(ctx context.Context, index, tenant string, day time.Time, inputs []Segment) (Segment, error) {
	s := interflow.SchemaFor(index)
	if s == nil {
		return Segment{}, errors.New("lake: merge: unknown index " + index)
	}
	// The inputs may be another node's, or evicted from the cache.
	if err := l.cacheSegments(ctx, inputs); err != nil {
		return Segment{}, err
	}
	return l.merge(ctx, l.layouts[s], dayKey{index: index, tenant: tenant, day: day}, inputs)
}

// writeSegments writes the batches' rows: per columnar batch and tenant,
// sorted by time and split by day.
func (l *Engine) writeSegments(ctx context.Context, bs []*Batch) ([]Segment, error) {
	type group struct {
		rows   *interflow.Batch
		tenant string
		sel    []int32
	}
	var groups []*group
	for _, b := range bs {
		if len(b.Sel) == 0 {
			continue
		}
		var g *group
		for _, x := range groups {
			if x.rows == b.Rows && x.tenant == b.Tenant {
				g = x
			}
		}
		if g == nil {
			g = &group{rows: b.Rows, tenant: b.Tenant}
			groups = append(groups, g)
		}
		g.sel = append(g.sel, b.Sel...)
	}
	var segs []Segment
	for _, g := range groups {
		lay := l.layouts[g.rows.Schema]
		for _, span := range daySpans(g.rows, sortedRows(g.rows, g.sel)) {
			seg, err := lay.writeSegment(l.root, g.tenant, g.rows, span, 0, l.timings)
			if err != nil {
				return segs, err
			}
			segs = append(segs, seg)
			if err := l.upload(ctx, seg); err != nil {
				return segs, err
			}
		}
	}
	return segs, nil
}

func (l *Engine) removeFiles(segs []Segment) {
	for _, s := range segs {
		os.Remove(filepath.Join(l.root, s.Path))
		os.Remove(filepath.Join(l.root, tokensRel(s.Path)))
	}
}

// SetRowGroupRows sets the rows per row group of an index's new segments:
// for tests, which need segments of several row groups from a few hundred
// rows.
func (l *Engine) SetRowGroupRows(index string, n int) {
	l.layouts[interflow.SchemaFor(index)].rowGroup = n
}
