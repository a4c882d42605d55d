package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/trawlhq/trawl/internal/interflow"
)

// The segment encoder's property test and fuzz target share this batch
// generator. Every choice it makes goes through a chooser, which reads
// either the fuzz engine's bytes or a seeded generator, so one decoder
// turns both into batches: any input is a valid batch, and a failing
// seed or input replays exactly.

// chooser supplies the generator's choices.
type chooser struct {
	data []byte     // fuzz input, consumed from the front; zeros after its end
	rng  *rand.Rand // when set, the choices are its (the property test)
}

// intn returns a choice in [0, n).
func (c *chooser) intn(n int) int {
	if n <= 1 {
		return 0
	}
	if c.rng != nil {
		return c.rng.IntN(n)
	}
	v := 0
	for k := n - 1; k > 0; k >>= 8 { // as many bytes as n needs
		v <<= 8
		if len(c.data) > 0 {
			v |= int(c.data[0])
			c.data = c.data[1:]
		}
	}
	return v % n
}

func (c *chooser) u64() uint64 {
	if c.rng != nil {
		return c.rng.Uint64()
	}
	var v uint64
	for range 8 {
		v = v<<8 | uint64(c.intn(256))
	}
	return v
}

// genLimits bound a generated batch.
type genLimits struct {
	maxRows  int
	hugeMax  int  // the largest text value, bytes
	huge     int  // how many huge values a batch may hold (memory and time)
	utf8Only bool // text is valid UTF-8 (what DuckDB accepts, and what collect lets into the lake)
	// tall makes a batch of about maxRows rows in one row group: more
	// rows than a page holds of integers (131,072) or dictionary indexes
	// (262,144), pages that the page's bytes do not end.
	tall bool
}

// genBatch is a generated batch and what it holds, recorded as the
// generator meant it (not read back from the batch): want[row][field] is
// nil (absent), a string, an int64 (integers and times), a float64, a bool
// or a []string.
type genBatch struct {
	schema   *interflow.Schema
	b        *interflow.Batch
	want     [][]any
	rowGroup int
}

// colPlan is how one column's values are drawn.
type colPlan struct {
	nulls int // in sixteenths of the rows
	mode  int
	pool  []string // stable strings a text column repeats
	buf   []byte   // reused by the column's SetBytes values, which the batch must copy
	huge  *int     // the batch's huge values left
}

const (
	textConst = iota
	textFew
	textMany
	textDistinct
	textBytes
	textHuge
	textMixed
	numTextModes
)

func generate(c *chooser, lim genLimits) *genBatch {
	s := interflow.Events()
	if c.intn(4) == 0 {
		s = interflow.Traffic() // no list column, more integers and addresses
	}
	// Tiny to large; the large reach past the 2,048 distinct values at
	// which a dictionary gives up.
	n := 1 + c.intn([]int{8, 100, 1000}[c.intn(3)])
	if c.intn(4) == 0 {
		n = lim.maxRows/2 + c.intn(lim.maxRows/2+1)
	}
	rowGroup := []int{1, 2, 3, 7, 64, 1000, 4096, 16384, 65536, lim.maxRows}[c.intn(10)]
	n = min(n, rowGroup*40) // thousands of row groups would only be slow to read
	if lim.tall {
		n, rowGroup = lim.maxRows-c.intn(lim.maxRows/10), lim.maxRows
	}
	g := &genBatch{schema: s, b: interflow.NewBatchSize(s, n), want: make([][]any, n), rowGroup: rowGroup}
	plans := make([]*colPlan, len(s.Fields))
	huge := lim.huge
	for f := range s.Fields {
		if f == interflow.FTimestamp || !partitionField(f) && c.intn(3) != 0 {
			plans[f] = planColumn(c, lim)
			plans[f].huge = &huge
		}
	}
	day := int64(19844 + c.intn(200) - 100) // days around 2024
	if c.intn(8) == 0 {
		day = -int64(c.intn(30000)) // before 1970: negative microseconds
	}
	r := interflow.New(s)
	for i := range n {
		r.Reset()
		g.want[i] = make([]any, len(s.Fields))
		for f, p := range plans {
			if p == nil || f != interflow.FTimestamp && c.intn(16) < p.nulls {
				continue
			}
			g.want[i][f] = genValue(c, lim, s.Fields[f].Type, f, p, r, i, day)
		}
		g.b.Append(r)
	}
	return g
}

func planColumn(c *chooser, lim genLimits) *colPlan {
	p := &colPlan{nulls: []int{0, 0, 1, 8, 15, 16}[c.intn(6)], mode: c.intn(numTextModes)}
	k := []int{1, 2 + c.intn(30), 257 + c.intn(400)}[min(p.mode, 2)]
	if c.intn(3) == 0 {
		// Prefixes of one string share its address: the batch must tell
		// them apart by length.
		whole := genText(c, lim, 8+k)
		for j := 1; j <= len(whole) && len(p.pool) < k; j++ {
			if j == len(whole) || !lim.utf8Only || utf8.RuneStart(whole[j]) {
				p.pool = append(p.pool, whole[:j])
			}
		}
	}
	for len(p.pool) < k {
		p.pool = append(p.pool, genText(c, lim, 1+c.intn(24)))
	}
	return p
}

// genValue sets field f of r to a value drawn by the plan, and returns
// what the field then holds.
func genValue(c *chooser, lim genLimits, typ interflow.Type, f int, p *colPlan, r *interflow.Record, row int, day int64) any {
	switch typ {
	case interflow.Bool:
		v := c.intn(2) == 1
		r.SetBool(f, v)
		return v
	case interflow.Int, interflow.Time:
		v := genInt(c, p.mode, row, typ == interflow.Time)
		if f == interflow.FTimestamp {
			v = day*86400e6 + int64(c.intn(86400e6))
			if c.intn(4) == 0 {
				v = day*86400e6 + int64(c.intn(3)) // ties, at the day's start
			}
		}
		r.SetInt(f, v)
		return v
	case interflow.Float:
		v := genFloat(c, p.mode)
		r.SetFloat(f, v)
		return v
	case interflow.Strings:
		l := genList(c, lim, p)
		r.SetList(f, l)
		if len(l) == 0 {
			return nil // Record keeps an empty list absent
		}
		return slices.Clone(l)
	}
	var s string
	if typ == interflow.IP && c.intn(4) != 0 {
		s = genIP(c)
	} else {
		s = genString(c, lim, p)
	}
	if s == "" {
		return nil // Record keeps empty text absent
	}
	if c.intn(2) == 0 {
		r.SetString(f, s) // stable: a repeat shares the batch's span
	} else {
		p.buf = append(p.buf[:0], s...)
		r.SetBytes(f, p.buf) // volatile: the batch copies it
	}
	return s
}

// genInt draws an integer: small, constant, counting, anything, or the
// extremes that overflow DELTA_BINARY_PACKED's deltas. Times stay within
// what DuckDB converts.
func genInt(c *chooser, mode, row int, isTime bool) int64 {
	var v int64
	switch mode % 5 {
	case 0:
		v = 42
	case 1:
		v = int64(c.intn(100)) - 50
	case 2:
		v = int64(row) * 1_000_003
	case 3:
		v = int64(c.u64())
	default:
		v = []int64{math.MinInt64, math.MaxInt64, 0, -1, 1, math.MinInt64 + 1, math.MaxInt32, math.MinInt32}[c.intn(8)]
	}
	if isTime {
		v %= 1 << 56 // about ±2.3 million years
	}
	return v
}

// genFloat draws a finite double: a constant, a severity such as GuardDuty
// writes (one decimal), any finite bits, or the extremes and both zeros.
func genFloat(c *chooser, mode int) float64 {
	switch mode % 4 {
	case 0:
		return 42.5
	case 1:
		return float64(c.intn(101)) / 10
	case 2:
		for {
			if v := math.Float64frombits(c.u64()); !math.IsNaN(v) && !math.IsInf(v, 0) {
				return v
			}
		}
	}
	return []float64{math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 0, math.Copysign(0, -1), -1.5}[c.intn(6)]
}

func genList(c *chooser, lim genLimits, p *colPlan) []string {
	n := c.intn([]int{2, 4, 20}[c.intn(3)])
	l := make([]string, n)
	for j := range l {
		switch c.intn(6) {
		case 0:
			l[j] = "" // an empty element, not a null
		case 1:
			if j > 0 {
				l[j] = l[j-1] // duplicates keep their place
			}
		default:
			l[j] = genString(c, lim, p)
		}
	}
	return l
}

func genString(c *chooser, lim genLimits, p *colPlan) string {
	mode := p.mode
	if mode == textMixed {
		mode = c.intn(textMixed)
	}
	switch mode {
	case textConst, textFew, textMany:
		return p.pool[c.intn(len(p.pool))]
	case textDistinct:
		// Unique per row: more than 2,048 of them in a row group make the
		// dictionary give up (plain encoding).
		return fmt.Sprintf("d%016x", c.u64())
	case textBytes:
		return genText(c, lim, c.intn(40))
	}
	if c.intn(4) != 0 || lim.hugeMax == 0 || *p.huge <= 0 {
		return genText(c, lim, c.intn(16))
	}
	*p.huge--
	// Huge: two of them pass a dictionary's 1 MiB, four a page's.
	n := lim.hugeMax/2 + c.intn(lim.hugeMax/2+1)
	head := genText(c, lim, 8)
	return head + strings.Repeat(string(rune('a'+c.intn(26))), n-len(head))
}

// genText draws up to n bytes: arbitrary ones, or valid UTF-8 (some of
// it multi-byte) under utf8Only.
func genText(c *chooser, lim genLimits, n int) string {
	b := make([]byte, 0, n)
	for len(b) < n {
		if !lim.utf8Only {
			b = append(b, byte(c.intn(256)))
			continue
		}
		r := []rune{rune('a' + c.intn(26)), rune('0' + c.intn(10)), 'é', '€', '😀', ' ', '"', '\\'}[c.intn(8)]
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// genIP draws an address's text: IPv4, IPv6, IPv4-mapped IPv6 (an IPv4
// key), with a zone, or not an address at all (no key).
func genIP(c *chooser) string {
	var a16 [16]byte
	for i := range a16 {
		a16[i] = byte(c.intn(256))
	}
	a4 := [4]byte{a16[0], a16[1], a16[2], a16[3]}
	switch c.intn(8) {
	case 0, 1:
		return netip.AddrFrom4(a4).String()
	case 2, 3:
		return netip.AddrFrom16(a16).String()
	case 4:
		return "::ffff:" + netip.AddrFrom4(a4).String()
	case 5:
		return "fe80::" + fmt.Sprint(a16[0]) + "%eth0"
	case 6:
		return []string{"0.0.0.0", "255.255.255.255", "::", "::1", "10.0.0.1", "2001:db8::1"}[c.intn(6)]
	}
	return []string{"1.2.3", "1.2.3.4.5", "01.2.3.4", "::g", "not-an-ip", "1.2.3.4 "}[c.intn(6)]
}

// ipKeys are the key columns' values the lake documents for an address's
// text: IPv4 as an unsigned 32-bit integer, IPv6 as 16 bytes, nil for the
// other family or a text that does not parse.
func ipKeys(text string) (v4, v6 any) {
	a, err := netip.ParseAddr(text)
	if err != nil {
		return nil, nil
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
	}
	return nil, a.As16()
}
