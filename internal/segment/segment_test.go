package segment

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/trawlhq/trawl/internal/format/cloudtrail"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
)

func testRows(n int) *interflow.Batch {
	b := interflow.NewBatch(interflow.Events())
	for i := range n {
		r := interflow.New(interflow.Events())
		r.Stamp(interflow.Provenance{Tenant: "acme", Connector: "c", Bucket: "b", Key: "k", ETag: "e"}, int64(i), "cloudtrail", "paas")
		r.SetTime(interflow.FTimestamp, base.Add(time.Duration(n-i)*time.Second)) // reverse order: the writer sorts
		r.SetString(interflow.EEventName, []string{"GetObject", "PutObject", "ConsoleLogin"}[i%3])
		r.SetString(interflow.FSrcIP, []string{"10.0.0.1", "2001:db8::7", "192.0.2.9"}[i%3])
		r.SetBool(interflow.EReadOnly, i%2 == 0)
		r.SetInt(interflow.EResponseCode, int64(200+i%5))
		if i%4 == 0 {
			r.SetList(interflow.ELabels, []string{"awswaf:a", fmt.Sprintf("l%d", i)})
		}
		r.SetString(interflow.FRaw, fmt.Sprintf(`{"eventName":"%s","n":%d,"word":"w%d"}`, r.Value(interflow.EEventName), i, i))
		b.Append(r)
	}
	return b
}

// TestEncodeSharedSpans: dictionary columns whose values the batch shares
// (stable strings repeated in runs, more of them than buildDict's span
// cache holds, interleaved by the time sort) or copies (a reused buffer)
// read back exactly, nulls included.
func TestEncodeSharedSpans(t *testing.T) {
	b := interflow.NewBatch(interflow.Events())
	keys := make([]string, 600)
	for i := range keys {
		keys[i] = fmt.Sprintf("AWSLogs/1/CloudTrail/us-east-1/2024/05/01/object-%04d.json.gz", i)
	}
	r := interflow.New(interflow.Events())
	buf := []byte("Get0")
	for i := range 3000 {
		r.Reset()
		r.Stamp(interflow.Provenance{Tenant: "acme", Connector: "c", Bucket: "b", Key: keys[i/5%len(keys)], ETag: "e"}, int64(i), "cloudtrail", "paas")
		r.SetTime(interflow.FTimestamp, base.Add(time.Duration(i*7919%3000)*time.Second))
		buf[3] = byte('0' + i%3)
		r.SetBytes(interflow.EEventName, buf)
		if i%7 != 0 {
			r.SetString(interflow.EEventSource, keys[i%11])
		}
		b.Append(r)
	}
	dir := t.TempDir()
	lay := newLayout(interflow.Events())
	lay.rowGroup = 1000
	rows := sortedRows(b, nil)
	seg, err := lay.writeSegment(dir, "acme", b, rows, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	readsBackEqual(t, lay, filepath.Join(dir, seg.Path), b, rows)
}

// TestSegmentRoundTrip: a segment is sorted by time, readable by DuckDB
// (types, IP keys, lists, row group numbers) and by the segment reader.
func TestSegmentRoundTrip(t *testing.T) {
	dir := t.TempDir()
	lay := newLayout(interflow.Events())
	lay.rowGroup = 100
	b := testRows(250)
	rows := sortedRows(b, nil)
	seg, err := lay.writeSegment(dir, "acme", b, rows, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if seg.Rows != 250 || seg.RowGroups != 3 || !seg.MinTS.Equal(base.Add(time.Second)) || !seg.MaxTS.Equal(base.Add(250*time.Second)) {
		t.Fatalf("segment %+v", seg)
	}
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	file := filepath.Join(dir, seg.Path)
	var n, v4, v6, lists, rgs int
	var first time.Time
	err = db.QueryRow(`SELECT count(*), count(srcip_v4), count(srcip_v6), count(labels), count(DISTINCT rg), min("timestamp") FROM read_parquet(?)`, file).
		Scan(&n, &v4, &v6, &lists, &rgs, &first)
	if err != nil {
		t.Fatal(err)
	}
	if n != 250 || v4 != 167 || v6 != 83 || lists != 63 || rgs != 3 || !first.Equal(base.Add(time.Second)) {
		t.Errorf("duckdb reads n=%d v4=%d v6=%d lists=%d rgs=%d first=%v", n, v4, v6, lists, rgs, first)
	}
	var key uint32
	if err := db.QueryRow(`SELECT srcip_v4 FROM read_parquet(?) WHERE srcip = '10.0.0.1' LIMIT 1`, file).Scan(&key); err != nil || key != 10<<24|1 {
		t.Errorf("IPv4 key %d %v", key, err)
	}
	// Row groups are skipped by their rg statistics.
	var inRG int
	if err := db.QueryRow(`SELECT count(*) FROM read_parquet(?) WHERE rg = 1`, file).Scan(&inRG); err != nil || inRG != 100 {
		t.Errorf("rows in row group 1: %d %v", inRG, err)
	}
	readsBackEqual(t, lay, file, b, rows)
	filters, err := readTokenFilters(filepath.Join(dir, tokensRel(seg.Path)))
	if err != nil || len(filters) != 3 {
		t.Fatalf("token filters %d %v", len(filters), err)
	}
	// The record "w7" lies in the row group of its time order.
	pos := 0
	for i, r := range rows {
		if r == 7 {
			pos = i
		}
	}
	hits := 0
	for rg := range filters {
		if filters.mayHold(rg, []uint64{wordHash("w7")}) {
			hits++
			if rg != pos/100 {
				t.Logf("false positive in row group %d", rg)
			}
		}
	}
	if !filters.mayHold(pos/100, []uint64{wordHash("w7")}) || hits > 2 {
		t.Errorf("token filter for w7: row group %d, %d hits", pos/100, hits)
	}
	_ = context.Background()
}

// TestTokenHashesAgree: the indexing tokenizer (fast ASCII path) and the
// query's (query.Words) hash the same words.
func TestTokenHashesAgree(t *testing.T) {
	for _, s := range []string{`{"eventName":"GetObject","x":"AbC_12-ef"} 10.1.2.3`, "Déjà VU_2 ÜBER", "", "---", "a"} {
		tb := newTokenBuilder(1, 4096)
		tb.text([]byte(s))
		query.Words(s, func(w string) {
			if !tb.f.has(wordHash(w)) {
				t.Errorf("%q: word %q not in the filter", s, w)
			}
		})
	}
}

func BenchmarkEncodeEvents(b *testing.B) {
	rows := testRows(20000)
	lay := newLayout(interflow.Events())
	sorted := sortedRows(rows, nil)
	b.SetBytes(rawBytes(rows))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var buf bytes.Buffer
		if _, err := lay.encode(&buf, rows, sorted); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// rawBytes is the size of the rows' raw text, what an encode benchmark
// reports as its bytes.
func rawBytes(rows *interflow.Batch) int64 {
	var n int64
	for i := 0; i < rows.Len(); i++ {
		n += int64(len(rows.StrBytes(interflow.FRaw, i)))
	}
	return n
}

// cloudTrailRows decodes generated CloudTrail objects into a batch.
func cloudTrailRows(tb testing.TB, n int) *interflow.Batch {
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 1, Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"}, Start: base,
		Span: time.Hour, Objects: max(1, n/4000), RecordsPerObj: min(n, 4000), PadBytes: 500})
	b := interflow.NewBatchSize(interflow.Events(), n)
	rec := interflow.New(interflow.Events())
	var norm cloudtrail.Normalizer
	for _, o := range objs {
		zr, _ := gzip.NewReader(bytes.NewReader(o.Body))
		rd := cloudtrail.NewReader(zr)
		for pos := int64(0); ; pos++ {
			raw, err := rd.Next()
			if err != nil {
				break
			}
			rec.Reset()
			rec.Stamp(interflow.Provenance{Tenant: "acme", Connector: "c", Bucket: "b", Key: o.Key, ETag: "e"}, pos, "cloudtrail", "paas")
			if err := norm.Normalize(raw, rec); err != nil {
				tb.Fatal(err)
			}
			b.Append(rec)
		}
	}
	return b
}

func BenchmarkEncodeCloudTrail(b *testing.B) {
	rows := cloudTrailRows(b, 20000)
	lay := newLayout(interflow.Events())
	sorted := sortedRows(rows, nil)
	b.SetBytes(rawBytes(rows))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := lay.forBatch(rows).encode(io.Discard, rows, sorted); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows.Len()*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkEncodeTraffic(b *testing.B) {
	rows := interflow.NewBatchSize(interflow.Traffic(), 65536)
	r := interflow.New(interflow.Traffic())
	for i := 0; i < 65536; i++ {
		r.Reset()
		r.Stamp(interflow.Provenance{Tenant: "acme", Connector: "c", Bucket: "b", Key: "AWSLogs/1/vpcflowlogs/us-east-1/2024/05/01/x.log.gz", ETag: "e"}, int64(i), "vpcflow", "paas")
		r.SetTime(interflow.FTimestamp, base.Add(time.Duration(i)*time.Millisecond))
		r.SetString(interflow.FSrcIP, fmt.Sprintf("10.0.%d.%d", i/256%256, i%256))
		r.SetString(interflow.TDstIP, "172.16.0.1")
		r.SetInt(interflow.TSrcPort, int64(i%60000))
		r.SetInt(interflow.TDstPort, 443)
		r.SetInt(interflow.TProtocol, 6)
		r.SetString(interflow.TProtoName, "tcp")
		r.SetInt(interflow.TBytes, int64(i*7%100000))
		r.SetInt(interflow.TPackets, int64(i%100))
		r.SetString(interflow.FAction, "ACCEPT")
		r.SetString(interflow.TLogStatus, "OK")
		r.SetString(interflow.TInterfaceID, "eni-0123456789abcdef0")
		r.SetString(interflow.FAccountID, "123456789012")
		r.SetInt(interflow.TVersion, 2)
		r.SetTime(interflow.TStart, base)
		r.SetTime(interflow.TEnd, base)
		r.SetString(interflow.FRaw, fmt.Sprintf("2 123456789012 eni-0123456789abcdef0 10.0.%d.%d 172.16.0.1 %d 443 6 %d %d 1700000000 1700000060 ACCEPT OK", i/256%256, i%256, i%60000, i%100, i*7%100000))
		rows.Append(r)
	}
	lay := newLayout(interflow.Traffic())
	sorted := sortedRows(rows, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := lay.forBatch(rows).encode(io.Discard, rows, sorted); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows.Len()*b.N)/b.Elapsed().Seconds(), "rows/s")
}

var update = flag.Bool("update", false, "rewrite docs/lake.md")

func TestLakeDocInStep(t *testing.T) {
	const path = "../../docs/lake.md"
	if *update {
		if err := os.WriteFile(path, []byte(Markdown()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != Markdown() {
		t.Error("docs/lake.md is out of date: run go test ./internal/segment -update")
	}
}

// TestSegmentEncodingEdges: the encoder's less common paths read back
// equal through DuckDB and the segment reader: a dictionary that passes
// its limit (written plain), a row group where a used column is all null,
// lists (an empty one is absent), pages split inside a row group, and row group
// statistics that match the values.
func TestSegmentEncodingEdges(t *testing.T) {
	dir := t.TempDir()
	lay := newLayout(interflow.Events())
	lay.rowGroup = 40000
	const n = 80000
	b := interflow.NewBatchSize(interflow.Events(), n)
	for i := range n {
		r := interflow.New(interflow.Events())
		r.Stamp(interflow.Provenance{Tenant: "acme", Connector: "c", Bucket: "b", Key: "k", ETag: "e"}, int64(i), "cloudtrail", "paas")
		r.SetTime(interflow.FTimestamp, base.Add(time.Duration(i)*time.Millisecond))
		r.SetString(interflow.EEventName, fmt.Sprintf("Event%06d", i)) // 40,000 distinct per row group
		if i >= 40000 {
			r.SetString(interflow.EErrorCode, "AccessDenied") // null in the first row group
			r.SetString(interflow.FSrcIP, fmt.Sprintf("10.1.%d.%d", i/256%256, i%256))
		}
		switch i % 3 {
		case 0:
			r.SetList(interflow.ELabels, []string{"a", fmt.Sprintf("l%d", i)})
		case 1:
			r.SetList(interflow.ELabels, []string{})
		}
		r.SetBool(interflow.EReadOnly, i%5 == 0)
		r.SetString(interflow.FRaw, fmt.Sprintf(`{"n":%d,"pad":"%0100d"}`, i, i)) // > 1 MiB per row group
		b.Append(r)
	}
	rows := sortedRows(b, nil)
	seg, err := lay.writeSegment(dir, "acme", b, rows, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, seg.Path)
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var cnt, names, errs, ro, lists, empty int
	err = db.QueryRow(`SELECT count(*), count(DISTINCT event_name), count(error_code), count(*) FILTER (read_only),
		count(labels), count(*) FILTER (len(labels) = 0) FROM read_parquet(?)`, file).Scan(&cnt, &names, &errs, &ro, &lists, &empty)
	if err != nil {
		t.Fatal(err)
	}
	if cnt != n || names != n || errs != 40000 || ro != n/5 || lists != 26667 || empty != 0 {
		t.Errorf("duckdb reads count=%d names=%d errors=%d read_only=%d lists=%d empty=%d", cnt, names, errs, ro, lists, empty)
	}
	// Statistics: the first row group's time range and the second's
	// address keys, as DuckDB reads them.
	var tmin, tmax string
	if err := db.QueryRow(`SELECT stats_min_value, stats_max_value FROM parquet_metadata(?) WHERE row_group_id = 0 AND path_in_schema = 'timestamp'`, file).Scan(&tmin, &tmax); err != nil {
		t.Fatal(err)
	}
	if want := base.Format("2006-01-02 15:04:05") + "+00"; tmin != want {
		t.Errorf("row group 0 time min %s, want %s", tmin, want)
	}
	var kmin, kmax string
	if err := db.QueryRow(`SELECT stats_min_value, stats_max_value FROM parquet_metadata(?) WHERE row_group_id = 1 AND path_in_schema = 'srcip_v4'`, file).Scan(&kmin, &kmax); err != nil {
		t.Fatal(err)
	}
	if kmin != fmt.Sprint(10<<24|1<<16) || kmax != fmt.Sprint(10<<24|1<<16|255<<8|255) {
		t.Errorf("srcip_v4 statistics %s..%s", kmin, kmax)
	}
	var chunks int
	if err := db.QueryRow(`SELECT count(*) FROM parquet_metadata(?) WHERE path_in_schema = 'raw'`, file).Scan(&chunks); err != nil || chunks != 2 {
		t.Errorf("raw chunks %d %v", chunks, err)
	}
	readsBackEqual(t, lay, file, b, rows)
}

// readsBackEqual reads a segment back with the segment reader and checks
// every field of every row equals the batch's, in the segment's order.
func readsBackEqual(t *testing.T, lay *layout, file string, b *interflow.Batch, rows []int32) {
	t.Helper()
	back := interflow.NewBatch(interflow.Events())
	if err := lay.readSegment(file, "acme", back); err != nil {
		t.Fatal(err)
	}
	if back.Len() != len(rows) {
		t.Fatalf("read back %d rows, want %d", back.Len(), len(rows))
	}
	for i, r := range rows {
		want, got := b.Row(int(r)), back.Row(i)
		for f := range interflow.Events().Fields {
			if !reflect.DeepEqual(want.Value(f), got.Value(f)) {
				t.Fatalf("row %d field %s: %v != %v", i, interflow.Events().Fields[f].Name, got.Value(f), want.Value(f))
			}
		}
	}
}

// A segment's columns carry the field ids of the table format, so the
// segments are an Iceberg table's data files as written; its token
// filters are in the sidecar tree, not beside it; nothing staged remains.
func TestSegmentFieldIDsAndSidecar(t *testing.T) {
	dir := t.TempDir()
	lay := newLayout(interflow.Events())
	b := testRows(20)
	seg, err := lay.writeSegment(dir, "acme", b, sortedRows(b, nil), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, pf, err := openSegmentFile(filepath.Join(dir, seg.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[string]int32{}
	for _, e := range pf.Metadata().Schema {
		ids[e.Name] = e.FieldID
	}
	s := interflow.Events()
	ts, _ := s.Lookup("timestamp")
	if ids["timestamp"] != int32(s.FieldID(ts)) || ids["id"] != int32(s.FieldID(interflow.FID)) || ids["rg"] != 0 || ids["srcip_v4"] != 0 {
		t.Errorf("field ids %v", ids)
	}
	if _, err := os.Stat(filepath.Join(dir, tokensRel(seg.Path))); err != nil {
		t.Error(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(filepath.Join(dir, seg.Path)))
	if len(entries) != 1 || entries[0].Name() != seg.ID+".parquet" {
		t.Errorf("the segment's folder holds %v", entries)
	}
}
