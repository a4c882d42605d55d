package format

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/trawlhq/trawl/internal/interflow"
)

// TestRepeated: a value seen among the last kept ones is set as the very
// string kept (the batch stores it once), and a field whose values keep
// changing stops keeping them; Wide keeps eight values where the zero
// value keeps four.
func TestRepeated(t *testing.T) {
	rec := interflow.New(interflow.Events())
	f := interflow.FTenant
	str := func() string { s, _ := rec.Str(f); return s }
	var r Repeated
	r.Set(rec, f, []byte("ACCEPT"))
	kept := str()
	r.Set(rec, f, []byte("ACCEPT"))
	if s := str(); s != "ACCEPT" || unsafe.StringData(s) != unsafe.StringData(kept) {
		t.Fatalf("a repeated value is not the kept string")
	}
	for i := range 5 { // five others push ACCEPT out of four slots
		r.Set(rec, f, []byte(fmt.Sprint("v", i)))
	}
	r.Set(rec, f, []byte("ACCEPT"))
	if unsafe.StringData(str()) == unsafe.StringData(kept) {
		t.Fatalf("four slots kept a fifth value")
	}
	w := Repeated{Wide: true}
	w.Set(rec, f, []byte("ACCEPT"))
	kept = str()
	for i := range 7 {
		w.Set(rec, f, []byte(fmt.Sprint("v", i)))
	}
	w.Set(rec, f, []byte("ACCEPT"))
	if unsafe.StringData(str()) != unsafe.StringData(kept) {
		t.Fatalf("eight slots lost a value seven others followed")
	}
	var c Repeated
	for i := range 100 {
		c.Set(rec, f, []byte(fmt.Sprint("u", i)))
		if str() != fmt.Sprint("u", i) {
			t.Fatalf("value %d: %q", i, str())
		}
	}
	if c.changes != 100 || c.next != 64 {
		t.Fatalf("changes %d, kept %d: a field whose values keep changing stops keeping them after 64", c.changes, c.next)
	}
}
