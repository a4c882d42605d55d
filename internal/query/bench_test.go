package query

import "testing"

func BenchmarkParse(b *testing.B) {
	q := `event_name:(CreateUser OR AttachUserPolicy) AND srcip:185.220.0.0/16 AND NOT error_code:* "access denied" bytes:[1 TO 1024]`
	b.SetBytes(int64(len(q)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(q); err != nil {
			b.Fatal(err)
		}
	}
}
