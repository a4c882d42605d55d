package interflow

import (
	"math/bits"
	"time"
	"unsafe"
)

// Batch is a columnar block of records of one schema: what a decode worker
// fills record by record (Append copies a Record into its columns) and the
// lake writes as segments, column by column.
//
// Memory is allocated once and reused (Reset keeps it): text lives in
// arenas of fixed 1 MiB chunks, so a growing batch never copies what it
// holds, and a column that no record of the batch sets (most VPC flow
// fields of the default format) costs nothing.
type Batch struct {
	Schema *Schema
	n      int
	rows   int // capacity hint for column arrays
	cols   []column
	used   [2]uint64 // which columns some row sets
	// The used columns by kind, so Append runs one loop per kind with no
	// switch per field.
	texts, nums, lists [2]uint64
	bytes              int64
}

const (
	chunkBits = 20
	chunkSize = 1 << chunkBits
)

// column holds one field's values for every row of a batch. def is the
// definition level per row (1 present, 0 absent), as Parquet writes it.
// An unused column (no row sets it) has no arrays.
//
// A text value is the span [start, end) of the arena. Rows that repeat
// the column's last stable value (one Go string: an object's key, bucket,
// tenant, a decoder's interned constants) share its span instead of
// copying it, so such a column costs no copy when appended, and the
// encoder recognizes a repeat by its span without comparing bytes.
type column struct {
	used   bool
	typ    Type
	def    []byte
	chunks [][]byte // String, IP: the arena
	size   int      // String, IP: bytes in the arena
	start  []int32  // String, IP: each row's value in the arena
	end    []int32
	last   string // String, IP: the last stable value copied (kept alive: its address identifies it)
	lastAt [2]int32
	num    []int64 // Int, Bool, Time, Float (its IEEE 754 bits)
	list   [][]string
}

// NewBatch returns an empty batch of a schema.
func NewBatch(s *Schema) *Batch { return NewBatchSize(s, 4096) }

// NewBatchSize returns an empty batch whose columns are sized for rows
// records at first use (at most 8,192: beyond, they grow as needed, so a
// batch that a byte limit ends early holds no idle arrays).
func NewBatchSize(s *Schema, rows int) *Batch {
	return &Batch{Schema: s, rows: min(max(rows, 16), 8192), cols: make([]column, len(s.Fields))}
}

// Len is the number of rows.
func (b *Batch) Len() int { return b.n }

// Bytes approximates the batch's memory: what a caller bounds.
func (b *Batch) Bytes() int64 { return b.bytes }

// Reset empties the batch, keeping its memory for the next one.
func (b *Batch) Reset() {
	b.n, b.bytes, b.used = 0, 0, [2]uint64{}
	b.texts, b.nums, b.lists = [2]uint64{}, [2]uint64{}, [2]uint64{}
	for i := range b.cols {
		c := &b.cols[i]
		c.used = false
		c.def, c.start, c.end, c.num = c.def[:0], c.start[:0], c.end[:0], c.num[:0]
		c.last = ""
		for j := range c.chunks {
			c.chunks[j] = c.chunks[j][:0]
		}
		c.size = 0
		clear(c.list)
		c.list = c.list[:0]
	}
}

// use readies column f for its first value at row n: arrays sized for the
// batch, earlier rows absent.
func (b *Batch) use(f int, typ Type) *column {
	c := &b.cols[f]
	c.used, c.typ = true, typ
	bit := uint64(1) << (f & 63)
	b.used[f>>6] |= bit
	switch typ {
	case String, IP:
		b.texts[f>>6] |= bit
	case Strings:
		b.lists[f>>6] |= bit
	default:
		b.nums[f>>6] |= bit
	}
	if cap(c.def) < b.rows {
		c.def = make([]byte, 0, b.rows)
	}
	c.def = append(c.def[:0], make([]byte, b.n)...)
	switch typ {
	case String, IP:
		if cap(c.end) < b.rows {
			c.start, c.end = make([]int32, 0, b.rows), make([]int32, 0, b.rows)
		}
		c.start = append(c.start[:0], make([]int32, b.n)...)
		c.end = append(c.end[:0], make([]int32, b.n)...)
	case Strings:
		c.list = append(c.list[:0], make([][]string, b.n)...)
	default:
		if cap(c.num) < b.rows {
			c.num = make([]int64, 0, b.rows)
		}
		c.num = append(c.num[:0], make([]int64, b.n)...)
	}
	return c
}

// Append copies a record into the batch. Only the columns that the record
// or an earlier row sets are visited: a VPC flow record sets a third of
// its schema's fields.
func (b *Batch) Append(r *Record) {
	for w := range b.used {
		for m := r.set[w] &^ b.used[w]; m != 0; m &= m - 1 {
			f := w<<6 | bits.TrailingZeros64(m)
			b.use(f, b.Schema.Fields[f].Type)
		}
		set := r.set[w]
		for m := b.texts[w]; m != 0; m &= m - 1 {
			k := bits.TrailingZeros64(m)
			c := &b.cols[w<<6|k]
			at := [2]int32{int32(c.size), int32(c.size)}
			has := byte(set >> k & 1)
			if has != 0 {
				at = b.text(c, r, w<<6|k)
			}
			c.def = append(c.def, has)
			c.start, c.end = append(c.start, at[0]), append(c.end, at[1])
		}
		for m := b.nums[w]; m != 0; m &= m - 1 {
			k := bits.TrailingZeros64(m)
			c := &b.cols[w<<6|k]
			has := set >> k & 1
			c.def = append(c.def, byte(has))
			c.num = append(c.num, r.num[w<<6|k]&-int64(has))
		}
		for m := b.lists[w]; m != 0; m &= m - 1 {
			k := bits.TrailingZeros64(m)
			c := &b.cols[w<<6|k]
			var l []string
			has := byte(set >> k & 1)
			if has != 0 {
				l = append([]string(nil), r.list[w<<6|k]...)
			}
			c.def = append(c.def, has)
			c.list = append(c.list, l)
		}
	}
	// A used column holds up to 9 bytes a row beside its text (a
	// definition level and a number or a span).
	b.bytes += int64(bits.OnesCount64(b.used[0])+bits.OnesCount64(b.used[1])) * 9
	b.n++
}

// text stores field i of r in column c and returns its span: the last
// stable value's when r repeats it (the same string), else a new copy.
func (b *Batch) text(c *column, r *Record, i int) [2]int32 {
	s := r.str[i]
	stable := r.stable(i)
	if stable && len(s) == len(c.last) && unsafe.StringData(s) == unsafe.StringData(c.last) {
		return c.lastAt
	}
	at := [2]int32{int32(c.size), int32(c.size + len(s))}
	c.write(s)
	b.bytes += int64(len(s))
	if stable {
		c.last, c.lastAt = s, at
	}
	return at
}

// write appends text to the column's arena, filling chunks in turn.
func (c *column) write(s string) {
	for len(s) > 0 {
		ci := c.size >> chunkBits
		if ci == len(c.chunks) {
			c.chunks = append(c.chunks, make([]byte, 0, chunkSize))
		}
		ch := c.chunks[ci]
		n := copy(ch[len(ch):cap(ch)], s)
		c.chunks[ci] = ch[:len(ch)+n]
		c.size += n
		s = s[n:]
	}
}

// Has reports whether field f of row i is present.
func (b *Batch) Has(f, i int) bool { c := &b.cols[f]; return c.used && c.def[i] != 0 }

// TextStart returns where row i's text of field f starts in the column's
// arena: rows with equal starts hold the same value (a repeated stable
// value shares its span), which the encoder uses before comparing bytes.
func (b *Batch) TextStart(f, i int) int32 { return b.cols[f].start[i] }

// Used reports whether any row sets field f.
func (b *Batch) Used(f int) bool { return b.cols[f].used }

// StrBytes returns a text or IP field of row i: the arena's bytes (valid
// until the batch is reset), or a copy for the rare value that straddles
// two chunks.
func (b *Batch) StrBytes(f, i int) []byte {
	c := &b.cols[f]
	if !c.used {
		return nil
	}
	start, stop := int(c.start[i]), int(c.end[i])
	ci := start >> chunkBits
	if stop <= (ci+1)<<chunkBits {
		off := start & (chunkSize - 1)
		return c.chunks[ci][off : off+stop-start]
	}
	out := make([]byte, 0, stop-start)
	for p := start; p < stop; {
		ch := c.chunks[p>>chunkBits]
		off := p & (chunkSize - 1)
		n := min(len(ch)-off, stop-p)
		out = append(out, ch[off:off+n]...)
		p += n
	}
	return out
}

// Ints returns an integer, boolean, time or double (its bits) column: each row's definition
// level (0 absent) and value, for a caller that walks many rows (the
// encoder). Both are nil when no row sets the field.
func (b *Batch) Ints(f int) (def []byte, num []int64) {
	c := &b.cols[f]
	if !c.used {
		return nil, nil
	}
	return c.def[:b.n], c.num[:b.n]
}

// Num returns an integer, boolean (0/1), time (Unix microseconds) or
// double (its IEEE 754 bits) field of row i.
func (b *Batch) Num(f, i int) int64 {
	c := &b.cols[f]
	if !c.used {
		return 0
	}
	return c.num[i]
}

// ListAt returns a list field of row i.
func (b *Batch) ListAt(f, i int) []string {
	c := &b.cols[f]
	if !c.used {
		return nil
	}
	return c.list[i]
}

// Micros returns row i's timestamp in Unix microseconds.
func (b *Batch) Micros(i int) int64 { return b.Num(FTimestamp, i) }

// Row materializes row i as a Record (copies its strings).
func (b *Batch) Row(i int) *Record {
	r := New(b.Schema)
	b.RowInto(i, r)
	return r
}

// RowInto fills r (of the batch's schema) with row i.
func (b *Batch) RowInto(i int, r *Record) {
	r.Reset()
	for f, fl := range b.Schema.Fields {
		if !b.Has(f, i) {
			continue
		}
		c := &b.cols[f]
		switch fl.Type {
		case String, IP:
			r.str[f] = string(b.StrBytes(f, i))
		case Strings:
			r.list[f] = c.list[i]
		default:
			r.num[f] = c.num[i]
		}
		r.mark(f)
	}
}

// Time returns row i's timestamp.
func (b *Batch) Time(i int) time.Time { return time.UnixMicro(b.Micros(i)).UTC() }
