package interflow

import (
	"flag"
	"math"
	"os"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite docs/interflow.md")

func TestDocInSync(t *testing.T) {
	const path = "../../docs/interflow.md"
	want := Markdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Error("docs/interflow.md is out of date: run go test ./internal/interflow -update")
	}
}

func TestSchemasComplete(t *testing.T) {
	for _, s := range Schemas() {
		// Record and Batch mark present fields in two 64-bit words.
		if len(s.Fields) > 128 {
			t.Errorf("%s has %d fields: Record's bitsets (set, vol) and Batch's hold 128; widen them before adding more", s.Index, len(s.Fields))
		}
		seen := map[string]bool{}
		for i, f := range s.Fields {
			if f.Name == "" || f.Source == "" {
				t.Errorf("%s: field %d has no name or source", s.Index, i)
			}
			if seen[f.Name] {
				t.Errorf("%s: duplicate field %s", s.Index, f.Name)
			}
			seen[f.Name] = true
		}
		for _, must := range []string{"timestamp", "tenant", "connector", "index", "msg_class", "msg_origin.source", "msg_origin.vendor",
			"msg_origin.category", "cloud.account_id", "cloud.region", "srcip", "origin.bucket", "origin.key", "raw", "id"} {
			if !seen[must] {
				t.Errorf("%s lacks %s", s.Index, must)
			}
		}
	}
	for _, must := range []string{"event_name", "event_source", "event_type", "event_id", "user.type", "user.name", "user.arn", "user_agent", "error_code", "error_message", "read_only"} {
		if _, ok := Events().Lookup(must); !ok {
			t.Errorf("aws_events lacks %s", must)
		}
	}
}

func TestIDDeterministic(t *testing.T) {
	p := Provenance{Bucket: "b", Key: "k", ETag: "e"}
	if ID(p, 1) != ID(p, 1) || ID(p, 1) == ID(p, 2) {
		t.Error("ID must be stable per position and differ across positions")
	}
	q := p
	q.ETag = "other"
	if ID(p, 1) == ID(q, 1) {
		t.Error("ID must depend on the object version")
	}
	noTag := Provenance{Bucket: "b", Key: "k", Size: 10, LastModified: time.Unix(100, 0)}
	if noTag.ObjectVersion() == "" || ID(noTag, 0) == ID(Provenance{Bucket: "b", Key: "k", Size: 11, LastModified: time.Unix(100, 0)}, 0) {
		t.Error("without an ETag the version comes from size and time")
	}
}

func TestIPKeyOrder(t *testing.T) {
	if !(IPKey("10.0.0.1") < IPKey("10.0.0.2") && IPKey("9.255.255.255") < IPKey("10.0.0.0") && IPKey("10.0.0.0") < IPKey("2001:db8::")) {
		t.Error("IP keys must sort like addresses")
	}
	if IPKey("nope") != "" {
		t.Error("invalid address must give no key")
	}
}

// An object's IDs maker gives ID's values at every position, whatever the
// length of the position's digits, and reusing it does not leak one
// position into the next.
func TestIDsMatchID(t *testing.T) {
	p := Provenance{Bucket: "b", Key: "AWSLogs/1/CloudTrail/us-east-1/2024/05/01/x.json.gz", ETag: "\"abc\""}
	ids := NewIDs(p)
	for _, pos := range []int64{0, 7, 123456789012, 3, 10, 99} {
		if got, want := ids.ID(pos), ID(p, pos); got != want {
			t.Fatalf("position %d: %s, want %s", pos, got, want)
		}
	}
	if ids.ID(1) == ids.ID(2) {
		t.Fatal("two positions share an ID")
	}
	// A change of scheme gives a re-collected object's records other IDs
	// than the ones stored: make it on purpose (as the object-prefix
	// scheme did), never by accident.
	if got := ID(Provenance{Bucket: "b", Key: "k", ETag: "e"}, 5); got != "7a8b53ac1b3c0576c57d000000000005" {
		t.Fatalf("ID changed: %s", got)
	}
	if got := ids.ID(123456789012); got[20:] != "001cbe991a14" || len(got) != 32 {
		t.Fatalf("position 123456789012 gives %s", got)
	}
}

// TestFloatField: a double field keeps its value exactly through Record
// and Batch, reads as float64 (Value, Float), is refused by the other
// typed getters, and leaves NaN and the infinities absent (JSON has no
// such numbers and the lake could not compare them).
func TestFloatField(t *testing.T) {
	r := New(Events())
	r.SetFloat(EFindingSeverity, 7.5)
	if v, ok := r.Float(EFindingSeverity); !ok || v != 7.5 {
		t.Errorf("Float = %v, %v", v, ok)
	}
	if v := r.Value(EFindingSeverity); v != 7.5 {
		t.Errorf("Value = %v (%T)", v, v)
	}
	if _, ok := r.Int(EFindingSeverity); ok {
		t.Error("Int reads a double field")
	}
	b := NewBatch(Events())
	b.Append(r)
	if v := b.Row(0).Value(EFindingSeverity); v != 7.5 {
		t.Errorf("through a batch: %v", v)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		r := New(Events())
		r.SetFloat(EFindingSeverity, bad)
		r.Set(EFindingCount, int64(1))
		if r.Has(EFindingSeverity) {
			t.Errorf("%v stored", bad)
		}
	}
	r.Set(EFindingSeverity, math.NaN())
	if r.Has(EFindingSeverity) {
		t.Error("Set(NaN) left the old value")
	}
}
