package interflow

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// Record is one normalized record being built: typed values by schema
// position, no boxing. A decoder fills one Record per record it reads and
// reuses it (Reset); a Batch copies it into columns. String values may
// point into the decoder's buffers: they are copied when the record is
// appended to a batch.
type Record struct {
	Schema *Schema
	set    [2]uint64 // which fields are present (schemas have < 128)
	vol    [2]uint64 // which text fields point into a buffer (SetBytes)
	str    []string  // String and IP fields
	num    []int64   // Int; Bool as 0/1; Time as Unix microseconds; Float as its IEEE 754 bits
	list   [][]string
}

// New returns an empty record of a schema.
func New(s *Schema) *Record {
	n := len(s.Fields)
	return &Record{Schema: s, str: make([]string, n), num: make([]int64, n), list: make([][]string, n)}
}

// Reset empties the record for the next one.
func (r *Record) Reset() {
	r.set, r.vol = [2]uint64{}, [2]uint64{}
	clear(r.list)
}

// Has reports whether field i is present.
func (r *Record) Has(i int) bool { return r.set[i>>6]&(1<<(i&63)) != 0 }

func (r *Record) mark(i int) { r.set[i>>6] |= 1 << (i & 63) }

// stable reports whether text field i is a Go string of its own (set by
// SetString), not a view of a decoder's buffer: its bytes cannot change,
// so a batch may recognize it again by its address.
func (r *Record) stable(i int) bool { return r.vol[i>>6]&(1<<(i&63)) == 0 }
func (r *Record) unset(i int)       { r.set[i>>6] &^= 1 << (i & 63) }

// SetString stores s, or leaves the field absent when s is empty.
func (r *Record) SetString(i int, s string) {
	if s == "" {
		return
	}
	r.str[i] = s
	r.vol[i>>6] &^= 1 << (i & 63)
	r.mark(i)
}

// SetBytes stores b as text without copying it, or leaves the field
// absent when b is empty. The record then refers to b until it is reset:
// b must not change before the record is appended to a batch (which
// copies it) or reset. Decoders use it for values in their read buffers.
func (r *Record) SetBytes(i int, b []byte) {
	if len(b) == 0 {
		return
	}
	r.str[i] = unsafe.String(&b[0], len(b))
	r.vol[i>>6] |= 1 << (i & 63)
	r.mark(i)
}

// SetInt stores an integer.
func (r *Record) SetInt(i int, v int64) {
	r.num[i] = v
	r.mark(i)
}

// SetFloat stores a double. NaN and the infinities have no place in a
// log field (JSON cannot write them) and leave the field absent.
func (r *Record) SetFloat(i int, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	r.num[i] = int64(math.Float64bits(v))
	r.mark(i)
}

// SetBool stores a boolean.
func (r *Record) SetBool(i int, v bool) {
	r.num[i] = 0
	if v {
		r.num[i] = 1
	}
	r.mark(i)
}

// SetTime stores a time at the lake's precision (microseconds).
func (r *Record) SetTime(i int, t time.Time) {
	r.num[i] = t.UnixMicro()
	r.mark(i)
}

// SetList stores a list, or leaves the field absent when it is empty.
func (r *Record) SetList(i int, l []string) {
	if len(l) == 0 {
		return
	}
	r.list[i] = l
	r.mark(i)
}

// Clear makes field i absent.
func (r *Record) Clear(i int) { r.unset(i) }

// Copy sets field dst to the value of field src (of the same type).
func (r *Record) Copy(dst, src int) {
	if !r.Has(src) {
		r.unset(dst)
		return
	}
	r.str[dst], r.num[dst], r.list[dst] = r.str[src], r.num[src], r.list[src]
	r.vol[dst>>6] = r.vol[dst>>6]&^(1<<(dst&63)) | (r.vol[src>>6]>>(src&63)&1)<<(dst&63)
	r.mark(dst)
}

// Set stores a value of any supported Go type (string, int64, int,
// float64, bool, time.Time, []string; nil clears): for tests and tools, not decoders.
func (r *Record) Set(i int, v any) {
	switch x := v.(type) {
	case nil:
		r.unset(i)
	case string:
		r.unset(i)
		r.SetString(i, x)
	case int64:
		r.SetInt(i, x)
	case int:
		r.SetInt(i, int64(x))
	case float64:
		r.unset(i)
		r.SetFloat(i, x)
	case bool:
		r.SetBool(i, x)
	case time.Time:
		r.SetTime(i, x)
	case []string:
		r.unset(i)
		r.SetList(i, x)
	default:
		panic(fmt.Sprintf("interflow: field %s cannot hold %T", r.Schema.Fields[i].Name, v))
	}
}

// Value returns field i boxed (string, int64, float64, bool, time.Time or
// []string), or nil when absent: for display, goldens and tests. Text is
// copied, so the value outlives the record (SetBytes values would not).
func (r *Record) Value(i int) any {
	if !r.Has(i) {
		return nil
	}
	switch r.Schema.Fields[i].Type {
	case Int:
		return r.num[i]
	case Float:
		return math.Float64frombits(uint64(r.num[i]))
	case Bool:
		return r.num[i] != 0
	case Time:
		return time.UnixMicro(r.num[i]).UTC()
	case Strings:
		return slices.Clone(r.list[i])
	}
	return strings.Clone(r.str[i])
}

// Get returns a value by field name (see Value).
func (r *Record) Get(name string) any {
	if i, ok := r.Schema.Lookup(name); ok {
		return r.Value(i)
	}
	return nil
}

// Str returns a text or IP field. It may refer to a decoder's buffer (see
// SetBytes): use it while the record is current.
func (r *Record) Str(i int) (string, bool) {
	t := r.Schema.Fields[i].Type
	if !r.Has(i) || t != String && t != IP {
		return "", false
	}
	return r.str[i], true
}

// Int returns an integer field.
func (r *Record) Int(i int) (int64, bool) {
	if !r.Has(i) || r.Schema.Fields[i].Type != Int {
		return 0, false
	}
	return r.num[i], true
}

// Float returns a double field.
func (r *Record) Float(i int) (float64, bool) {
	if !r.Has(i) || r.Schema.Fields[i].Type != Float {
		return 0, false
	}
	return math.Float64frombits(uint64(r.num[i])), true
}

// Bool returns a boolean field.
func (r *Record) Bool(i int) (bool, bool) {
	if !r.Has(i) || r.Schema.Fields[i].Type != Bool {
		return false, false
	}
	return r.num[i] != 0, true
}

// Time returns a timestamp field.
func (r *Record) Time(i int) (time.Time, bool) {
	if !r.Has(i) || r.Schema.Fields[i].Type != Time {
		return time.Time{}, false
	}
	return time.UnixMicro(r.num[i]).UTC(), true
}

// Micros returns a timestamp field in Unix microseconds.
func (r *Record) Micros(i int) (int64, bool) {
	if !r.Has(i) || r.Schema.Fields[i].Type != Time {
		return 0, false
	}
	return r.num[i], true
}

// List returns a list field.
func (r *Record) List(i int) ([]string, bool) {
	if !r.Has(i) || r.Schema.Fields[i].Type != Strings {
		return nil, false
	}
	return r.list[i], true
}

// Stamp fills the provenance and origin fields common to every record.
func (r *Record) Stamp(p Provenance, pos int64, class, category string) {
	r.StampID(ID(p, pos), p, pos, class, category)
}

// StampID is Stamp with the record's ID already derived (by the object's
// IDs, which hash its prefix once).
func (r *Record) StampID(id string, p Provenance, pos int64, class, category string) {
	r.SetString(FID, id)
	r.SetString(FTenant, p.Tenant)
	r.SetString(FConnector, p.Connector)
	r.SetString(FIndex, r.Schema.Index)
	r.SetString(FMsgClass, class)
	r.SetString(FOriginSource, "cloudtrail")
	r.SetString(FOriginVendor, "aws")
	r.SetString(FOriginCategory, category)
	r.SetString(FBucket, p.Bucket)
	r.SetString(FKey, p.Key)
	r.SetInt(FPosition, pos)
}

// Values is read access to one record's fields by schema position: what
// queries are evaluated against in memory (log filters, detections). ok is
// false when the field is absent or holds another type.
type Values interface {
	Str(i int) (string, bool)
	Int(i int) (int64, bool)
	Float(i int) (float64, bool)
	Bool(i int) (bool, bool)
	Time(i int) (time.Time, bool)
	List(i int) ([]string, bool)
}
