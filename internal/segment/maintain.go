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
// paths, under the root, of every registered or retired segment), among
// the files last modified before cutoff: files a crash left between
// writing a segment and registering it (staged .tmp files too), here and,
// once older than storeGrace, in the store. At open no commit of this
// process is in flight and cutoff is now; while the process runs, cutoff
// lies far enough back that no commit still holds a file written before
// it.
func (l *Engine) Sweep(ctx context.Context, registered map[string]bool, cutoff time.Time) error {
	if err := l.sweepStore(ctx, registered, cutoff); err != nil {
		return err
	}
	return filepath.WalkDir(l.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, rerr := filepath.Rel(l.root, path)
		if rerr != nil {
			return nil
		}
		seg, ok := segmentOf(rel)
		if !ok || registered[seg] {
			return nil
		}
		if info, err := d.Info(); err == nil && info.ModTime().Before(cutoff) {
			os.Remove(path)
		}
		return nil
	})
}

// segmentOf names the segment a file of the lake folder belongs to (its
// path under the root): the segment itself, its staged file, or its token
// filters (in the sidecar tree, or beside it as before). Other files (the
// tables' metadata) belong to none.
func segmentOf(rel string) (string, bool) {
	rel = strings.TrimSuffix(rel, ".tmp")
	if isSidecarPath(rel) && strings.HasSuffix(rel, ".tokens") {
		return strings.TrimSuffix(strings.TrimPrefix(rel, tokensDir+string(filepath.Separator)), ".tokens") + ".parquet", true
	}
	if strings.HasSuffix(rel, ".tokens") {
		return strings.TrimSuffix(rel, ".tokens") + ".parquet", true
	}
	return rel, strings.HasSuffix(rel, ".parquet")
}

// moveLegacyTokens moves token filters kept beside their segment (before
// the sidecar tree) into the sidecar tree, so no table's folder holds a
// file that is not its data.
func (l *Engine) moveLegacyTokens() error {
	return filepath.WalkDir(l.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".tokens") {
			return nil
		}
		rel, rerr := filepath.Rel(l.root, path)
		if rerr != nil || isSidecarPath(rel) {
			return nil
		}
		to := filepath.Join(l.root, tokensRel(strings.TrimSuffix(rel, ".tokens")+".parquet"))
		if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
			return fmt.Errorf("lake: move token filters %s: %w", rel, err)
		}
		if err := os.Rename(path, to); err != nil {
			return fmt.Errorf("lake: move token filters %s: %w", rel, err)
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
			keys = append(keys, p, tokensRel(p), legacyTokensRel(p))
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
		os.Remove(filepath.Join(l.root, tokensRel(filepath.FromSlash(p))))
		if err := forget(p); err != nil {
			return err
		}
	}
	return nil
}
