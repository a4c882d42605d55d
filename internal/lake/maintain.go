package lake

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

	"github.com/trawlhq/trawl/internal/interflow"
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

// sweep deletes what no registered segment owns: files a crash left
// between writing a segment and registering it, and segments compaction
// replaced once their grace period (for queries still reading them) is
// over. It runs at open, when no commit of this process is in flight.
func (l *Lake) sweep(ctx context.Context) error {
	if err := l.collectGarbage(ctx, time.Now()); err != nil {
		return err
	}
	registered := map[string]bool{}
	rows, err := l.db.QueryContext(ctx, `SELECT path FROM segments UNION ALL SELECT path FROM segment_garbage`)
	if err != nil {
		return fmt.Errorf("lake: sweep: %w", err)
	}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return err
		}
		registered[filepath.FromSlash(p)] = true
	}
	rows.Close()
	if err := l.sweepStore(ctx, registered, time.Now()); err != nil {
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

// collectGarbage deletes replaced segments whose grace period is over.
func (l *Lake) collectGarbage(ctx context.Context, now time.Time) error {
	rows, err := l.db.QueryContext(ctx, `SELECT path FROM segment_garbage WHERE delete_after <= ?`, now.UTC())
	if err != nil {
		return fmt.Errorf("lake: garbage: %w", err)
	}
	var paths []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return err
		}
		paths = append(paths, p)
	}
	rows.Close()
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
		if _, err := l.db.ExecContext(ctx, `DELETE FROM segment_garbage WHERE path = ?`, p); err != nil {
			return err
		}
	}
	return nil
}

// migrateLegacyTables moves the records of a data directory written before
// segments (the aws_events and traffic tables) into segments: all segment
// files are written first, then one transaction registers them and drops
// the tables, so a crash part-way leaves the tables as they were and
// unregistered files that the next start sweeps.
func (l *Lake) migrateLegacyTables(ctx context.Context) error {
	for _, s := range interflow.Schemas() {
		var n int
		if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = ?`, s.Index).Scan(&n); err != nil {
			return fmt.Errorf("lake: inspect %s: %w", s.Index, err)
		}
		if n == 0 {
			continue
		}
		segs, err := l.segmentsFromTable(ctx, s)
		if err != nil {
			l.removeFiles(segs)
			return fmt.Errorf("lake: migrate %s to segments: %w", s.Index, err)
		}
		err = l.withTx(ctx, func(conn *catConn) error {
			if err := insertSegments(ctx, conn, segs, true); err != nil { // legacy rows: read before detection existed
				return err
			}
			_, err := conn.ExecContext(ctx, "DROP TABLE "+quoteIdent(s.Index))
			return err
		})
		if err = l.settle(ctx, err, segs); err != nil {
			return fmt.Errorf("lake: migrate %s to segments: %w", s.Index, err)
		}
	}
	return nil
}

// segmentsFromTable writes a legacy table's rows as segments, 64k rows of
// one tenant at a time.
func (l *Lake) segmentsFromTable(ctx context.Context, s *interflow.Schema) ([]Segment, error) {
	have := map[string]bool{}
	cr, err := l.db.QueryContext(ctx, `SELECT column_name FROM information_schema.columns WHERE table_name = ?`, s.Index)
	if err != nil {
		return nil, err
	}
	for cr.Next() {
		var c string
		if err := cr.Scan(&c); err != nil {
			cr.Close()
			return nil, err
		}
		have[c] = true
	}
	cr.Close()
	var cols []string
	var fields []int
	for i, f := range s.Fields {
		if have[f.Name] {
			cols = append(cols, quoteIdent(f.Name))
			fields = append(fields, i)
		}
	}
	rows, err := l.db.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+quoteIdent(s.Index)+` ORDER BY tenant, "timestamp"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	lay := l.layouts[s]
	var segs []Segment
	batch := interflow.NewBatch(s)
	tenant := ""
	flush := func() error {
		if batch.Len() == 0 {
			return nil
		}
		for _, span := range daySpans(batch, sortedRows(batch, nil)) {
			seg, err := lay.writeSegment(l.root, tenant, batch, span, 0, nil)
			if err != nil {
				return err
			}
			segs = append(segs, seg)
		}
		batch.Reset()
		return nil
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	rec := interflow.New(s)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return segs, err
		}
		rec.Reset()
		for j, f := range fields {
			setLegacy(rec, f, vals[j])
		}
		t, _ := rec.Str(interflow.FTenant)
		if t != tenant || batch.Len() >= 65536 {
			if err := flush(); err != nil {
				return segs, err
			}
			tenant = t
		}
		batch.Append(rec)
	}
	if err := rows.Err(); err != nil {
		return segs, err
	}
	return segs, flush()
}

func setLegacy(rec *interflow.Record, f int, v any) {
	switch x := v.(type) {
	case nil:
	case []any:
		var l []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				l = append(l, s)
			}
		}
		rec.SetList(f, l)
	case int32:
		rec.SetInt(f, int64(x))
	default:
		rec.Set(f, v)
	}
}
