package segment

import (
	"bufio"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
)

// The lake's records are immutable Parquet segments, one per (index,
// tenant, day) per commit, sorted by time, in folders
// index=…/tenant=…/day=…/: each index=…/tenant=…/ folder is an Apache
// Iceberg table's location, the segments its data files (see
// internal/iceberg). A segment is written under a staging name (.tmp, not
// a .parquet), synced, renamed, and registered by the catalog in the same
// transaction that advances the checkpoints of the objects its records
// came from; it enters the Iceberg table only through a snapshot of the
// registered segments. A file the catalog does not register is debris of
// a crash, swept. Nothing else is under a table's location: the token
// filters are in a sidecar tree (_tokens/), the schema files outside the
// lake folder.

// ColumnName is a field's column in Parquet and SQL: dots become
// underscores, so other engines need no quoting (cloud.account_id is
// cloud_account_id).
func ColumnName(field string) string { return strings.ReplaceAll(field, ".", "_") }

// Beside each IP field, two key columns make CIDR blocks and ranges
// integer comparisons that row-group statistics prune, and make grouping
// by address fast: an IPv4 address as an unsigned 32-bit integer, an IPv6
// address as its 16 bytes.
func v4Column(field string) string { return ColumnName(field) + "_v4" }
func v6Column(field string) string { return ColumnName(field) + "_v6" }

// rgColumn holds each row's row group number, constant within a row group,
// so a query can name the row groups its token filters allow and DuckDB
// skips the others by their statistics.
const rgColumn = "rg"

// highCardinality fields are written plain; every other text column with
// a dictionary, which Parquet drops by itself when it grows too large.
var highCardinality = map[string]bool{"id": true, "raw": true, "event_id": true, "request_id": true, "error_message": true, "http.args": true}

// leafKind says what a Parquet leaf column holds.
type leafKind uint8

const (
	leafValue leafKind = iota // the field itself
	leafV4                    // an IP field's IPv4 key
	leafV6                    // an IP field's IPv6 key
	leafRG                    // the row group number
)

type leaf struct {
	col   int // position in the Parquet schema's leaves
	field int // position in the interflow schema
	kind  leafKind
	def   int // max definition level
}

// layout is an index's Parquet schema and how its leaves map to fields.
// A segment stores only the fields its records use (the full layout is
// the schema file every query reads beside the segments, so a column that
// no segment has still resolves, as NULL): a default-format VPC flow
// segment skips two thirds of the traffic columns.
type layout struct {
	index     *interflow.Schema
	schema    *parquet.Schema
	leaves    []leaf
	rowGroup  int      // rows per row group
	tokenBits int      // token filter bits per row
	subsets   sync.Map // used-field mask ([2]uint64) -> *layout
	// codec is shared by every writer of the layout, so its pool of
	// encoders (with their history buffers) is reused across segments.
	codec *pageCodec
	foot  footerOnce // the footer's schema part, built at first use
}

func newLayout(s *interflow.Schema) *layout { return buildLayout(s, nil) }

// partitionField reports whether a field is stored in the segment's
// folder names (index=…/tenant=…/) rather than in the file.
func partitionField(i int) bool { return i == interflow.FTenant || i == interflow.FIndex }

// buildLayout makes the layout of the fields marked in used (all when nil).
func buildLayout(s *interflow.Schema, used []bool) *layout {
	g := parquet.Group{}
	for i, f := range s.Fields {
		if used != nil && !used[i] || partitionField(i) {
			continue
		}
		g[ColumnName(f.Name)] = fieldNode(f)
		if f.Type == interflow.IP {
			g[v4Column(f.Name)] = parquet.Optional(parquet.Uint(32))
			g[v6Column(f.Name)] = parquet.Optional(parquet.Leaf(parquet.FixedLenByteArrayType(16)))
		}
	}
	g[rgColumn] = parquet.Required(parquet.Int(32))
	ps := parquet.NewSchema(s.Index, g)
	lay := &layout{index: s, schema: ps, rowGroup: 16384, tokenBits: 160, codec: newPageCodec()}
	if s.Index == interflow.IndexTraffic {
		lay.rowGroup, lay.tokenBits = 65536, 64
	}
	add := func(path string, field int, kind leafKind) {
		lc, ok := ps.Lookup(strings.Split(path, ".")...)
		if !ok {
			panic("lake: no Parquet leaf " + path)
		}
		lay.leaves = append(lay.leaves, leaf{col: lc.ColumnIndex, field: field, kind: kind, def: lc.MaxDefinitionLevel})
	}
	for i, f := range s.Fields {
		if used != nil && !used[i] || partitionField(i) {
			continue
		}
		name := ColumnName(f.Name)
		if f.Type == interflow.Strings {
			name += ".list.element"
		}
		add(name, i, leafValue)
		if f.Type == interflow.IP {
			add(v4Column(f.Name), i, leafV4)
			add(v6Column(f.Name), i, leafV6)
		}
	}
	add(rgColumn, -1, leafRG)
	return lay
}

func fieldNode(f interflow.Field) parquet.Node {
	switch f.Type {
	case interflow.Int:
		return parquet.Optional(parquet.Int(64))
	case interflow.Float:
		return parquet.Optional(parquet.Leaf(parquet.DoubleType))
	case interflow.Bool:
		return parquet.Optional(parquet.Leaf(parquet.BooleanType))
	case interflow.Time:
		return parquet.Optional(parquet.Timestamp(parquet.Microsecond))
	case interflow.Strings:
		return parquet.Optional(parquet.List(parquet.String()))
	}
	n := parquet.String()
	if !highCardinality[f.Name] {
		n = parquet.Encoded(n, &parquet.RLEDictionary)
	}
	return parquet.Optional(n)
}

// forBatch returns the layout of the fields a batch uses (the timestamp
// always), built once per combination.
func (lay *layout) forBatch(b *interflow.Batch) *layout {
	var mask [2]uint64
	used := make([]bool, len(lay.index.Fields))
	for i := range used {
		if b.Used(i) || i == interflow.FTimestamp || i == interflow.FID {
			used[i] = true
			mask[i>>6] |= 1 << (i & 63)
		}
	}
	if l, ok := lay.subsets.Load(mask); ok {
		return l.(*layout)
	}
	sub := buildLayout(lay.index, used)
	sub.rowGroup, sub.tokenBits, sub.codec = lay.rowGroup, lay.tokenBits, lay.codec
	l, _ := lay.subsets.LoadOrStore(mask, sub)
	return l.(*layout)
}

// schemaFile writes the full layout as a Parquet file without rows: every
// query reads it beside the segments (union_by_name), so every column
// resolves whatever the segments hold. It is kept in dir, outside the lake
// folder, where no engine globbing the lake takes it for data.
func (lay *layout) schemaFile(dir string) (string, error) {
	path := filepath.Join(dir, lay.index.Index+".parquet")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	w := parquet.NewWriter(f, lay.schema)
	err = w.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	return path, err
}

func newID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// segmentPath is a segment's path under the lake's root.
func segmentPath(index, tenant string, day time.Time, id string) string {
	return filepath.Join("index="+index, "tenant="+tenant, "day="+day.Format("2006-01-02"), id+".parquet")
}

// tokensDir, under the lake root, is the sidecar tree of the segments'
// token filters: not under any table's location, where engines would take
// them for data files.
const tokensDir = "_tokens"

// tokensRel is where a segment's token filters are, both paths relative
// to the lake root (or store keys, with slashes).
func tokensRel(segment string) string {
	sep := string(filepath.Separator)
	if strings.Contains(segment, "/") {
		sep = "/"
	}
	return tokensDir + sep + strings.TrimSuffix(segment, ".parquet") + ".tokens"
}

// legacyTokensRel is where token filters were before the sidecar tree:
// beside the segment.
func legacyTokensRel(segment string) string {
	return strings.TrimSuffix(segment, ".parquet") + ".tokens"
}

// daySpans splits rows (sorted by time) into runs of one UTC day each.
func daySpans(b *interflow.Batch, rows []int32) [][]int32 {
	var out [][]int32
	start := 0
	for i := 1; i <= len(rows); i++ {
		if i == len(rows) || dayOf(b.Micros(int(rows[i]))) != dayOf(b.Micros(int(rows[start]))) {
			out = append(out, rows[start:i])
			start = i
		}
	}
	return out
}

func dayOf(micros int64) int64 {
	d := micros / (86400 * 1e6)
	if micros < 0 && micros%(86400*1e6) != 0 {
		d--
	}
	return d
}

// legacySchemaDir, under the lake root, held each index's schema file
// before they moved out of the lake folder; Open removes it.
const legacySchemaDir = "_schema"

// isSidecarPath reports whether a path relative to the root is in the
// token filters' tree.
func isSidecarPath(rel string) bool {
	return strings.HasPrefix(rel, tokensDir+string(filepath.Separator))
}

// sortedRows returns the rows to write (sel, or every row) ordered by time.
func sortedRows(b *interflow.Batch, sel []int32) []int32 {
	n := len(sel)
	if sel == nil {
		n = b.Len()
	}
	// Sorting (time, row) pairs, the row breaking ties, keeps the batch's
	// order among equal times as a stable sort would, at the cost of an
	// unstable one over keys read once (SortStableFunc's merges were 2% of
	// ingest).
	keys := make([]timeRow, n)
	for i := range keys {
		r := int32(i)
		if sel != nil {
			r = sel[i]
		}
		keys[i] = timeRow{b.Micros(int(r)), r}
	}
	slices.SortFunc(keys, func(x, y timeRow) int {
		if x.t != y.t {
			return cmp.Compare(x.t, y.t)
		}
		return cmp.Compare(x.row, y.row)
	})
	rows := make([]int32, n)
	for i, k := range keys {
		rows[i] = k.row
	}
	return rows
}

// timeRow is a row and its time, what sortedRows sorts.
type timeRow struct {
	t   int64
	row int32
}

// writeSegment writes rows of b (all of one tenant and day, sorted by
// time) as a segment under root, with its token filters, and syncs both.
// The segment is encoded in memory first (a few MB), then written.
func (lay *layout) writeSegment(root, tenant string, b *interflow.Batch, rows []int32, level int, tm *Timings) (Segment, error) {
	day := time.UnixMicro(dayOf(b.Micros(int(rows[0]))) * 86400 * 1e6).UTC()
	seg := Segment{ID: newID(), Index: lay.index.Index, Tenant: tenant, Day: day, Rows: int64(len(rows)), Level: level,
		MinTS: b.Time(int(rows[0])), MaxTS: b.Time(int(rows[len(rows)-1]))}
	seg.Path = segmentPath(seg.Index, tenant, day, seg.ID)
	full := filepath.Join(root, seg.Path)
	if err := segmentDir(root, full); err != nil {
		return seg, err
	}
	tokens := filepath.Join(root, tokensRel(seg.Path))
	filters, size, err := lay.forBatch(b).encodeFile(full, b, rows, tm)
	if err == nil {
		err = writeSidecar(tokens, tm, filters.writeTo)
	}
	if err != nil {
		os.Remove(full)
		os.Remove(tokens)
		return seg, fmt.Errorf("write segment %s: %w", seg.Path, err)
	}
	seg.Bytes, seg.RowGroups = size, len(filters)
	return seg, nil
}

// encodeFile encodes the segment into a new file and syncs it.
func (lay *layout) encodeFile(path string, b *interflow.Batch, rows []int32, tm *Timings) (tokenFilters, int64, error) {
	var filters tokenFilters
	var size int64
	err := writeSynced(path, tm, func(w io.Writer) error {
		cw := &countWriter{w: w}
		var err error
		filters, err = lay.encode(cw, b, rows)
		size = cw.n
		return err
	})
	return filters, size, err
}

// writeSidecar writes a file of the sidecar tree, creating its folder.
func writeSidecar(path string, tm *Timings, fill func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeSynced(path, tm, fill)
}

// writeSynced creates a file, fills it through a buffer, syncs it, and
// only then gives it its name: it is written under a staging name (path
// + ".tmp"), so a crash never leaves a partial or empty file under a name
// a reader of the folder takes for a segment. The filling counts as
// encoding, the sync and rename as writing.
func writeSynced(path string, tm *Timings, fill func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	start := time.Now()
	bw := bufio.NewWriterSize(f, 1<<20)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	tm.Since(ingest.StageEncode, start)
	start = time.Now()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	tm.Since(ingest.StageWrite, start)
	return err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encode writes the Parquet file, a row group at a time, column by
// column, and returns each row group's token filter.
func (lay *layout) encode(out io.Writer, b *interflow.Batch, rows []int32) (tokenFilters, error) {
	sw := lay.newWriter(out)
	for start := 0; start < len(rows); start += lay.rowGroup {
		if err := sw.rowGroup(b, rows[start:min(start+lay.rowGroup, len(rows))]); err != nil {
			return nil, err
		}
	}
	return sw.close()
}

// openSegmentFile opens a segment's Parquet file. The caller closes f; on
// error nothing is left open.
func openSegmentFile(path string) (*os.File, *parquet.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("segment %s: %w", path, err)
	}
	return f, pf, nil
}

// fileLeaves maps a file's column indexes to the layout's leaves. Columns
// are matched by path, so segments written by an older schema (fewer
// fields) or with a subset of the columns read as well.
func (lay *layout) fileLeaves(pf *parquet.File) map[int]leaf {
	byCol := make(map[int]leaf, len(lay.leaves))
	for _, lf := range lay.leaves {
		byCol[lf.col] = lf
	}
	out := map[int]leaf{}
	for i, path := range pf.Schema().Columns() {
		if lc, ok := lay.schema.Lookup(path...); ok {
			out[i] = byCol[lc.ColumnIndex]
		}
	}
	return out
}

// readSegment reads a segment's rows into b (for compaction and tests).
func (lay *layout) readSegment(path, tenant string, b *interflow.Batch) error {
	f, pf, err := openSegmentFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fileToLeaf := lay.fileLeaves(pf)
	r := parquet.NewReader(pf)
	defer r.Close()
	rec := interflow.New(lay.index)
	rows := make([]parquet.Row, 256)
	for {
		n, err := r.ReadRows(rows)
		for _, row := range rows[:n] {
			rec.Reset()
			lay.fill(rec, row, fileToLeaf)
			rec.SetString(interflow.FTenant, tenant)
			rec.SetString(interflow.FIndex, lay.index.Index)
			b.Append(rec)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("segment %s: %w", path, err)
		}
	}
}

func (lay *layout) fill(rec *interflow.Record, row parquet.Row, fileToLeaf map[int]leaf) {
	var list []string
	listField := -1
	for _, v := range row {
		lf, ok := fileToLeaf[v.Column()]
		if !ok || lf.kind != leafValue {
			continue
		}
		typ := lay.index.Fields[lf.field].Type
		if typ == interflow.Strings {
			if v.DefinitionLevel() == lf.def {
				list = append(list, string(v.ByteArray()))
				listField = lf.field
			}
			continue
		}
		if v.IsNull() {
			continue
		}
		switch typ {
		case interflow.Int:
			rec.SetInt(lf.field, v.Int64())
		case interflow.Float:
			rec.SetFloat(lf.field, v.Double())
		case interflow.Time:
			rec.SetTime(lf.field, time.UnixMicro(v.Int64()))
		case interflow.Bool:
			rec.SetBool(lf.field, v.Boolean())
		default:
			rec.SetString(lf.field, string(v.ByteArray()))
		}
	}
	if listField >= 0 {
		rec.SetList(listField, list)
	}
}
