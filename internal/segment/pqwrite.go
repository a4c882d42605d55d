package segment

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/delta"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/trawlhq/trawl/internal/interflow"
)

// Segments are encoded here, straight from a batch's columns to Parquet
// pages: a loop per column over typed arrays, with no value boxed per
// cell. Through parquet-go's generic writer (a parquet.Value per cell,
// levels set per value, a dictionary insert per cell) encoding was half of
// a VPC flow line's cost. parquet-go still supplies the schema, the
// Thrift structures and the RLE encoder, and reads the segments back.
//
// What is written: one column chunk per leaf and row group; data pages v2
// of about 1 MiB, zstd-compressed; text columns other than the high
// cardinality ones dictionary-encoded (falling back to plain when the
// dictionary grows past a limit); min and max statistics for every column
// but the plain text ones, which DuckDB uses to skip row groups.

const (
	pageBytes     = 1 << 20 // a data page's values before compression
	maxDictValues = 1 << 15
	maxDictBytes  = 1 << 20
	spanBits      = 8 // buildDict's cache of values known by their span
)

// leafInfo is what encoding needs to know about one leaf.
type leafInfo struct {
	leaf
	path  []string
	kind  format.Type
	dict  bool
	list  bool
	order bool // unsigned order (uint32 keys)
}

// footerTemplate is the part of every segment's footer that depends only
// on the layout: its schema elements and column orders, taken from a file
// parquet-go writes without rows.
type footerTemplate struct {
	schema []format.SchemaElement
	orders []format.ColumnOrder
	leaves []leafInfo // in column order
}

type footerOnce struct {
	once sync.Once
	t    *footerTemplate
	err  error
}

func (lay *layout) footer() (*footerTemplate, error) {
	lay.foot.once.Do(func() { lay.foot.t, lay.foot.err = lay.buildFooter() })
	return lay.foot.t, lay.foot.err
}

func (lay *layout) buildFooter() (*footerTemplate, error) {
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, lay.schema)
	if err := w.Close(); err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		return nil, err
	}
	md := pf.Metadata()
	t := &footerTemplate{schema: md.Schema, orders: md.ColumnOrders}
	lay.setFieldIDs(t.schema)
	cols := lay.schema.Columns()
	for _, lf := range lay.leaves {
		lc, _ := lay.schema.Lookup(cols[lf.col]...)
		typ := lc.Node.Type()
		li := leafInfo{leaf: lf, path: cols[lf.col], kind: format.Type(typ.Kind()), list: lc.MaxRepetitionLevel > 0}
		if lt := typ.LogicalType(); lt != nil {
			if it, ok := lt.Value.(*format.IntType); ok && !it.IsSigned {
				li.order = true
			}
		}
		if lf.kind == leafValue && li.kind == format.ByteArray && !li.list {
			li.dict = !highCardinality[lay.index.Fields[lf.field].Name]
		}
		t.leaves = append(t.leaves, li)
	}
	slices.SortFunc(t.leaves, func(a, b leafInfo) int { return a.col - b.col })
	if len(t.orders) != len(t.leaves) {
		t.orders = make([]format.ColumnOrder, len(t.leaves))
		for i := range t.orders {
			t.orders[i].Value = &format.TypeDefinedOrder{}
		}
	}
	return t, nil
}

// setFieldIDs gives the schema elements of Interflow fields their field
// id (and a list's element its own), as an Iceberg table's data files
// must carry them: engines resolve columns by id, so the segments are the
// table's data files as written. The key columns (_v4, _v6, rg) are not
// in the table's schema and have none, so engines ignore them.
func (lay *layout) setFieldIDs(elems []format.SchemaElement) {
	byName := make(map[string]int, len(lay.index.Fields))
	for i, f := range lay.index.Fields {
		byName[ColumnName(f.Name)] = i
	}
	// elems is the schema in depth-first order: the root, then each
	// top-level column followed by its descendants.
	for i := 1; i < len(elems); {
		n := subtreeSize(elems, i)
		if f, ok := byName[elems[i].Name]; ok {
			elems[i].FieldID = int32(lay.index.FieldID(f))
			if n == 3 { // a list: name, the repeated group, its element
				elems[i+2].FieldID = int32(lay.index.ElementID(f))
			}
		}
		i += n
	}
}

// subtreeSize counts the elements of the subtree that starts at elems[i].
func subtreeSize(elems []format.SchemaElement, i int) int {
	n := 1
	for c := int32(0); c < elems[i].NumChildren.V; c++ {
		n += subtreeSize(elems, i+n)
	}
	return n
}

// rowGroupWriter writes a segment one row group at a time (ingest writes
// a batch's row groups in a row; compaction streams merged ones).
type rowGroupWriter struct {
	lay     *layout
	out     io.Writer
	off     int64
	err     error
	foot    *footerTemplate
	groups  []format.RowGroup
	rows    int64
	filters tokenFilters
	enc     *chunkEncoder
}

func (lay *layout) newWriter(out io.Writer) *rowGroupWriter {
	sw := &rowGroupWriter{lay: lay, out: out}
	sw.foot, sw.err = lay.footer()
	sw.write([]byte("PAR1"))
	sw.enc, _ = lay.codec.chunks.Get().(*chunkEncoder)
	if sw.enc == nil {
		sw.enc = &chunkEncoder{codec: lay.codec}
	}
	return sw
}

func (sw *rowGroupWriter) write(p []byte) {
	if sw.err != nil {
		return
	}
	n, err := sw.out.Write(p)
	sw.off += int64(n)
	sw.err = err
}

// rowGroup writes rows of b (at most the layout's row group size) as the
// next row group, and builds its token filter.
func (sw *rowGroupWriter) rowGroup(b *interflow.Batch, rows []int32) error {
	if sw.err != nil {
		return sw.err
	}
	rg := len(sw.filters)
	g := format.RowGroup{NumRows: int64(len(rows)), FileOffset: sw.off, Ordinal: int16(rg)}
	for _, li := range sw.foot.leaves {
		start := sw.off
		cc, chunk, err := sw.enc.chunk(li, b, rows, rg)
		if err != nil {
			return fmt.Errorf("column %s: %w", li.path[0], err)
		}
		cc.MetaData.PathInSchema = li.path
		cc.MetaData.Type = li.kind
		cc.FileOffset = start
		cc.MetaData.DataPageOffset += start
		if cc.MetaData.DictionaryPageOffset >= 0 {
			cc.MetaData.DictionaryPageOffset += start
		} else {
			cc.MetaData.DictionaryPageOffset = 0
		}
		sw.write(chunk)
		g.Columns = append(g.Columns, cc)
		g.TotalByteSize += cc.MetaData.TotalUncompressedSize
		g.TotalCompressedSize += cc.MetaData.TotalCompressedSize
	}
	sw.groups = append(sw.groups, g)
	sw.rows += int64(len(rows))
	tb := newTokenBuilder(len(rows), sw.lay.tokenBits)
	for _, r := range rows {
		if b.Has(interflow.FRaw, int(r)) {
			tb.text(b.StrBytes(interflow.FRaw, int(r)))
		}
	}
	sw.filters = append(sw.filters, tb.f)
	return sw.err
}

func (sw *rowGroupWriter) close() (tokenFilters, error) {
	if sw.enc != nil {
		clear(sw.enc.dvals) // they point into the batch
		sw.lay.codec.chunks.Put(sw.enc)
		sw.enc = nil
	}
	if sw.err != nil {
		return nil, sw.err
	}
	md := format.FileMetaData{Version: 1, Schema: sw.foot.schema, NumRows: sw.rows, RowGroups: sw.groups,
		CreatedBy: "trawl", ColumnOrders: sw.foot.orders}
	meta, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		return nil, err
	}
	sw.write(meta)
	sw.write(binary.LittleEndian.AppendUint32(nil, uint32(len(meta))))
	sw.write([]byte("PAR1"))
	return sw.filters, sw.err
}

// chunkEncoder builds column chunks, reusing its buffers from one to the
// next.
type chunkEncoder struct {
	codec  *pageCodec
	out    []byte // the chunk: pages with their headers
	defs   []byte
	reps   []byte
	vals   []byte
	levels []byte
	comp   []byte
	idx    []int32 // the chunk's dictionary indexes
	ints   []int64 // the page's integers (delta-encoded at its end)
	cdefs  []byte  // the dictionary chunk's definition levels, a row each
	cnulls int
	spans  [1 << spanBits]struct{ at, idx int32 } // arena start → index
	ipos   [2]int                                 // the current page's range of idx
	dict   map[string]int32
	dvals  [][]byte // dictionary entries, in index order
	dsize  int
	stats  stats
	// page accounting
	pageVals, pageNulls, pageRows int
	uncompressed                  int64
}

// chunk encodes one leaf of a row group. The offsets in the returned
// metadata are relative to the chunk's start (the dictionary page offset
// is -1 when there is none).
func (e *chunkEncoder) chunk(li leafInfo, b *interflow.Batch, rows []int32, rg int) (format.ColumnChunk, []byte, error) {
	e.out, e.uncompressed = e.out[:0], 0
	e.stats.reset(li)
	var cc format.ColumnChunk
	md := &cc.MetaData
	md.DictionaryPageOffset = -1
	md.Encoding = []format.Encoding{format.Plain, format.RLE}
	md.Codec = format.Zstd
	if li.dict && e.buildDict(b, li.field, rows) {
		md.Encoding = append(md.Encoding, format.RLEDictionary)
		md.DictionaryPageOffset = 0
		if err := e.dictPage(); err != nil {
			return cc, nil, err
		}
		md.DataPageOffset = int64(len(e.out))
		if err := e.dictPages(li); err != nil {
			return cc, nil, err
		}
		return e.finish(li, cc), e.out, nil
	}
	li.dict = false
	md.DataPageOffset = int64(len(e.out))
	e.ipos = [2]int{}
	e.resetPage()
	if li.kind == format.Int64 && li.leaf.kind == leafValue && !li.list {
		md.Encoding, md.Codec = []format.Encoding{format.DeltaBinaryPacked, format.RLE}, format.Uncompressed
		if err := e.int64Pages(li, b, rows); err != nil {
			return cc, nil, err
		}
		return e.finish(li, cc), e.out, nil
	}
	for i, r := range rows {
		e.row(li, b, int(r), i, rg)
		if len(e.vals) >= pageBytes {
			if err := e.dataPage(li); err != nil {
				return cc, nil, err
			}
		}
	}
	if e.pageVals > 0 || len(rows) == 0 {
		if err := e.dataPage(li); err != nil {
			return cc, nil, err
		}
	}
	return e.finish(li, cc), e.out, nil
}

// int64Pages writes an integer column's pages in one typed loop over the
// batch's values (the most common plain column: times, ports, counts),
// delta-encoded (DELTA_BINARY_PACKED) and not compressed: times and
// positions shrink to a few bits a value and counters to their spread,
// about what zstd made of them, where zstd was a third of the writer's
// time for VPC flow's ten integer columns.
func (e *chunkEncoder) int64Pages(li leafInfo, b *interflow.Batch, rows []int32) error {
	const per = pageBytes / 8
	defs, nums := b.Ints(li.field)
	if defs == nil {
		defs = make([]byte, b.Len()) // no row sets it: all absent
	}
	if len(rows) == 0 {
		return e.deltaPage(li)
	}
	for lo := 0; lo < len(rows); lo += per {
		page := rows[lo:min(lo+per, len(rows))]
		for _, r := range page {
			if defs[r] == 0 {
				e.defs = append(e.defs, 0)
				e.pageNulls++
				continue
			}
			v := nums[r]
			e.defs = append(e.defs, 1)
			e.ints = append(e.ints, v)
			e.stats.int(v)
		}
		e.pageRows, e.pageVals = len(page), len(page)
		e.stats.values += int64(len(page))
		e.stats.nulls += int64(e.pageNulls)
		if err := e.deltaPage(li); err != nil {
			return err
		}
	}
	return nil
}

// deltaPage writes the current page's integers delta-encoded, with no
// compression.
func (e *chunkEncoder) deltaPage(li leafInfo) error {
	var err error
	e.levels = e.levels[:0]
	defLen := 0
	if li.def > 0 {
		if e.levels, err = appendLevels(e.levels, e.defs, li.def); err != nil {
			return err
		}
		defLen = len(e.levels)
	}
	var enc delta.BinaryPackedEncoding
	if e.vals, err = enc.EncodeInt64(e.vals[:0], e.ints); err != nil {
		return err
	}
	size := int32(len(e.levels) + len(e.vals))
	h := format.PageHeader{Type: format.DataPageV2, UncompressedPageSize: size, CompressedPageSize: size,
		DataPageHeaderV2: thrift.New(format.DataPageHeaderV2{NumValues: int32(e.pageVals), NumNulls: int32(e.pageNulls),
			NumRows: int32(e.pageRows), Encoding: format.DeltaBinaryPacked, DefinitionLevelsByteLength: int32(defLen),
			IsCompressed: thrift.New(false)})}
	err = e.page(&h, e.levels, e.vals, len(e.levels)+len(e.vals))
	e.resetPage()
	e.ints = e.ints[:0]
	return err
}

// finish fills a chunk's totals and statistics.
func (e *chunkEncoder) finish(li leafInfo, cc format.ColumnChunk) format.ColumnChunk {
	md := &cc.MetaData
	md.NumValues = e.stats.values
	md.TotalCompressedSize = int64(len(e.out))
	md.TotalUncompressedSize = e.uncompressed
	md.Statistics = e.stats.format(li)
	return cc
}

// buildDict maps a text column's values to dictionary indexes, and notes
// each row's definition level, or reports false when the dictionary would
// pass its limits (the chunk is then written plain). A value is known
// again by where the batch stores it before its bytes are compared: the
// rows that repeat a stable value (an object's key, the tenant) share one
// span, so columns that hold one value per object cost no hashing.
func (e *chunkEncoder) buildDict(b *interflow.Batch, f int, rows []int32) bool {
	if e.dict == nil {
		e.dict = map[string]int32{}
	}
	clear(e.dict)
	e.dvals, e.dsize, e.idx = e.dvals[:0], 0, e.idx[:0]
	e.cdefs, e.cnulls = e.cdefs[:0], 0
	for i := range e.spans {
		e.spans[i].at = -1
	}
	var last []byte
	lastIdx := int32(-1)
	for _, r := range rows {
		if !b.Has(f, int(r)) {
			e.cdefs = append(e.cdefs, 0)
			e.cnulls++
			continue
		}
		e.cdefs = append(e.cdefs, 1)
		at := b.TextStart(f, int(r))
		span := &e.spans[uint32(at)*2654435761>>(32-spanBits)]
		if span.at == at {
			e.idx = append(e.idx, span.idx)
			continue
		}
		v := b.StrBytes(f, int(r))
		i := lastIdx
		if lastIdx < 0 || !bytes.Equal(v, last) {
			var ok bool
			if i, ok = e.dict[unsafe.String(unsafe.SliceData(v), len(v))]; !ok {
				if len(e.dvals) == maxDictValues || e.dsize+len(v) > maxDictBytes {
					return false
				}
				// Mostly distinct values (addresses of a scan, request
				// IDs) would pass the limit anyway: give up early, before
				// thousands of inserts are wasted.
				if len(e.dvals) >= 2048 && len(e.dvals)*2 > len(e.idx) {
					return false
				}
				i = int32(len(e.dvals))
				e.dict[string(v)] = i
				e.dvals = append(e.dvals, v)
				e.dsize += len(v)
			}
		}
		span.at, span.idx = at, i
		last, lastIdx = v, i
		e.idx = append(e.idx, i)
	}
	return len(e.dvals) > 0 // a chunk of nulls needs no dictionary
}

// dictPages writes a dictionary-encoded chunk's data pages from what
// buildDict noted: no second visit of the rows.
func (e *chunkEncoder) dictPages(li leafInfo) error {
	const per = pageBytes / 4
	n := len(e.cdefs)
	e.ipos = [2]int{}
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		e.resetPage()
		e.defs = append(e.defs, e.cdefs[lo:hi]...)
		present := hi - lo
		if e.cnulls > 0 {
			present = 0
			for _, d := range e.defs {
				present += int(d)
			}
		}
		e.ipos[1] = e.ipos[0] + present
		e.pageRows, e.pageVals, e.pageNulls = hi-lo, hi-lo, hi-lo-present
		e.stats.values += int64(hi - lo)
		e.stats.nulls += int64(hi - lo - present)
		if err := e.dataPage(li); err != nil {
			return err
		}
	}
	return nil
}

func (e *chunkEncoder) dictPage() error {
	e.vals = e.vals[:0]
	for _, v := range e.dvals {
		e.vals = binary.LittleEndian.AppendUint32(e.vals, uint32(len(v)))
		e.vals = append(e.vals, v...)
		e.stats.text(v)
	}
	e.comp, _ = e.codec.Encode(e.comp, e.vals)
	h := format.PageHeader{Type: format.DictionaryPage, UncompressedPageSize: int32(len(e.vals)), CompressedPageSize: int32(len(e.comp)),
		DictionaryPageHeader: thrift.New(format.DictionaryPageHeader{NumValues: int32(len(e.dvals)), Encoding: format.Plain})}
	return e.page(&h, nil, e.comp, len(e.vals))
}

func (e *chunkEncoder) resetPage() {
	e.defs, e.reps, e.vals = e.defs[:0], e.reps[:0], e.vals[:0]
	e.pageVals, e.pageNulls, e.pageRows = 0, 0, 0
	e.ipos[0] = e.ipos[1]
}

// row appends one row's levels and values to the current page.
func (e *chunkEncoder) row(li leafInfo, b *interflow.Batch, r, i, rg int) {
	e.pageRows++
	if li.kind == format.Int32 && li.leaf.kind == leafRG {
		e.vals = binary.LittleEndian.AppendUint32(e.vals, uint32(rg))
		e.stats.int(int64(rg))
		e.pageVals++
		e.stats.values++
		return
	}
	f := li.field
	if li.list {
		e.listRow(li, b.ListAt(f, r), b.Has(f, r))
		return
	}
	e.pageVals++
	e.stats.values++
	if !b.Has(f, r) {
		e.null()
		return
	}
	switch li.leaf.kind {
	case leafV4, leafV6:
		e.ipKey(li, b.StrBytes(f, r))
		return
	}
	// Integer and dictionary chunks have their own page writers
	// (int64Pages, dictPages): what reaches here is boolean, double or
	// plain text.
	switch li.kind {
	case format.Boolean:
		e.vals = append(e.vals, byte(b.Num(f, r)&1)) // packed at the page's end
		e.stats.int(b.Num(f, r) & 1)
	case format.Double:
		bits := uint64(b.Num(f, r)) // the batch holds a double's IEEE 754 bits
		e.vals = binary.LittleEndian.AppendUint64(e.vals, bits)
		e.stats.float(math.Float64frombits(bits))
	default:
		v := b.StrBytes(f, r)
		e.vals = binary.LittleEndian.AppendUint32(e.vals, uint32(len(v)))
		e.vals = append(e.vals, v...)
	}
	e.defs = append(e.defs, 1)
}

func (e *chunkEncoder) null() {
	e.defs = append(e.defs, 0)
	e.pageNulls++
	e.stats.nulls++
}

// ipKey appends an IP text's IPv4 or IPv6 key, null when the address is of
// the other family or does not parse.
func (e *chunkEncoder) ipKey(li leafInfo, text []byte) {
	if li.leaf.kind == leafV6 && bytes.IndexByte(text, ':') < 0 {
		e.null() // dotted IPv4 text: no IPv6 key, no need to parse
		return
	}
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(text), len(text)))
	if err == nil {
		a = a.Unmap()
		switch {
		case li.leaf.kind == leafV4 && a.Is4():
			v := binary.BigEndian.Uint32(a.AsSlice())
			e.vals = binary.LittleEndian.AppendUint32(e.vals, v)
			e.stats.int(int64(v))
			e.defs = append(e.defs, 1)
			return
		case li.leaf.kind == leafV6 && a.Is6():
			k := a.As16()
			e.vals = append(e.vals, k[:]...)
			e.stats.text(k[:])
			e.defs = append(e.defs, 1)
			return
		}
	}
	e.null()
}

// listRow appends a list's levels (repetition 0 starts a row) and
// elements: absent is definition 0, empty 1, an element the maximum.
func (e *chunkEncoder) listRow(li leafInfo, l []string, has bool) {
	switch {
	case !has:
		e.reps, e.defs = append(e.reps, 0), append(e.defs, 0)
		e.pageVals, e.pageNulls, e.stats.values, e.stats.nulls = e.pageVals+1, e.pageNulls+1, e.stats.values+1, e.stats.nulls+1
		return
	case len(l) == 0:
		e.reps, e.defs = append(e.reps, 0), append(e.defs, 1)
		e.pageVals, e.pageNulls, e.stats.values, e.stats.nulls = e.pageVals+1, e.pageNulls+1, e.stats.values+1, e.stats.nulls+1
		return
	}
	for j, s := range l {
		e.reps, e.defs = append(e.reps, byte(min(j, 1))), append(e.defs, byte(li.def))
		e.vals = binary.LittleEndian.AppendUint32(e.vals, uint32(len(s)))
		e.vals = append(e.vals, s...)
		e.stats.text(unsafe.Slice(unsafe.StringData(s), len(s)))
	}
	e.pageVals += len(l)
	e.stats.values += int64(len(l))
}

// dataPage encodes the current page (levels, then values) and starts the
// next.
func (e *chunkEncoder) dataPage(li leafInfo) error {
	var err error
	e.levels = e.levels[:0]
	var repLen, defLen int
	if li.list {
		e.levels, err = appendLevels(e.levels, e.reps, 1)
		if err != nil {
			return err
		}
		repLen = len(e.levels)
	}
	if li.def > 0 {
		e.levels, err = appendLevels(e.levels, e.defs, li.def)
		if err != nil {
			return err
		}
		defLen = len(e.levels) - repLen
	}
	enc := format.Plain
	switch {
	case li.dict:
		enc = format.RLEDictionary
		width := max(bits.Len(uint(len(e.dvals))-1), 1)
		e.vals = append(e.vals[:0], byte(width))
		rl := rle.Encoding{BitWidth: width}
		out, err := rl.EncodeInt32(e.comp[:0], e.idx[e.ipos[0]:e.ipos[1]])
		if err != nil {
			return err
		}
		e.vals = append(e.vals, out...)
	case li.kind == format.Boolean:
		e.vals = packBits(e.vals)
	}
	e.comp, _ = e.codec.Encode(e.comp, e.vals)
	h := format.PageHeader{Type: format.DataPageV2, UncompressedPageSize: int32(len(e.levels) + len(e.vals)),
		CompressedPageSize: int32(len(e.levels) + len(e.comp)),
		DataPageHeaderV2: thrift.New(format.DataPageHeaderV2{NumValues: int32(e.pageVals), NumNulls: int32(e.pageNulls),
			NumRows: int32(e.pageRows), Encoding: enc, DefinitionLevelsByteLength: int32(defLen),
			RepetitionLevelsByteLength: int32(repLen), IsCompressed: thrift.New(true)})}
	err = e.page(&h, e.levels, e.comp, len(e.levels)+len(e.vals))
	e.resetPage()
	return err
}

// page appends a page header and its body to the chunk.
func (e *chunkEncoder) page(h *format.PageHeader, levels, body []byte, uncompressed int) error {
	hdr, err := thrift.Marshal(new(thrift.CompactProtocol), h)
	if err != nil {
		return err
	}
	e.out = append(e.out, hdr...)
	e.out = append(e.out, levels...)
	e.out = append(e.out, body...)
	e.uncompressed += int64(len(hdr) + uncompressed)
	return nil
}

// appendLevels appends levels in the RLE/bit-packed hybrid encoding, with
// the width of the largest level.
func appendLevels(dst, levels []byte, maxLevel int) ([]byte, error) {
	enc := rle.Encoding{BitWidth: bits.Len(uint(maxLevel))}
	out, err := enc.EncodeLevels(nil, levels)
	return append(dst, out...), err
}

// packBits packs one boolean per byte into PLAIN's bits, least significant
// first, in place.
func packBits(v []byte) []byte {
	n := (len(v) + 7) / 8
	for i := 0; i < n; i++ {
		var x byte
		for j := 0; j < 8 && i*8+j < len(v); j++ {
			x |= (v[i*8+j] & 1) << j
		}
		v[i] = x
	}
	return v[:n]
}

// stats are a column chunk's statistics.
type stats struct {
	values, nulls int64
	has           bool
	unsigned      bool
	lo, hi        int64
	flo, fhi      float64
	tlo, thi      []byte
	isText        bool
}

func (s *stats) reset(li leafInfo) {
	*s = stats{unsigned: li.order, isText: li.kind == format.ByteArray || li.kind == format.FixedLenByteArray,
		tlo: s.tlo[:0], thi: s.thi[:0]}
}

func (s *stats) int(v int64) {
	switch {
	case !s.has:
		s.lo, s.hi, s.has = v, v, true
	case v < s.lo:
		s.lo = v
	case v > s.hi:
		s.hi = v
	}
}

func (s *stats) float(v float64) {
	switch {
	case !s.has:
		s.flo, s.fhi, s.has = v, v, true
	case v < s.flo:
		s.flo = v
	case v > s.fhi:
		s.fhi = v
	}
}

func (s *stats) text(v []byte) {
	switch {
	case !s.has:
		s.tlo, s.thi, s.has = append(s.tlo[:0], v...), append(s.thi[:0], v...), true
	case bytes.Compare(v, s.tlo) < 0:
		s.tlo = append(s.tlo[:0], v...)
	case bytes.Compare(v, s.thi) > 0:
		s.thi = append(s.thi[:0], v...)
	}
}

// format returns the statistics as Parquet writes them: plain-encoded
// minimum and maximum (none for the plain text columns, whose values are
// unique and long), and the count of nulls.
func (s *stats) format(li leafInfo) format.Statistics {
	st := format.Statistics{NullCount: s.nulls}
	if !s.has {
		return st
	}
	switch li.kind {
	case format.Int64:
		st.MinValue = binary.LittleEndian.AppendUint64(nil, uint64(s.lo))
		st.MaxValue = binary.LittleEndian.AppendUint64(nil, uint64(s.hi))
	case format.Int32:
		st.MinValue = binary.LittleEndian.AppendUint32(nil, uint32(s.lo))
		st.MaxValue = binary.LittleEndian.AppendUint32(nil, uint32(s.hi))
	case format.Boolean:
		st.MinValue, st.MaxValue = []byte{byte(s.lo)}, []byte{byte(s.hi)}
	case format.Double:
		// Parquet's rule for zeros: a minimum of zero is written -0.0 and
		// a maximum +0.0, so a reader's pruning keeps both signs (a
		// record's NaN never reaches a column: Record refuses it).
		lo, hi := s.flo, s.fhi
		if lo == 0 {
			lo = math.Copysign(0, -1)
		}
		if hi == 0 {
			hi = 0
		}
		st.MinValue = binary.LittleEndian.AppendUint64(nil, math.Float64bits(lo))
		st.MaxValue = binary.LittleEndian.AppendUint64(nil, math.Float64bits(hi))
	default:
		st.MinValue, st.MaxValue = bytes.Clone(s.tlo), bytes.Clone(s.thi)
	}
	return st
}
