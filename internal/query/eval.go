package query

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/trawlhq/trawl/internal/interflow"
)

// Eval reports whether a record matches a bound query, with exactly the
// semantics of the SQL the lake compiles the same Expr to: absent fields
// match no term, text compares bytewise, free text is case-insensitive,
// wildcards match characters (not bytes), times compare at microseconds,
// and IPs compare as 16-byte addresses. The equivalence test in the lake
// checks the two against each other on random queries and records.
func Eval(e Expr, v interflow.Values) bool {
	switch x := e.(type) {
	case Const:
		return bool(x)
	case AllOf:
		for _, c := range x {
			if !Eval(c, v) {
				return false
			}
		}
		return true
	case AnyOf:
		for _, c := range x {
			if Eval(c, v) {
				return true
			}
		}
		return false
	case Negate:
		return !Eval(x.X, v)
	case HasValue:
		return hasValue(x.Field, v)
	case StrCmp:
		s, ok := v.Str(x.Field)
		return ok && cmpStr(s, x.V, x.Op)
	case Like:
		if l, ok := v.List(x.Field); ok {
			for _, s := range l {
				if MatchWild(x.Pattern, s) {
					return true
				}
			}
			return false
		}
		s, ok := v.Str(x.Field)
		return ok && MatchWild(x.Pattern, s)
	case ListHas:
		l, _ := v.List(x.Field)
		for _, s := range l {
			if s == x.V {
				return true
			}
		}
		return false
	case IntCmp:
		n, ok := v.Int(x.Field)
		return ok && cmpInt(n, x.V, x.Op)
	case BoolEq:
		b, ok := v.Bool(x.Field)
		return ok && b == x.V
	case TimeCmp:
		t, ok := v.Time(x.Field)
		return ok && cmpInt(t.UnixMicro(), x.V, x.Op)
	case IPRange:
		s, ok := v.Str(x.Field)
		if !ok {
			return false
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		a = To16(a)
		return !a.Less(x.Lo) && !x.Hi.Less(a)
	case Text:
		raw, ok := v.Str(interflow.FRaw)
		return ok && containsFold(raw, x.Needle)
	case TextLike:
		raw, ok := v.Str(interflow.FRaw)
		return ok && MatchWild("\x00*"+x.Pattern+"\x00*", strings.ToLower(raw))
	}
	return false
}

func hasValue(i int, v interflow.Values) bool {
	if l, ok := v.List(i); ok {
		return len(l) > 0
	}
	if _, ok := v.Str(i); ok {
		return true
	}
	if _, ok := v.Int(i); ok {
		return true
	}
	if _, ok := v.Bool(i); ok {
		return true
	}
	_, ok := v.Time(i)
	return ok
}

func cmpStr(a, b string, op Op) bool {
	switch op {
	case Lt:
		return a < b
	case Le:
		return a <= b
	case Gt:
		return a > b
	case Ge:
		return a >= b
	}
	return a == b
}

func cmpInt(a, b int64, op Op) bool {
	switch op {
	case Lt:
		return a < b
	case Le:
		return a <= b
	case Gt:
		return a > b
	case Ge:
		return a >= b
	}
	return a == b
}

// containsFold reports whether the lower-cased s contains the lower-case
// needle, without lower-casing s when both are ASCII.
func containsFold(s, needle string) bool {
	if needle == "" {
		return true
	}
	if !isASCII(needle) || !isASCII(s) {
		return strings.Contains(strings.ToLower(s), needle)
	}
	n0 := needle[0]
	for i := 0; i+len(needle) <= len(s); i++ {
		if lowerASCII(s[i]) != n0 {
			continue
		}
		j := 1
		for j < len(needle) && lowerASCII(s[i+j]) == needle[j] {
			j++
		}
		if j == len(needle) {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// MatchWild matches s against a wildcard pattern. Wild? matches one
// character (a UTF-8 sequence, as SQL LIKE's _ does), Wild* any run.
func MatchWild(pat Wildcard, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p+1 < len(pat) && pat[p] == 0 && pat[p+1] == '?':
			_, n := utf8.DecodeRuneInString(s[i:])
			p += 2
			i += n
		case p+1 < len(pat) && pat[p] == 0 && pat[p+1] == '*':
			star, mark = p, i
			p += 2
		case p < len(pat) && pat[p] != 0 && pat[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 2
			_, n := utf8.DecodeRuneInString(s[mark:])
			mark += n
			i = mark
		default:
			return false
		}
	}
	for p+1 < len(pat) && pat[p] == 0 && pat[p+1] == '*' {
		p += 2
	}
	return p == len(pat)
}

// Pattern converts a wildcard to a SQL LIKE pattern with escape '\'.
func (w Wildcard) Pattern() string { return Pattern(string(w)) }

// Literal returns the pattern's characters without wildcard markers.
func (w Wildcard) Literal() string { return Literal(string(w)) }

// Stars counts the any-run wildcards of a pattern.
func (w Wildcard) Stars() int { return strings.Count(string(w), "\x00*") }

// Regexp returns an RE2 expression matching exactly what the pattern
// matches over a whole string: SQL LIKE backtracks, and with many
// wildcards its cost explodes on long values, where RE2 stays linear.
func (w Wildcard) Regexp() string {
	var b strings.Builder
	b.WriteString("(?s)")
	lit := func(s string) { b.WriteString(regexpQuote(s)) }
	s := string(w)
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == 0 && i+1 < len(s) {
			lit(s[start:i])
			if s[i+1] == '*' {
				b.WriteString(".*")
			} else {
				b.WriteString(".")
			}
			i++
			start = i + 1
		}
	}
	lit(s[start:])
	return b.String()
}

// regexpQuote escapes RE2's special characters (as regexp.QuoteMeta).
func regexpQuote(s string) string {
	const special = `\.+*?()|[]{}^$`
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
