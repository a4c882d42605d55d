package segment

import (
	"container/list"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// filterCache keeps recently used token filters (segments are immutable,
// so a cached filter is never stale), up to a byte budget.
type filterCache struct {
	mu     sync.Mutex
	budget int64
	size   int64
	order  *list.List // front: most recent
	byPath map[string]*list.Element
}

type cachedFilters struct {
	path string
	t    tokenFilters
}

func newFilterCache(budget int64) *filterCache {
	return &filterCache{budget: budget, order: list.New(), byPath: map[string]*list.Element{}}
}

func (c *filterCache) get(path string) (tokenFilters, error) {
	c.mu.Lock()
	if e, ok := c.byPath[path]; ok {
		c.order.MoveToFront(e)
		t := e.Value.(*cachedFilters).t
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()
	t, err := readTokenFilters(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byPath[path]; !ok {
		c.byPath[path] = c.order.PushFront(&cachedFilters{path: path, t: t})
		c.size += t.size()
		for c.size > c.budget && c.order.Len() > 1 {
			e := c.order.Back()
			cf := e.Value.(*cachedFilters)
			c.order.Remove(e)
			delete(c.byPath, cf.path)
			c.size -= cf.t.size()
		}
	}
	return t, nil
}

// Sweep deletes what no registered segment owns (registered holds the
// paths, under the root, of every registered or retired segment): files a
// crash left between writing a segment and registering it, here and, once
// older than storeGrace, in the store. It runs at open, when no commit of
// this process is in flight.
func (l *Engine) Sweep(ctx context.Context, registered map[string]bool, now time.Time) error {
	if err := l.sweepStore(ctx, registered, now); err != nil {
		return err
	}
	return filepath.WalkDir(l.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, rerr := filepath.Rel(l.root, path)
		if rerr != nil || isSchemaPath(rel) {
			return nil
		}
		seg := rel
		if strings.HasSuffix(rel, ".tokens") {
			seg = strings.TrimSuffix(rel, ".tokens") + ".parquet"
		}
		if !registered[seg] && (strings.HasSuffix(rel, ".parquet") || strings.HasSuffix(rel, ".tokens")) {
			os.Remove(path)
		}
		return nil
	})
}

// RemoveRetired deletes the files of segments compaction replaced (paths
// with slashes), from the store and then here, and calls forget with each
// path once its file is gone.
func (l *Engine) RemoveRetired(ctx context.Context, paths []string, forget func(path string) error) error {
	if l.store != nil && len(paths) > 0 {
		var keys []string
		for _, p := range paths {
			keys = append(keys, p, tokensPath(p))
		}
		if err := l.store.Delete(ctx, keys); err != nil {
			return fmt.Errorf("lake: delete replaced segments from %s: %w", l.store.Location(), err)
		}
	}
	for _, p := range paths {
		full := filepath.Join(l.root, filepath.FromSlash(p))
		if err := os.Remove(full); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("lake: delete replaced segment: %w", err)
		}
		os.Remove(tokensPath(full))
		if err := forget(p); err != nil {
			return err
		}
	}
	return nil
}
