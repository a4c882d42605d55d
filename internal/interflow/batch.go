package interflow

import (
	"time"
)

// Batch is a columnar block of records of one schema: what a decode worker
// fills record by record (Append copies a Record into its columns) and the
// lake writes as segments, column by column. Strings live in one byte arena
// per column, so a batch of 100,000 records is a few dozen allocations.
type Batch struct {
	Schema *Schema
	n      int
	cols   []column
	bytes  int64
}

// column holds one field's values for every row of a batch. def is the
// definition level per row (1 present, 0 absent), as Parquet writes it.
type column struct {
	def  []byte
	data []byte  // String, IP: the arena
	end  []int32 // String, IP: end offset of each row's value in data
	num  []int64 // Int, Bool, Time
	list [][]string
}

// NewBatch returns an empty batch of a schema.
func NewBatch(s *Schema) *Batch {
	return &Batch{Schema: s, cols: make([]column, len(s.Fields))}
}

// Len is the number of rows.
func (b *Batch) Len() int { return b.n }

// Bytes approximates the batch's memory: what a caller bounds.
func (b *Batch) Bytes() int64 { return b.bytes }

// Reset empties the batch, keeping its memory for the next one.
func (b *Batch) Reset() {
	b.n, b.bytes = 0, 0
	for i := range b.cols {
		c := &b.cols[i]
		c.def, c.data, c.end, c.num = c.def[:0], c.data[:0], c.end[:0], c.num[:0]
		clear(c.list)
		c.list = c.list[:0]
	}
}

// Append copies a record into the batch.
func (b *Batch) Append(r *Record) {
	for i, f := range b.Schema.Fields {
		c := &b.cols[i]
		has := r.Has(i)
		if has {
			c.def = append(c.def, 1)
		} else {
			c.def = append(c.def, 0)
		}
		switch f.Type {
		case String, IP:
			if has {
				c.data = append(c.data, r.str[i]...)
				b.bytes += int64(len(r.str[i]))
			}
			c.end = append(c.end, int32(len(c.data)))
		case Strings:
			var l []string
			if has {
				l = append([]string(nil), r.list[i]...)
			}
			c.list = append(c.list, l)
		default:
			var v int64
			if has {
				v = r.num[i]
			}
			c.num = append(c.num, v)
		}
	}
	b.bytes += int64(len(b.cols)) * 9
	b.n++
}

// Has reports whether field f of row i is present.
func (b *Batch) Has(f, i int) bool { return b.cols[f].def[i] != 0 }

// Bytes of a text or IP field of row i (valid until the batch is reset).
func (b *Batch) StrBytes(f, i int) []byte {
	c := &b.cols[f]
	start := int32(0)
	if i > 0 {
		start = c.end[i-1]
	}
	return c.data[start:c.end[i]]
}

// Num returns an integer, boolean (0/1) or time (Unix microseconds) field
// of row i.
func (b *Batch) Num(f, i int) int64 { return b.cols[f].num[i] }

// ListAt returns a list field of row i.
func (b *Batch) ListAt(f, i int) []string { return b.cols[f].list[i] }

// Micros returns row i's timestamp in Unix microseconds.
func (b *Batch) Micros(i int) int64 { return b.cols[FTimestamp].num[i] }

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
		switch fl.Type {
		case String, IP:
			r.str[f] = string(b.StrBytes(f, i))
		case Strings:
			r.list[f] = b.cols[f].list[i]
		default:
			r.num[f] = b.cols[f].num[i]
		}
		r.mark(f)
	}
}

// Time returns row i's timestamp.
func (b *Batch) Time(i int) time.Time { return time.UnixMicro(b.Micros(i)).UTC() }
