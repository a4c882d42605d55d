package segment

import (
	"bytes"
	"cmp"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/trawlhq/trawl/internal/interflow"
)

// The Parquet pages of a segment are written by Trawl's own encoder
// (pqwrite.go), with unsafe string views and hand-built levels: these
// tests write random batches through the lake's own segment writer and
// read them back with readers that share none of its code, parquet-go's
// generic row reader and DuckDB, comparing every value.

// TestSegmentEncoderProperty writes seeded random batches and checks each
// reads back equal. TRAWL_PQ_BATCHES sets how many (default 40, a few
// seconds; thousands with larger batches find more), TRAWL_PQ_SEED the
// first seed. A failure logs how to rerun its seed alone; batches share
// layouts (their pooled encoders), so a failure that needs an earlier
// batch's leftovers reproduces with the whole run's command.
func TestSegmentEncoderProperty(t *testing.T) {
	batches, first := envInt(t, "TRAWL_PQ_BATCHES", 40), envInt(t, "TRAWL_PQ_SEED", 1)
	lim := genLimits{maxRows: 3000, hugeMax: 700 << 10, huge: 6, utf8Only: true}
	if batches > 40 {
		// A long run also fills pages by rows (every tenth batch is
		// tall): 131,072 integers or 262,144 dictionary indexes make a
		// page.
		lim.maxRows = 300_000
	}
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	for seed := first; seed < first+batches; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("seed %d; rerun: TRAWL_PQ_BATCHES=%d TRAWL_PQ_SEED=%d go test -run 'TestSegmentEncoderProperty/seed=%d$' ./internal/segment/",
						seed, batches, first, seed)
				}
			})
			ch := &chooser{rng: rand.New(rand.NewPCG(uint64(seed), 0x7472617770))}
			lim := lim
			lim.tall = lim.maxRows > 3000 && seed%10 == 0
			g := generate(ch, lim)
			data := writeGenSegment(t, g)
			got := readParquetGo(t, data)
			checkSegment(t, g, got)
			checkDuckDB(t, db, g, got, data)
		})
	}
}

// FuzzSegmentEncoder turns its input into a batch (generate reads it as
// its choices), writes the segment and reads it back with parquet-go.
func FuzzSegmentEncoder(f *testing.F) {
	f.Add([]byte{})
	ramp := make([]byte, 256)
	for i := range ramp {
		ramp[i] = byte(i)
	}
	f.Add(ramp)
	for seed := range uint64(8) {
		in := make([]byte, 2048)
		r := rand.New(rand.NewPCG(seed, 1))
		for i := range in {
			in[i] = byte(r.UintN(256))
		}
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := generate(&chooser{data: data}, genLimits{maxRows: 4200, hugeMax: 600 << 10, huge: 5})
		checkSegment(t, g, readParquetGo(t, encodeGenSegment(t, g)))
	})
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// genLayouts are the tests' layouts, one per schema, shared by every
// batch as ingest shares them: their pooled chunk encoders carry buffers
// and dictionaries from one segment to the next.
var genLayouts sync.Map // *interflow.Schema -> *layout

// genLayout returns the layout that writes g's segment, with g's row
// group size.
func genLayout(g *genBatch) *layout {
	l, _ := genLayouts.LoadOrStore(g.schema, newLayout(g.schema))
	lay := l.(*layout)
	lay.forBatch(g.b).rowGroup = g.rowGroup // what the segment writer uses
	return lay
}

// writeGenSegment writes the batch's rows as a segment the way ingest
// does (sorted by time, one segment per day: writeSegment), and returns
// its bytes.
func writeGenSegment(t *testing.T, g *genBatch) []byte {
	t.Helper()
	dir := t.TempDir()
	seg, err := genLayout(g).writeSegment(dir, "acme", g.b, sortedRows(g.b, nil), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The catalog row: what a search prunes segments by.
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, row := range g.want {
		lo, hi = min(lo, row[interflow.FTimestamp].(int64)), max(hi, row[interflow.FTimestamp].(int64))
	}
	groups := (len(g.want) + g.rowGroup - 1) / g.rowGroup
	if seg.Rows != int64(len(g.want)) || seg.RowGroups != groups || seg.MinTS.UnixMicro() != lo || seg.MaxTS.UnixMicro() != hi {
		t.Fatalf("segment %d rows in %d row groups, %v to %v; wrote %d rows in %d, %d to %d µs",
			seg.Rows, seg.RowGroups, seg.MinTS, seg.MaxTS, len(g.want), groups, lo, hi)
	}
	data, err := os.ReadFile(filepath.Join(dir, seg.Path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// encodeGenSegment encodes the batch's rows as writeSegment does (the
// same encode), in memory: without a file and its sync per input, the
// fuzz engine runs several times as many. The layout is new, so an input
// fails or passes by itself (one segment still reuses its chunk encoder
// for every column and row group).
func encodeGenSegment(t *testing.T, g *genBatch) []byte {
	t.Helper()
	lay := newLayout(g.schema)
	lay.rowGroup = g.rowGroup
	var buf bytes.Buffer
	if _, err := lay.forBatch(g.b).encode(&buf, g.b, sortedRows(g.b, nil)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readSeg is a segment as parquet-go's generic row reader sees it.
type readSeg struct {
	pf     *parquet.File
	cols   []string // leaf paths, dot-joined, in column order
	groups []int    // rows per row group
	rows   [][]any  // per row, per column: see readCell
}

// readParquetGo reads every row of every row group with parquet-go.
func readParquetGo(t *testing.T, data []byte) *readSeg {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("parquet-go opens the segment: %v", err)
	}
	s := &readSeg{pf: pf}
	var leaves []parquet.LeafColumn
	for _, path := range pf.Schema().Columns() {
		lc, _ := pf.Schema().Lookup(path...)
		s.cols = append(s.cols, strings.Join(path, "."))
		leaves = append(leaves, lc)
	}
	buf := make([]parquet.Row, 100)
	for gi, rg := range pf.RowGroups() {
		rr := rg.Rows()
		n0 := len(s.rows)
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				s.rows = append(s.rows, decodeRow(t, row, s.cols, leaves))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("row group %d: parquet-go reads: %v", gi, err)
			}
		}
		rr.Close()
		s.groups = append(s.groups, len(s.rows)-n0)
	}
	return s
}

// decodeRow turns a row's values into a cell per column: nil (null), a
// string (text), []string (a list; empty when the list is present and
// empty), int64, int32, uint32 (the _v4 keys), [16]byte or bool.
func decodeRow(t *testing.T, row parquet.Row, cols []string, leaves []parquet.LeafColumn) []any {
	t.Helper()
	cells := make([]any, len(cols))
	seen := make([]int, len(cols))
	for _, v := range row {
		c, lc := v.Column(), leaves[v.Column()]
		seen[c]++
		if lc.MaxRepetitionLevel == 0 {
			if seen[c] > 1 {
				t.Fatalf("column %s: %d values in a row", cols[c], seen[c])
			}
			cells[c] = readCell(v, cols[c])
			continue
		}
		if (v.RepetitionLevel() == 0) != (seen[c] == 1) {
			t.Fatalf("column %s: repetition level %d at a list's value %d", cols[c], v.RepetitionLevel(), seen[c])
		}
		l, _ := cells[c].([]string)
		switch d := v.DefinitionLevel(); {
		case d == lc.MaxDefinitionLevel:
			cells[c] = append(l, string(v.ByteArray()))
		case seen[c] > 1:
			t.Fatalf("column %s: definition level %d inside a list", cols[c], d)
		case d == lc.MaxDefinitionLevel-1:
			cells[c] = []string{}
		}
	}
	for c, n := range seen {
		if n == 0 {
			t.Fatalf("column %s: no value in a row", cols[c])
		}
	}
	return cells
}

func readCell(v parquet.Value, col string) any {
	if v.IsNull() {
		return nil
	}
	switch v.Kind() {
	case parquet.ByteArray:
		return string(v.ByteArray())
	case parquet.FixedLenByteArray:
		return [16]byte(v.ByteArray())
	case parquet.Int64:
		return v.Int64()
	case parquet.Int32:
		if strings.HasSuffix(col, "_v4") {
			return v.Uint32()
		}
		return v.Int32()
	case parquet.Boolean:
		return v.Boolean()
	case parquet.Double:
		return v.Double()
	}
	return fmt.Sprintf("unexpected kind %v", v.Kind())
}

// expected returns what each column of the file should hold, by column
// path, row by row in the file's order (time, then batch order), and the
// fields that must have columns (those some row sets).
func expected(t *testing.T, g *genBatch, cols []string) (want [][]any, need map[string]bool) {
	t.Helper()
	order := make([]int, len(g.want))
	for i := range order {
		order[i] = i
	}
	ts := func(i int) int64 { return g.want[i][interflow.FTimestamp].(int64) }
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ts(a), ts(b)) })
	need = map[string]bool{"rg": true}
	for f, fl := range g.schema.Fields {
		name := ColumnName(fl.Name)
		for _, row := range g.want {
			if row[f] != nil || f == interflow.FID || f == interflow.FTimestamp {
				need[name] = true
				if fl.Type == interflow.IP {
					need[name+"_v4"], need[name+"_v6"] = true, true
				}
				if fl.Type == interflow.Strings {
					delete(need, name)
					need[name+".list.element"] = true
				}
				break
			}
		}
	}
	cells := make([]func(i, rg int) any, len(cols))
	for c, col := range cols {
		cells[c] = g.column(t, col)
	}
	want = make([][]any, len(order))
	for pos, i := range order {
		want[pos] = make([]any, len(cols))
		for c := range cols {
			want[pos][c] = cells[c](i, pos/g.rowGroup)
		}
	}
	return want, need
}

// column returns what column col holds for batch row i written in row
// group rg.
func (g *genBatch) column(t *testing.T, col string) func(i, rg int) any {
	t.Helper()
	if col == "rg" {
		return func(_, rg int) any { return int32(rg) }
	}
	name := strings.TrimSuffix(col, ".list.element")
	if f, ok := g.field(name); ok {
		return func(i, _ int) any { return g.want[i][f] }
	}
	// An address's key columns: the field's name and a suffix.
	if f, ok := g.field(strings.TrimSuffix(strings.TrimSuffix(name, "_v4"), "_v6")); ok && g.schema.Fields[f].Type == interflow.IP {
		v6 := strings.HasSuffix(name, "_v6")
		return func(i, _ int) any {
			text, _ := g.want[i][f].(string)
			k4, k6 := ipKeys(text)
			if v6 {
				return k6
			}
			return k4
		}
	}
	t.Fatalf("column %s is no field of %s", col, g.schema.Index)
	return nil
}

func (g *genBatch) field(column string) (int, bool) {
	for f, fl := range g.schema.Fields {
		if ColumnName(fl.Name) == column {
			return f, true
		}
	}
	return 0, false
}

// checkSegment compares what parquet-go read with what the batch holds:
// columns, row groups, every value, and each chunk's statistics.
func checkSegment(t *testing.T, g *genBatch, s *readSeg) {
	t.Helper()
	want, need := expected(t, g, s.cols)
	for _, col := range s.cols {
		delete(need, col)
	}
	if len(need) > 0 {
		t.Fatalf("columns missing from the segment: %v", need)
	}
	if len(s.rows) != len(want) {
		t.Fatalf("read %d rows, wrote %d", len(s.rows), len(want))
	}
	for gi, n := range s.groups {
		if full := min(g.rowGroup, len(want)-gi*g.rowGroup); n != full {
			t.Fatalf("row group %d holds %d rows, want %d (row groups of %d)", gi, n, full, g.rowGroup)
		}
	}
	for pos := range want {
		for c, col := range s.cols {
			if !reflect.DeepEqual(s.rows[pos][c], want[pos][c]) {
				t.Fatalf("row %d column %s: read %s, wrote %s", pos, col, show(s.rows[pos][c]), show(want[pos][c]))
			}
		}
	}
	checkStatistics(t, s)
}

// show prints a cell, eliding the middle of huge values.
func show(v any) string {
	s := fmt.Sprintf("%T %v", v, v)
	switch v.(type) {
	case string, []string, []byte:
		s = fmt.Sprintf("%T %q", v, v)
	}
	if len(s) > 300 {
		s = s[:150] + fmt.Sprintf("…(%d bytes)…", len(s)) + s[len(s)-150:]
	}
	return s
}

// checkStatistics checks each column chunk's null count, and its minimum
// and maximum when it has them (DuckDB skips row groups by them, so a
// wrong one loses rows): every non-text column must have them.
func checkStatistics(t *testing.T, s *readSeg) {
	t.Helper()
	md := s.pf.Metadata()
	start := 0
	for gi, rg := range md.RowGroups {
		rows := s.rows[start : start+int(rg.NumRows)]
		start += int(rg.NumRows)
		for c, cc := range rg.Columns {
			col := strings.Join(cc.MetaData.PathInSchema, ".")
			if col != s.cols[c] {
				t.Fatalf("row group %d chunk %d is %s, the schema's column %s", gi, c, col, s.cols[c])
			}
			var vals [][]byte // the values in their statistics' encoding
			nulls := int64(0)
			for _, row := range rows {
				switch v := row[c].(type) {
				case nil:
					nulls++
				case []string:
					if len(v) == 0 {
						nulls++ // an empty list's one level is null
					}
					for _, e := range v {
						vals = append(vals, []byte(e))
					}
				default:
					vals = append(vals, statBytes(v))
				}
			}
			st := cc.MetaData.Statistics
			if st.NullCount != nulls {
				t.Errorf("row group %d column %s: null count %d, counted %d", gi, col, st.NullCount, nulls)
			}
			checkMinMax(t, fmt.Sprintf("row group %d column %s", gi, col), cc.MetaData.Type, strings.HasSuffix(col, "_v4"), st, vals)
		}
	}
}

// statBytes encodes a cell as Parquet statistics hold it (PLAIN).
func statBytes(v any) []byte {
	switch v := v.(type) {
	case string:
		return []byte(v)
	case [16]byte:
		return v[:]
	case int64:
		return binary.LittleEndian.AppendUint64(nil, uint64(v))
	case int32:
		return binary.LittleEndian.AppendUint32(nil, uint32(v))
	case uint32:
		return binary.LittleEndian.AppendUint32(nil, v)
	case float64:
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v))
	case bool:
		if v {
			return []byte{1}
		}
		return []byte{0}
	}
	panic(fmt.Sprintf("no statistics encoding for %T", v))
}

// checkMinMax checks a chunk's minimum and maximum against its values, in
// the column's sort order: signed for INT32/INT64 but the unsigned _v4
// keys, bytes for text.
func checkMinMax(t *testing.T, what string, typ format.Type, unsigned bool, st format.Statistics, vals [][]byte) {
	t.Helper()
	if len(st.MinValue) == 0 && len(st.MaxValue) == 0 {
		if len(vals) > 0 && typ != format.ByteArray {
			t.Errorf("%s: no min and max statistics", what)
		}
		return
	}
	if len(vals) == 0 {
		t.Errorf("%s: min and max statistics of no values", what)
		return
	}
	less := func(a, b []byte) int { return bytes.Compare(a, b) }
	switch typ {
	case format.Int64:
		less = func(a, b []byte) int {
			return cmp.Compare(int64(binary.LittleEndian.Uint64(a)), int64(binary.LittleEndian.Uint64(b)))
		}
	case format.Int32:
		if unsigned {
			less = func(a, b []byte) int {
				return cmp.Compare(binary.LittleEndian.Uint32(a), binary.LittleEndian.Uint32(b))
			}
			break
		}
		less = func(a, b []byte) int {
			return cmp.Compare(int32(binary.LittleEndian.Uint32(a)), int32(binary.LittleEndian.Uint32(b)))
		}
	}
	if typ == format.Double {
		less = func(a, b []byte) int {
			return cmp.Compare(math.Float64frombits(binary.LittleEndian.Uint64(a)), math.Float64frombits(binary.LittleEndian.Uint64(b)))
		}
	}
	lo, hi := slices.MinFunc(vals, less), slices.MaxFunc(vals, less)
	if typ == format.Double {
		// Parquet writes a zero minimum as -0.0 and a zero maximum as +0.0.
		if math.Float64frombits(binary.LittleEndian.Uint64(lo)) == 0 {
			lo = binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.Copysign(0, -1)))
		}
		if math.Float64frombits(binary.LittleEndian.Uint64(hi)) == 0 {
			hi = binary.LittleEndian.AppendUint64(nil, 0)
		}
	}
	if !bytes.Equal(st.MinValue, lo) || !bytes.Equal(st.MaxValue, hi) {
		t.Errorf("%s: statistics %s..%s, values %s..%s", what, show(st.MinValue), show(st.MaxValue), show(lo), show(hi))
	}
}

// checkDuckDB reads the segment with DuckDB's read_parquet, in file order,
// and compares each column with what parquet-go read (itself compared
// with the batch).
func checkDuckDB(t *testing.T, db *sql.DB, g *genBatch, s *readSeg, data []byte) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "segment.parquet")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, col := range s.cols {
		name := strings.TrimSuffix(col, ".list.element")
		e := `"` + name + `"`
		if f, ok := g.field(name); ok && g.schema.Fields[f].Type == interflow.Time {
			e = "epoch_us(" + e + ")" // microseconds, as written
		}
		exprs = append(exprs, e)
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM read_parquet(?, file_row_number = true) ORDER BY file_row_number"
	rows, err := db.Query(q, file)
	if err != nil {
		t.Fatalf("duckdb: %v", err)
	}
	defer rows.Close()
	dst := make([]any, len(exprs))
	ptrs := make([]any, len(exprs))
	for i := range dst {
		ptrs[i] = &dst[i]
	}
	pos := 0
	for ; rows.Next(); pos++ {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("duckdb row %d: %v", pos, err)
		}
		for c, v := range dst {
			got := fromDuckDB(v, s.rows[pos][c])
			if !reflect.DeepEqual(got, s.rows[pos][c]) {
				t.Fatalf("duckdb row %d column %s: %s, parquet-go and the batch %s", pos, s.cols[c], show(got), show(s.rows[pos][c]))
			}
		}
	}
	if err := rows.Err(); err != nil || pos != len(s.rows) {
		t.Fatalf("duckdb read %d rows of %d: %v", pos, len(s.rows), err)
	}
}

// fromDuckDB converts a DuckDB value to readCell's types (like, the
// value it is compared with, for the fixed-size keys).
func fromDuckDB(v, like any) any {
	switch v := v.(type) {
	case []byte:
		if _, ok := like.([16]byte); ok && len(v) == 16 {
			return [16]byte(v)
		}
		return string(v)
	case []any:
		l := []string{}
		for _, e := range v {
			s, _ := e.(string)
			l = append(l, s)
		}
		return l
	}
	return v
}
