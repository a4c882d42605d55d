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
