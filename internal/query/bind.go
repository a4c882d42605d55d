package query

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/interflow"
)

// Expr is a query bound to one index: every field is resolved to its
// position in the index's schema and every value converted to the field's
// type. It is the one representation of a query: the lake compiles it to
// SQL, and log filters and detections evaluate it in memory (Eval), so a
// filter and a search of the same text always agree.
type Expr interface{ isExpr() }

// Op is a comparison operator.
type Op uint8

// Comparison operators.
const (
	Eq Op = iota
	Lt
	Le
	Gt
	Ge
)

func (o Op) String() string { return [...]string{"=", "<", "<=", ">", ">="}[o] }

// AllOf matches when every operand matches (an empty list matches all).
type AllOf []Expr

// AnyOf matches when one operand matches (an empty list matches none).
type AnyOf []Expr

// Negate matches when its operand does not. An absent field matches no
// term, so NOT of a term on an absent field matches.
type Negate struct{ X Expr }

// Const matches everything or nothing.
type Const bool

// HasValue matches a record whose field is present (a list: not empty).
type HasValue struct{ Field int }

// StrCmp compares a text field bytewise (case-sensitive), or with Fold
// (Op is then Eq) its lower-cased value with V, which is lower-case.
type StrCmp struct {
	Field int
	Op    Op
	V     string
	Fold  bool
}

// Like matches a text, IP or list field against a wildcard pattern, in
// which Wild* stands for any run of characters and Wild? for one. With
// Fold the pattern is lower-case and matches the lower-cased value.
type Like struct {
	Field   int
	Pattern Wildcard
	Fold    bool
}

// ListHas matches a list field holding V (with Fold: an element whose
// lower-cased text is V, which is lower-case).
type ListHas struct {
	Field int
	V     string
	Fold  bool
}

// FieldEq matches a record whose two operands have a value and the values
// are equal (with Fold: regardless of case): Sigma's fieldref, written
// field:@other.
type FieldEq struct {
	L, R Operand
	Fold bool
}

// Operand is a text field of the schema (Field >= 0) or, with Field -1, a
// path of the raw JSON record, whose text is a scalar's or an object's
// JSON text (RawPath's texts, lists excepted). A raw path names one value,
// reached through objects only: one that is or goes through a list has
// none (a list holds many; RawPath terms look through lists).
type Operand struct {
	Field int
	Path  []string
}

// IntCmp compares an integer field.
type IntCmp struct {
	Field int
	Op    Op
	V     int64
}

// FloatCmp compares a double field.
type FloatCmp struct {
	Field int
	Op    Op
	V     float64
}

// BoolEq matches a boolean field equal to V.
type BoolEq struct {
	Field int
	V     bool
}

// TimeCmp compares a timestamp field at microsecond precision (the lake's).
type TimeCmp struct {
	Field int
	Op    Op
	V     int64 // Unix microseconds
}

// IPRange matches an IP field whose address lies in [Lo, Hi], both in
// their 16-byte form (IPv4 as IPv4-mapped IPv6), so a CIDR block, one
// address and an address range are all one comparison.
type IPRange struct {
	Field  int
	Lo, Hi netip.Addr
}

// Text matches records whose raw text contains Needle as whole words,
// case-insensitively (Needle is lower-cased): where the needle begins with
// a word character, the character before it is not one, and likewise at
// its end. Words are runs of letters, digits and '_' (see Words), as in
// Lucene and Kibana: "mimikatz" matches "run mimikatz.exe" but not
// "mimikatzx"; a wildcard (mimi*) matches within words.
type Text struct{ Needle string }

// TextLike matches records whose lower-cased raw text matches Pattern
// anywhere (Pattern is lower-cased).
type TextLike struct{ Pattern Wildcard }

func (AllOf) isExpr()    {}
func (AnyOf) isExpr()    {}
func (Negate) isExpr()   {}
func (Const) isExpr()    {}
func (HasValue) isExpr() {}
func (StrCmp) isExpr()   {}
func (Like) isExpr()     {}
func (ListHas) isExpr()  {}
func (IntCmp) isExpr()   {}
func (FloatCmp) isExpr() {}
func (BoolEq) isExpr()   {}
func (TimeCmp) isExpr()  {}
func (IPRange) isExpr()  {}
func (Text) isExpr()     {}
func (Regex) isExpr()    {}
func (FieldEq) isExpr()  {}

// Regex matches a text field (any element of a list) against a regular
// expression (RE2, which Go and DuckDB share), anywhere in the value.
type Regex struct {
	Field int
	RE    *regexp.Regexp
}

// MaxRegex bounds a regular expression's length.
const MaxRegex = 1000

// MaxRegexInsts bounds the program a regular expression compiles to: its
// length does not bound its cost, since counted repeats copy their
// operand (x{1,1000} twenty times in 180 bytes took 10 ms a record to
// match), and every search, filter and rule runs it on each record.
const MaxRegexInsts = 5000

// regexInsts is the size of the RE2 program of expr, as Go compiles it.
func regexInsts(expr string) (int, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return 0, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, err
	}
	return len(prog.Inst), nil
}

// compileRegex compiles the regular expression of a term on field (RE2,
// matched anywhere in the value), the one check both normal and raw
// fields make.
func compileRegex(field string, t Term) (*regexp.Regexp, error) {
	if len(t.Value) > MaxRegex {
		return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s: the regular expression is %d bytes; at most %d", field, len(t.Value), MaxRegex)}
	}
	if n, err := regexInsts(t.Value); err == nil && n > MaxRegexInsts {
		return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s: the regular expression compiles to %d instructions; at most %d: write fewer or smaller repeat counts ({1,1000} copies its operand a thousand times)", field, n, MaxRegexInsts)}
	}
	re, err := regexp.Compile(t.Value)
	if err != nil {
		return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s: not a regular expression (RE2 syntax): %v", field, err)}
	}
	return re, nil
}

func (TextLike) isExpr() {}

// Wildcard is a pattern value as the parser marks it: "\x00*" is any run
// of characters, "\x00?" exactly one character; every other byte is
// literal.
type Wildcard string

// FieldError is a query naming a field no index has.
type FieldError struct {
	Pos   int
	Field string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("query: at position %d: unknown field %q (see docs/interflow.md for field names)", e.Pos, e.Field)
}

// ValueError is a value that does not fit its field's type.
type ValueError struct {
	Pos int
	Msg string
}

func (e *ValueError) Error() string { return fmt.Sprintf("query: at position %d: %s", e.Pos, e.Msg) }

// Bind resolves a parsed query against one index's schema. now anchors
// relative times (-24h). A field the index lacks but another index has
// matches nothing here, but its value is still checked against that
// index's type, so a query is valid or invalid whatever index it runs on.
func Bind(n Node, s *interflow.Schema, now time.Time) (Expr, error) {
	b := binder{s: s, now: now}
	e, err := b.bind(n)
	if err != nil {
		return nil, err
	}
	return Simplify(e), nil
}

// Validate checks a query against every index, returning the first
// positioned error.
func Validate(q string) error {
	n, err := Parse(q)
	if err != nil {
		return err
	}
	for _, s := range interflow.Schemas() {
		if _, err := Bind(n, s, time.Now()); err != nil {
			return err
		}
	}
	return nil
}

type binder struct {
	s   *interflow.Schema
	now time.Time
}

func (b binder) bind(n Node) (Expr, error) {
	switch x := n.(type) {
	case MatchAll:
		return Const(true), nil
	case And:
		return b.pair(x.L, x.R, true)
	case Or:
		return b.pair(x.L, x.R, false)
	case Not:
		e, err := b.bind(x.X)
		if err != nil {
			return nil, err
		}
		return Negate{e}, nil
	case Term, Exists, Range:
		if t, ok := n.(Term); ok && t.Ref {
			return b.fieldRef(t)
		}
		if e, ok, err := b.rawNode(n); ok {
			return e, err
		}
	}
	switch x := n.(type) {
	case Exists:
		f, ok, err := b.field(x.Field, x.Pos)
		if err != nil || !ok {
			return Const(false), err
		}
		return HasValue{Field: f}, nil
	case Range:
		return b.rng(x)
	case Term:
		return b.term(x)
	}
	return nil, fmt.Errorf("query: unsupported node %T", n)
}

// pair flattens chains of AND (or OR) into one list, so a query of many
// terms compiles to a flat expression rather than a deep one.
func (b binder) pair(l, r Node, and bool) (Expr, error) {
	var out []Expr
	var walk func(Node) error
	walk = func(n Node) error {
		if a, ok := n.(And); ok && and {
			if err := walk(a.L); err != nil {
				return err
			}
			return walk(a.R)
		}
		if o, ok := n.(Or); ok && !and {
			if err := walk(o.L); err != nil {
				return err
			}
			return walk(o.R)
		}
		e, err := b.bind(n)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	}
	if err := walk(l); err != nil {
		return nil, err
	}
	if err := walk(r); err != nil {
		return nil, err
	}
	if and {
		return AllOf(out), nil
	}
	return AnyOf(out), nil
}

// field resolves a name in this schema. ok is false when only another
// index has it; the value is then checked against that index by the caller
// through other().
func (b binder) field(name string, pos int) (int, bool, error) {
	if name == "_index" {
		name = "index"
	}
	if i, ok := b.s.Lookup(name); ok {
		return i, true, nil
	}
	if b.other(name) == nil {
		return 0, false, &FieldError{Pos: pos, Field: name}
	}
	return 0, false, nil
}

// other returns another schema that has the field, or nil.
func (b binder) other(name string) *interflow.Schema {
	for _, s := range interflow.Schemas() {
		if _, ok := s.Lookup(name); ok && s != b.s {
			return s
		}
	}
	return nil
}

// elsewhere binds a leaf against the index that has the field, only to
// report a bad value; the leaf matches nothing in this index.
func (b binder) elsewhere(name string, n Node) (Expr, error) {
	o := binder{s: b.other(name), now: b.now}
	if _, err := o.bind(n); err != nil {
		return nil, err
	}
	return Const(false), nil
}

// parseFloat reads a double field's value: a finite decimal number (NaN
// and the infinities name no value a record holds).
func parseFloat(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
		err = fmt.Errorf("%q is not a finite number", s)
	}
	return v, err
}

func parseOp(s string) Op {
	switch s {
	case "<":
		return Lt
	case "<=":
		return Le
	case ">":
		return Gt
	case ">=":
		return Ge
	}
	return Eq
}

func (b binder) term(t Term) (Expr, error) {
	if t.Field == "" {
		return freeText(strings.ToLower(t.Value), t.Wildcard), nil
	}
	fi, ok, err := b.field(t.Field, t.Pos)
	if err != nil {
		return nil, err
	}
	if !ok {
		return b.elsewhere(t.Field, t)
	}
	f := b.s.Fields[fi]
	op := parseOp(t.Op)
	if t.Fold && op != Eq {
		return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s:~ compares text regardless of case; it takes no %s", f.Name, op)}
	}
	if t.Regex {
		switch f.Type {
		case interflow.String, interflow.IP, interflow.Strings:
		default:
			return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("regular expressions work on text fields; %s is %s", f.Name, f.Type)}
		}
		re, err := compileRegex(f.Name, t)
		if err != nil {
			return nil, err
		}
		return Regex{Field: fi, RE: re}, nil
	}
	if t.Wildcard {
		switch f.Type {
		case interflow.String, interflow.IP, interflow.Strings:
			if t.Fold {
				return Like{Field: fi, Pattern: Wildcard(strings.ToLower(t.Value)), Fold: true}, nil
			}
			return Like{Field: fi, Pattern: Wildcard(t.Value)}, nil
		}
		return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("wildcards work on text fields; %s is %s: use a range such as %s:[1 TO 1024]", f.Name, f.Type, f.Name)}
	}
	switch f.Type {
	case interflow.Strings:
		if op != Eq {
			return nil, &ValueError{Pos: t.Pos, Msg: f.Name + " is a list of names: match one with " + f.Name + ":value or " + f.Name + ":prefix*"}
		}
		if t.Fold {
			return ListHas{Field: fi, V: strings.ToLower(t.Value), Fold: true}, nil
		}
		return ListHas{Field: fi, V: t.Value}, nil
	case interflow.IP:
		if op != Eq {
			return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s is an IP address: compare with an address, a CIDR block (%s:10.0.0.0/8) or a range (%s:[10.0.0.1 TO 10.0.0.9]), not %s", f.Name, f.Name, f.Name, op)}
		}
		lo, hi, err := ipValue(t.Value)
		if err != nil {
			return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s is an IP address; %q is not an address or CIDR block (for a pattern write %s:10.0.*)", f.Name, t.Value, f.Name)}
		}
		return IPRange{Field: fi, Lo: lo, Hi: hi}, nil
	case interflow.Int:
		v, err := strconv.ParseInt(t.Value, 10, 64)
		if err != nil {
			return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s is a number; %q is not", f.Name, t.Value)}
		}
		return IntCmp{Field: fi, Op: op, V: v}, nil
	case interflow.Float:
		v, err := parseFloat(t.Value)
		if err != nil {
			return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s is a number; %q is not", f.Name, t.Value)}
		}
		return FloatCmp{Field: fi, Op: op, V: v}, nil
	case interflow.Bool:
		v, err := strconv.ParseBool(t.Value)
		if err != nil || op != Eq {
			return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s is true or false", f.Name)}
		}
		return BoolEq{Field: fi, V: v}, nil
	case interflow.Time:
		v, err := ParseTime(t.Value, b.now)
		if err != nil {
			return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s: %v", f.Name, err)}
		}
		return TimeCmp{Field: fi, Op: op, V: v.UnixMicro()}, nil
	}
	if t.Fold {
		return StrCmp{Field: fi, Op: Eq, V: strings.ToLower(t.Value), Fold: true}, nil
	}
	return StrCmp{Field: fi, Op: op, V: t.Value}, nil
}

// fieldRef binds field:@other. Both fields are text (string or IP fields,
// or raw paths), so that their values compare as the texts they are.
func (b binder) fieldRef(t Term) (Expr, error) {
	l, okL, err := b.operand(t.Field, t.Pos)
	if err != nil {
		return nil, err
	}
	r, okR, err := b.operand(t.Value, t.Pos)
	if err != nil {
		return nil, err
	}
	if t.Regex || t.Wildcard || t.Quoted || (t.Op != "=" && t.Op != "") {
		return nil, &ValueError{Pos: t.Pos, Msg: fmt.Sprintf("%s:@%s compares two fields for equality only", t.Field, t.Value)}
	}
	if !okL || !okR {
		return Const(false), nil // a field this index lacks has no value
	}
	return FieldEq{L: l, R: r, Fold: t.Fold}, nil
}

// operand resolves one side of a field reference; ok is false when only
// another index has the field (or a raw path on records that are not
// JSON).
func (b binder) operand(name string, pos int) (Operand, bool, error) {
	if keys, ok := rawPath(name); ok {
		return Operand{Field: -1, Path: keys}, b.s == interflow.Events(), nil
	}
	if strings.HasPrefix(name, RawPrefix) {
		return Operand{}, false, &ValueError{Pos: pos, Msg: fmt.Sprintf("%q: name a key of the raw record after raw. (raw.requestParameters.bucketName)", name)}
	}
	fi, ok, err := b.field(name, pos)
	if err != nil || !ok {
		if !ok && err == nil {
			if o := b.other(name); o != nil {
				i, _ := o.Lookup(name)
				err = textOperand(o.Fields[i], pos)
			}
		}
		return Operand{}, false, err
	}
	if err := textOperand(b.s.Fields[fi], pos); err != nil {
		return Operand{}, false, err
	}
	return Operand{Field: fi}, true, nil
}

func textOperand(f interflow.Field, pos int) error {
	switch f.Type {
	case interflow.String, interflow.IP:
		return nil
	}
	return &ValueError{Pos: pos, Msg: fmt.Sprintf("field references compare text fields; %s is %s", f.Name, f.Type)}
}

// ipValue reads an address or a CIDR block as an inclusive range of
// 16-byte addresses.
func ipValue(v string) (netip.Addr, netip.Addr, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Addr{}, netip.Addr{}, err
		}
		lo, hi := PrefixRange(p)
		return lo, hi, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, netip.Addr{}, err
	}
	a = To16(a)
	return a, a, nil
}

// To16 returns an address in its 16-byte form (IPv4 as IPv4-mapped IPv6,
// zone dropped), the form IP ranges compare in.
func To16(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.Unmap().As16()) }

// PrefixRange returns the first and last address of a block in 16-byte form.
func PrefixRange(p netip.Prefix) (netip.Addr, netip.Addr) {
	p = p.Masked()
	a := p.Addr()
	bits := p.Bits()
	if a.Unmap().Is4() {
		bits += 96
	}
	lo := To16(a).As16()
	hi := lo
	for i := bits; i < 128; i++ {
		hi[i/8] |= 1 << (7 - uint(i%8))
	}
	return netip.AddrFrom16(lo), netip.AddrFrom16(hi)
}

var (
	ipMin = netip.AddrFrom16([16]byte{})
	ipMax = netip.AddrFrom16([16]byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255})
)

func (b binder) rng(r Range) (Expr, error) {
	fi, ok, err := b.field(r.Field, r.Pos)
	if err != nil {
		return nil, err
	}
	if !ok {
		return b.elsewhere(r.Field, r)
	}
	f := b.s.Fields[fi]
	bad := func(which, v string, err error) error {
		return &ValueError{Pos: r.Pos, Msg: fmt.Sprintf("range %s %q does not fit %s (%s): %v", which, v, f.Name, f.Type, err)}
	}
	loOp, hiOp := Gt, Lt
	if r.IncLo {
		loOp = Ge
	}
	if r.IncHi {
		hiOp = Le
	}
	var parts AllOf
	switch f.Type {
	case interflow.Bool, interflow.Strings:
		return nil, &ValueError{Pos: r.Pos, Msg: fmt.Sprintf("ranges do not apply to %s fields such as %s", f.Type, f.Name)}
	case interflow.IP:
		return b.ipRange(fi, r, bad)
	case interflow.Int:
		for _, side := range []struct {
			which, v string
			op       Op
		}{{"start", r.Lo, loOp}, {"end", r.Hi, hiOp}} {
			if side.v == "*" {
				continue
			}
			v, err := strconv.ParseInt(side.v, 10, 64)
			if err != nil {
				return nil, bad(side.which, side.v, err)
			}
			parts = append(parts, IntCmp{Field: fi, Op: side.op, V: v})
		}
	case interflow.Float:
		for _, side := range []struct {
			which, v string
			op       Op
		}{{"start", r.Lo, loOp}, {"end", r.Hi, hiOp}} {
			if side.v == "*" {
				continue
			}
			v, err := parseFloat(side.v)
			if err != nil {
				return nil, bad(side.which, side.v, err)
			}
			parts = append(parts, FloatCmp{Field: fi, Op: side.op, V: v})
		}
	case interflow.Time:
		for _, side := range []struct {
			which, v string
			op       Op
		}{{"start", r.Lo, loOp}, {"end", r.Hi, hiOp}} {
			if side.v == "*" {
				continue
			}
			v, err := ParseTime(side.v, b.now)
			if err != nil {
				return nil, bad(side.which, side.v, err)
			}
			parts = append(parts, TimeCmp{Field: fi, Op: side.op, V: v.UnixMicro()})
		}
	default:
		if r.Lo != "*" {
			parts = append(parts, StrCmp{Field: fi, Op: loOp, V: r.Lo})
		}
		if r.Hi != "*" {
			parts = append(parts, StrCmp{Field: fi, Op: hiOp, V: r.Hi})
		}
	}
	if len(parts) == 0 {
		return HasValue{Field: fi}, nil
	}
	return parts, nil
}

func (b binder) ipRange(fi int, r Range, bad func(string, string, error) error) (Expr, error) {
	lo, hi := ipMin, ipMax
	if r.Lo != "*" {
		a, err := netip.ParseAddr(r.Lo)
		if err != nil {
			return nil, bad("start", r.Lo, err)
		}
		lo = To16(a)
		if !r.IncLo {
			if lo == ipMax {
				return Const(false), nil
			}
			lo = lo.Next()
		}
	}
	if r.Hi != "*" {
		a, err := netip.ParseAddr(r.Hi)
		if err != nil {
			return nil, bad("end", r.Hi, err)
		}
		hi = To16(a)
		if !r.IncHi {
			if hi == ipMin {
				return Const(false), nil
			}
			hi = hi.Prev()
		}
	}
	if hi.Less(lo) {
		return Const(false), nil
	}
	return IPRange{Field: fi, Lo: lo, Hi: hi}, nil
}

// Simplify folds constants: AND with false is false, OR with true is true,
// and single-operand lists are unwrapped. An index on which a query is
// Const(false) need not be read at all.
func Simplify(e Expr) Expr {
	switch x := e.(type) {
	case AllOf:
		var out AllOf
		for _, c := range x {
			c = Simplify(c)
			if k, ok := c.(Const); ok {
				if !k {
					return Const(false)
				}
				continue
			}
			out = append(out, c)
		}
		switch len(out) {
		case 0:
			return Const(true)
		case 1:
			return out[0]
		}
		return out
	case AnyOf:
		var out AnyOf
		for _, c := range x {
			c = Simplify(c)
			if k, ok := c.(Const); ok {
				if k {
					return Const(true)
				}
				continue
			}
			out = append(out, c)
		}
		switch len(out) {
		case 0:
			return Const(false)
		case 1:
			return out[0]
		}
		return out
	case Negate:
		in := Simplify(x.X)
		if k, ok := in.(Const); ok {
			return !k
		}
		return Negate{in}
	}
	return e
}

// ParseTime reads RFC 3339, a date (2006-01-02), "now", or a duration back
// from now such as -24h or -7d.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "now" {
		return now.UTC(), nil
	}
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		body := s[1:]
		var d time.Duration
		if strings.HasSuffix(body, "d") {
			n, err := strconv.Atoi(strings.TrimSuffix(body, "d"))
			if err != nil || n > 100000 {
				return time.Time{}, fmt.Errorf("%q is not a duration such as -24h or -7d", s)
			}
			d = time.Duration(n) * 24 * time.Hour
		} else {
			v, err := time.ParseDuration(body)
			if err != nil {
				return time.Time{}, fmt.Errorf("%q is not a duration such as -24h or -7d", s)
			}
			d = v
		}
		if s[0] == '-' {
			d = -d
		}
		return now.Add(d).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2024-05-01T10:00:00Z), a date (2024-05-01) or a duration back from now (-24h)", s)
}

// freeText matches text anywhere in the raw record (a Sigma keyword, a
// search's free text), as written or as JSON writes it: raw JSON holds a
// quote, a backslash or a control character escaped (\", \\, \n, \u0001),
// and some producers write "/" as "\/", so text holding one would
// otherwise never match a JSON record (from an outside try: the keyword
// 'my"trail/x' found nothing). Each form is tested as Text or TextLike
// is; the record matches if any does.
func freeText(v string, wildcard bool) Expr {
	forms := []string{v}
	esc := jsonEscape(v, wildcard)
	for _, f := range []string{esc, strings.ReplaceAll(esc, "/", `\/`)} {
		if !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	var alts AnyOf
	for _, f := range forms {
		if wildcard {
			alts = append(alts, TextLike{Pattern: Wildcard(f)})
		} else {
			alts = append(alts, Text{Needle: f})
		}
	}
	if len(alts) == 1 {
		return alts[0]
	}
	return alts
}

// jsonEscape writes s as JSON writes a string's characters (not its
// quotes): '"' and '\\' escaped, control characters as \n, \r, \t or
// \u00xx (lower-case hex: the text is compared lower-cased). In a
// wildcard pattern the markers ("\x00*", "\x00?") stay as they are.
func jsonEscape(s string, wildcard bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case wildcard && c == 0 && i+1 < len(s):
			b.WriteByte(c)
			b.WriteByte(s[i+1])
			i++
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
