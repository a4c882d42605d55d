package interflow

import (
	"strings"
	"testing"
	"time"
)

func BenchmarkBatchAppend(b *testing.B) {
	r := New(Events())
	r.Stamp(Provenance{Tenant: "t", Connector: "c", Bucket: "b", Key: "AWSLogs/123/CloudTrail/us-east-1/2024/05/01/x.json.gz", ETag: "e"}, 1, "cloudtrail", "paas")
	r.SetTime(FTimestamp, time.Now())
	raw := strings.Repeat("x", 1300)
	r.SetString(FRaw, raw)
	for _, f := range []int{EEventName, EEventSource, EEventType, EEventID, EUserARN, EUserName, EUserAgent, ERequestID, FRegion, FAccountID} {
		r.SetString(f, "some-value-of-a-field")
	}
	batch := NewBatch(Events())
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if batch.Len() == 20000 {
			batch.Reset()
		}
		batch.Append(r)
	}
}

// TestBatchArenaChunks: values that straddle chunks, values larger than a
// chunk, and unused columns read back exactly; Reset reuses memory.
func TestBatchArenaChunks(t *testing.T) {
	b := NewBatchSize(Events(), 8)
	var want []string
	for i := 0; i < 40; i++ {
		r := New(Events())
		v := strings.Repeat(string(rune('a'+i%26)), 100000+i*7919)
		if i == 20 {
			v = strings.Repeat("Z", 3*chunkSize+5)
		}
		r.SetString(FRaw, v)
		if i%3 == 0 {
			r.SetString(EEventName, "n")
		}
		b.Append(r)
		want = append(want, v)
	}
	for round := 0; round < 2; round++ {
		for i, w := range want {
			if got := string(b.StrBytes(FRaw, i)); got != w {
				t.Fatalf("round %d row %d: %d bytes, want %d", round, i, len(got), len(w))
			}
			if b.Has(EEventName, i) != (i%3 == 0) || b.Has(EErrorCode, i) || b.Used(EErrorCode) {
				t.Fatalf("row %d: presence wrong", i)
			}
		}
		chunks := len(b.cols[FRaw].chunks)
		b.Reset()
		for i, w := range want {
			r := New(Events())
			r.SetString(FRaw, w)
			if i%3 == 0 {
				r.SetString(EEventName, "n")
			}
			b.Append(r)
		}
		if len(b.cols[FRaw].chunks) != chunks {
			t.Fatalf("reset did not reuse the arena: %d chunks, then %d", chunks, len(b.cols[FRaw].chunks))
		}
	}
}

// TestBatchSharesStableSpans: a stable value (a Go string) repeated by the
// next row shares its span; a value that points into a reused buffer
// (SetBytes) is copied every time, even at the same address, as is one
// copied from such a field; Reset forgets the shared span.
func TestBatchSharesStableSpans(t *testing.T) {
	b := NewBatchSize(Events(), 8)
	r := New(Events())
	key := strings.Repeat("k", 40)
	buf := []byte("ACCEPT")
	for i := range 4 {
		r.Reset()
		r.SetString(FRaw, key)
		copy(buf, []string{"ACCEPT", "REJECT"}[i%2])
		r.SetBytes(FAction, buf)
		r.Copy(EEventName, FAction)
		b.Append(r)
	}
	for i := range 4 {
		want := []string{"ACCEPT", "REJECT"}[i%2]
		if got := string(b.StrBytes(FAction, i)); got != want {
			t.Fatalf("row %d: action %q, want %q (a buffer's value was shared)", i, got, want)
		}
		if got := string(b.StrBytes(EEventName, i)); got != want {
			t.Fatalf("row %d: copied field %q, want %q", i, got, want)
		}
		if string(b.StrBytes(FRaw, i)) != key || b.TextStart(FRaw, i) != b.TextStart(FRaw, 0) {
			t.Fatalf("row %d: the repeated key is not shared (start %d)", i, b.TextStart(FRaw, i))
		}
	}
	if b.TextStart(FAction, 1) == b.TextStart(FAction, 3) {
		t.Fatal("two SetBytes values share a span")
	}
	// The key once, eight action texts (four rows, two fields), and 9
	// bytes a row for each of the three columns.
	if want := int64(len(key) + 8*6 + 4*3*9); b.Bytes() != want {
		t.Fatalf("the batch counts %d bytes, want %d (the key copied per row?)", b.Bytes(), want)
	}
	b.Reset()
	r.Reset()
	r.SetString(FAction, "DENY")
	b.Append(r)
	r.SetString(FRaw, key)
	b.Append(r)
	if string(b.StrBytes(FRaw, 1)) != key || string(b.StrBytes(FAction, 0)) != "DENY" {
		t.Fatalf("after Reset: %q %q", b.StrBytes(FRaw, 1), b.StrBytes(FAction, 0))
	}
}

// BenchmarkBatchAppendFlows: VPC flow-like records, whose texts (addresses,
// the line) change every row and are set as bytes.
func BenchmarkBatchAppendFlows(b *testing.B) {
	recs := make([]*Record, 64)
	for i := range recs {
		r := New(Traffic())
		r.Stamp(Provenance{Tenant: "t", Connector: "c", Bucket: "b", Key: "AWSLogs/123/vpcflowlogs/us-east-1/2024/05/01/x.log.gz", ETag: "e"}, int64(i), "vpcflow", "paas")
		r.SetTime(FTimestamp, time.Unix(1700000000+int64(i), 0))
		line := []byte("2 123456789012 eni-0a1b2c3d 10.0.0." + strings.Repeat("1", 1+i%3) + " 172.16.4.9 44321 443 6 10 840 1700000000 1700000060 ACCEPT OK")
		r.SetBytes(FRaw, line)
		r.SetBytes(FSrcIP, line[27:35])
		r.SetBytes(TDstIP, []byte("172.16.4.9"))
		r.SetBytes(TInterfaceID, line[15:26])
		r.SetString(FAccountID, "123456789012")
		r.SetString(FAction, "ACCEPT")
		r.SetString(TLogStatus, "OK")
		r.SetString(TProtoName, "tcp")
		for _, f := range []int{TSrcPort, TDstPort, TProtocol, TPackets, TBytes, TVersion} {
			r.SetInt(f, int64(i*7+f))
		}
		recs[i] = r
	}
	batch := NewBatch(Traffic())
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if batch.Len() == 20000 {
			batch.Reset()
		}
		batch.Append(recs[i&63])
	}
}
