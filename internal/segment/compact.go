package segment

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/trawlhq/trawl/internal/interflow"
)

// Compaction merges the small segments of a day (an index and tenant)
// into larger ones in the background, as ClickHouse merges parts: the
// inputs are read in time order and merged (each is sorted), the output is
// written and synced, and one catalog transaction registers it and retires
// the inputs. Retired files are deleted after a grace period, so a query
// that listed them before the swap can still read them.

// Compaction's defaults (docs/lake.md is generated from them).
const (
	DefaultMinSegments = 8
	DefaultMaxInputs   = 16
)

// targetRows is the size a compacted segment aims for: 64 row groups.
func (lay *layout) targetRows() int64 { return int64(lay.rowGroup) * 64 }

// smallRows is the size below which a segment is merged: a sixteenth of
// the target, so a merge of MinSegments small ones is no longer small and
// a record is rewritten about once, not at every level.
func (lay *layout) smallRows() int64 { return lay.targetRows() / 16 }

type dayKey struct {
	index, tenant string
	day           time.Time
}

// merge writes the rows of the inputs, in time order, as one segment.
// Inputs are opened only when the merge reaches their first time and
// closed when read, so segments that follow one another in time (the
// usual case) are read one or two at a time, whatever their number.
func (l *Engine) merge(ctx context.Context, lay *layout, d dayKey, inputs []Segment) (Segment, error) {
	used := make([]bool, len(lay.index.Fields))
	level := 0
	for _, s := range inputs {
		if err := markUsed(filepath.Join(l.root, s.Path), lay, used); err != nil {
			return Segment{}, err
		}
		level = max(level, s.Level)
	}
	used[interflow.FTimestamp], used[interflow.FID] = true, true
	outLay := buildLayout(lay.index, used)
	outLay.rowGroup, outLay.tokenBits, outLay.codec = lay.rowGroup, lay.tokenBits, lay.codec
	seg := Segment{ID: newID(), Index: d.index, Tenant: d.tenant, Day: d.day, Level: level + 1}
	seg.Path = segmentPath(seg.Index, seg.Tenant, seg.Day, seg.ID)
	full := filepath.Join(l.root, seg.Path)
	if err := segmentDir(l.root, full); err != nil {
		return seg, err
	}
	sorted := slices.Clone(inputs)
	slices.SortFunc(sorted, func(a, b Segment) int { return a.MinTS.Compare(b.MinTS) })
	m := &merger{root: l.root, lay: lay, pending: sorted}
	defer m.close()
	var filters tokenFilters
	err := writeSynced(full, nil, func(w io.Writer) error {
		cw := &countWriter{w: w}
		var err error
		filters, err = m.into(ctx, cw, outLay, &seg)
		seg.Bytes = cw.n
		return err
	})
	tokens := filepath.Join(l.root, tokensRel(seg.Path))
	if err == nil {
		err = writeSidecar(tokens, nil, filters.writeTo)
	}
	if err != nil {
		os.Remove(full)
		os.Remove(tokens)
		return seg, fmt.Errorf("lake: merge into %s: %w", seg.Path, err)
	}
	seg.RowGroups = len(filters)
	if err := l.upload(ctx, seg); err != nil {
		os.Remove(full)
		os.Remove(tokens)
		return seg, err
	}
	return seg, nil
}

// markUsed marks the fields a segment file has columns for.
func markUsed(path string, lay *layout, used []bool) error {
	f, pf, err := openSegmentFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range pf.Schema().Columns() {
		name := p[0]
		for i, fl := range lay.index.Fields {
			if ColumnName(fl.Name) == name {
				used[i] = true
			}
		}
	}
	return nil
}

// merger is a k-way merge over segments opened as the merge reaches them.
type merger struct {
	root    string
	lay     *layout
	pending []Segment // not yet opened, by first time
	h       cursorHeap
}

func (m *merger) close() {
	for _, c := range m.h {
		c.close()
	}
}

// admit opens the pending inputs that start at or before the merge's
// current time (all of the next ones when nothing is open).
func (m *merger) admit() error {
	for len(m.pending) > 0 {
		s := m.pending[0]
		if m.h.Len() > 0 && s.MinTS.UnixMicro() > m.h[0].micro {
			return nil
		}
		m.pending = m.pending[1:]
		c, err := openCursor(filepath.Join(m.root, s.Path), m.lay, make([]bool, len(m.lay.index.Fields)), s.Tenant)
		if err != nil {
			return err
		}
		ok, err := c.next()
		if err != nil {
			c.close()
			return err
		}
		if ok {
			heap.Push(&m.h, c)
		} else {
			c.close()
		}
	}
	return nil
}

// into streams the merged rows into row groups of the output layout.
func (m *merger) into(ctx context.Context, out io.Writer, lay *layout, seg *Segment) (tokenFilters, error) {
	sw := lay.newWriter(out)
	batch := interflow.NewBatchSize(lay.index, lay.rowGroup)
	rows := make([]int32, 0, lay.rowGroup)
	flush := func() error {
		if batch.Len() == 0 {
			return nil
		}
		rows = rows[:0]
		for i := 0; i < batch.Len(); i++ {
			rows = append(rows, int32(i))
		}
		err := sw.rowGroup(batch, rows)
		batch.Reset()
		return err
	}
	for {
		if err := m.admit(); err != nil {
			return nil, err
		}
		if m.h.Len() == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := m.h[0]
		t := time.UnixMicro(c.micro).UTC()
		if seg.Rows == 0 || t.Before(seg.MinTS) {
			seg.MinTS = t
		}
		if t.After(seg.MaxTS) {
			seg.MaxTS = t
		}
		seg.Rows++
		batch.Append(c.rec)
		if batch.Len() == lay.rowGroup {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		ok, err := c.next()
		if err != nil {
			return nil, err
		}
		if ok {
			heap.Fix(&m.h, 0)
		} else {
			heap.Pop(&m.h)
			c.close()
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return sw.close()
}

// cursor reads one segment's rows in order, a few hundred at a time.
type cursor struct {
	f      *os.File
	r      *parquet.Reader
	lay    *layout
	cols   map[int]leaf
	buf    []parquet.Row
	n, i   int
	done   bool
	rec    *interflow.Record
	micro  int64
	tenant string // stored in the folder name, not the file
}

func openCursor(path string, lay *layout, used []bool, tenant string) (*cursor, error) {
	f, pf, err := openSegmentFile(path)
	if err != nil {
		return nil, err
	}
	cols := lay.fileLeaves(pf)
	for _, lf := range cols {
		if lf.kind == leafValue {
			used[lf.field] = true
		}
	}
	return &cursor{f: f, r: parquet.NewReader(pf), lay: lay, cols: cols, buf: make([]parquet.Row, 128), rec: interflow.New(lay.index), tenant: tenant}, nil
}

// next loads the next row into rec.
func (c *cursor) next() (bool, error) {
	// A read may return no rows without an error (at a row group's
	// end): only io.EOF ends the segment.
	for tries := 0; c.i == c.n; tries++ {
		if c.done || tries == 1<<20 {
			return false, nil
		}
		n, err := c.r.ReadRows(c.buf)
		c.n, c.i = n, 0
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return false, err
			}
			c.done = true
		}
	}
	c.rec.Reset()
	c.lay.fill(c.rec, c.buf[c.i], c.cols)
	c.rec.SetString(interflow.FTenant, c.tenant)
	c.rec.SetString(interflow.FIndex, c.lay.index.Index)
	c.i++
	c.micro, _ = c.rec.Micros(interflow.FTimestamp)
	return true, nil
}

func (c *cursor) close() {
	c.r.Close()
	c.f.Close()
}

// cursorHeap orders cursors by their current row's time.
type cursorHeap []*cursor

func (h cursorHeap) Len() int           { return len(h) }
func (h cursorHeap) Less(i, j int) bool { return h[i].micro < h[j].micro }
func (h cursorHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)        { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
