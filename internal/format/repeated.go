package format

import "github.com/trawlhq/trawl/internal/interflow"

// Repeated keeps the last values of one text field of a line format
// (ALB's, VPC flow's, S3 server access logs'): a value that repeats from
// the lines before (the account, an action, a status) is set as the one
// string kept for it, which the lake's batch stores once and its encoder
// knows without comparing bytes; a field whose values mostly change (user
// agents of a busy site) gives up keeping them and points into the line
// instead. The zero value keeps four values; Wide keeps eight.
type Repeated struct {
	Wide             bool
	last             [8]string
	next             int
	repeats, changes int
}

// Set sets field of rec to v, as the kept string when v repeats one.
func (t *Repeated) Set(rec *interflow.Record, field int, v []byte) {
	keep := t.last[:4]
	if t.Wide {
		keep = t.last[:]
	}
	for _, s := range keep {
		if len(s) == len(v) && string(v) == s {
			t.repeats++
			rec.SetString(field, s)
			return
		}
	}
	t.changes++
	if t.changes > 64 && t.repeats*4 < t.changes {
		rec.SetBytes(field, v)
		return
	}
	s := string(v)
	keep[t.next%len(keep)] = s
	t.next++
	rec.SetString(field, s)
}
