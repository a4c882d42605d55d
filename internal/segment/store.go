package segment

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/trawlhq/trawl/internal/ingest"
)

// Store keeps the segments away from the node (an S3 bucket), so several
// nodes share one lake. The data directory's lake folder is then a cache:
// a segment is written and synced there, put in the store, and only then
// registered; a query fetches the segments it needs that the cache lacks.
// Segments are immutable, so a cached copy is never stale. Keys are the
// segments' paths under the lake root, with slashes.
type Store interface {
	// Location names the store (s3://bucket/prefix), recorded in the
	// catalog so a lake is never opened against another store.
	Location() string
	Put(ctx context.Context, key, file string) error
	// Get writes the object to file (whole, or not at all).
	Get(ctx context.Context, key, file string) error
	Delete(ctx context.Context, keys []string) error
	// List calls fn with every key under the store that starts with
	// prefix ("": every key) and its time.
	List(ctx context.Context, prefix string, fn func(key string, modified time.Time) error) error
}

// storeGrace is how old an unregistered object of the store must be before
// a sweep deletes it: another node may be between its put and its commit.
const storeGrace = time.Hour

// segmentCache tracks the cached segment files of a lake with a store,
// and evicts the least recently used beyond its budget. A file used in the
// last minutes is never evicted (a query may be reading it).
type segmentCache struct {
	mu     sync.Mutex
	budget int64
	size   int64
	files  map[string]*cachedFile // by path under the root
	fetch  sync.Mutex             // one download at a time
}

type cachedFile struct {
	bytes int64
	used  time.Time
}

const cacheInUse = 10 * time.Minute

func newSegmentCache(root string, budget int64) *segmentCache {
	c := &segmentCache{budget: budget, files: map[string]*cachedFile{}}
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if rel, err := filepath.Rel(root, path); err == nil && filepath.Ext(rel) == ".parquet" && !isSidecarPath(rel) {
			if info, err := d.Info(); err == nil {
				c.note(rel, info.Size()+tokensSize(filepath.Join(root, tokensRel(rel))), info.ModTime())
			}
		}
		return nil
	})
	return c
}

func tokensSize(tokens string) int64 {
	if info, err := os.Stat(tokens); err == nil {
		return info.Size()
	}
	return 0
}

func (c *segmentCache) note(rel string, bytes int64, used time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.files[rel]; ok {
		c.size -= f.bytes
	}
	c.files[rel] = &cachedFile{bytes: bytes, used: used}
	c.size += bytes
}

func (c *segmentCache) touch(rel string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.files[rel]; ok {
		f.used = time.Now()
	}
}

// victims removes and returns the files to evict to fit the budget.
func (c *segmentCache) victims() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size <= c.budget {
		return nil
	}
	type entry struct {
		rel string
		f   *cachedFile
	}
	var all []entry
	for rel, f := range c.files {
		all = append(all, entry{rel, f})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].f.used.Before(all[j].f.used) })
	var out []string
	for _, e := range all {
		if c.size <= c.budget || time.Since(e.f.used) < cacheInUse {
			break
		}
		out = append(out, e.rel)
		c.size -= e.f.bytes
		delete(c.files, e.rel)
	}
	return out
}

// upload puts a written segment (and its token filters) in the store.
func (l *Engine) upload(ctx context.Context, seg Segment) error {
	if l.store == nil {
		return nil
	}
	full := filepath.Join(l.root, seg.Path)
	tokens := filepath.Join(l.root, tokensRel(seg.Path))
	key := filepath.ToSlash(seg.Path)
	if err := l.store.Put(ctx, key, full); err != nil {
		return fmt.Errorf("lake: put segment %s in %s: %w: %w", key, l.store.Location(), ingest.ErrStoreUnavailable, err)
	}
	if err := l.store.Put(ctx, tokensRel(key), tokens); err != nil {
		return fmt.Errorf("lake: put token filters of %s in %s: %w: %w", key, l.store.Location(), ingest.ErrStoreUnavailable, err)
	}
	l.cache.note(seg.Path, seg.Bytes+tokensSize(tokens), time.Now())
	return nil
}

// cacheSegments makes sure the segments are in the cache, downloading the missing
// ones, then evicts what passes the cache's budget.
func (l *Engine) cacheSegments(ctx context.Context, segs []Segment) error {
	if l.store == nil {
		return nil
	}
	for _, s := range segs {
		full := filepath.Join(l.root, s.Path)
		if _, err := os.Stat(full); err == nil {
			if _, err := os.Stat(filepath.Join(l.root, tokensRel(s.Path))); err == nil {
				l.cache.touch(s.Path)
				continue
			}
		}
		if err := l.download(ctx, s); err != nil {
			return err
		}
	}
	for _, rel := range l.cache.victims() {
		os.Remove(filepath.Join(l.root, rel))
		os.Remove(filepath.Join(l.root, tokensRel(rel)))
	}
	return nil
}

func (l *Engine) download(ctx context.Context, s Segment) error {
	l.cache.fetch.Lock()
	defer l.cache.fetch.Unlock()
	full := filepath.Join(l.root, s.Path)
	tokens := filepath.Join(l.root, tokensRel(s.Path))
	for _, dir := range []string{filepath.Dir(full), filepath.Dir(tokens)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("lake: cache: %w", err)
		}
	}
	key := filepath.ToSlash(s.Path)
	// The token filters first: the segment file's presence is what says
	// the pair is cached. A segment put in the store before the sidecar
	// tree has them beside it.
	if err := l.store.Get(ctx, tokensRel(key), tokens); err != nil {
		if lerr := l.store.Get(ctx, legacyTokensRel(key), tokens); lerr != nil {
			return fmt.Errorf("lake: get token filters of %s from %s: %w", key, l.store.Location(), err)
		}
	}
	if err := l.store.Get(ctx, key, full); err != nil {
		return fmt.Errorf("lake: get segment %s from %s: %w", key, l.store.Location(), err)
	}
	l.cache.note(s.Path, s.Bytes+tokensSize(tokens), time.Now())
	return nil
}

// sweepStore deletes the store's objects that no registered (or retired,
// not yet deleted) segment names, once they are older than storeGrace.
func (l *Engine) sweepStore(ctx context.Context, registered map[string]bool, now time.Time) error {
	if l.store == nil {
		return nil
	}
	var stale []string
	err := l.store.List(ctx, "", func(key string, modified time.Time) error {
		seg, ok := segmentOf(filepath.FromSlash(key))
		if ok && !registered[seg] && now.Sub(modified) > storeGrace {
			stale = append(stale, key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lake: sweep %s: %w", l.store.Location(), err)
	}
	if len(stale) > 0 {
		if err := l.store.Delete(ctx, stale); err != nil {
			return fmt.Errorf("lake: sweep %s: %w", l.store.Location(), err)
		}
	}
	return nil
}
