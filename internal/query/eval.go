package query

import (
	"cmp"
	"net/netip"
	"strings"
	"unicode"
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
		if ok && x.Fold {
			return strings.ToLower(s) == x.V
		}
		return ok && compare(s, x.V, x.Op)
	case Like:
		if l, ok := v.List(x.Field); ok {
			for _, s := range l {
				if MatchWild(x.Pattern, fold(s, x.Fold)) {
					return true
				}
			}
			return false
		}
		s, ok := v.Str(x.Field)
		return ok && MatchWild(x.Pattern, fold(s, x.Fold))
	case ListHas:
		l, _ := v.List(x.Field)
		for _, s := range l {
			if fold(s, x.Fold) == x.V {
				return true
			}
		}
		return false
	case FieldEq:
		return evalFieldEq(x, v)
	case IntCmp:
		n, ok := v.Int(x.Field)
		return ok && compare(n, x.V, x.Op)
	case FloatCmp:
		f, ok := v.Float(x.Field)
		return ok && compare(f, x.V, x.Op)
	case BoolEq:
		b, ok := v.Bool(x.Field)
		return ok && b == x.V
	case TimeCmp:
		t, ok := v.Time(x.Field)
		return ok && compare(t.UnixMicro(), x.V, x.Op)
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
		return ok && ContainsWords(raw, x.Needle)
	case TextLike:
		raw, ok := v.Str(interflow.FRaw)
		return ok && MatchWild("\x00*"+x.Pattern+"\x00*", strings.ToLower(raw))
	case RawPath:
		return evalRaw(x, v)
	case Regex:
		if l, ok := v.List(x.Field); ok {
			for _, s := range l {
				if x.RE.MatchString(s) {
					return true
				}
			}
			return false
		}
		s, ok := v.Str(x.Field)
		return ok && x.RE.MatchString(s)
	}
	return false
}

// fold lower-cases s for a case-insensitive comparison (as SQL's lower).
func fold(s string, on bool) string {
	if on {
		return strings.ToLower(s)
	}
	return s
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
	if _, ok := v.Float(i); ok {
		return true
	}
	if _, ok := v.Bool(i); ok {
		return true
	}
	_, ok := v.Time(i)
	return ok
}

// compare applies op to a and b (strings compare bytewise, as SQL's).
func compare[T cmp.Ordered](a, b T, op Op) bool {
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

// ContainsWords reports whether the lower-cased s contains the lower-case
// needle with word boundaries where the needle starts or ends with a word
// character (Text's semantics).
func ContainsWords(s, needle string) bool {
	if needle == "" {
		return true
	}
	if !isASCII(s) || !isASCII(needle) {
		return containsWordsAt(strings.ToLower(s), needle, strings.Index)
	}
	return containsWordsAt(s, needle, indexFoldASCII)
}

func containsWordsAt(s, needle string, index func(s, needle string) int) bool {
	first, _ := utf8.DecodeRuneInString(needle)
	last, _ := utf8.DecodeLastRuneInString(needle)
	left, right := IsWordRune(first), IsWordRune(last)
	for off := 0; off+len(needle) <= len(s); {
		i := index(s[off:], needle)
		if i < 0 {
			return false
		}
		at := off + i
		end := at + len(needle)
		okLeft := !left || at == 0 || !wordBefore(s, at)
		okRight := !right || end == len(s) || !wordAt(s, end)
		if okLeft && okRight {
			return true
		}
		_, n := utf8.DecodeRuneInString(s[at:])
		off = at + n
	}
	return false
}

func wordBefore(s string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return IsWordRune(r)
}

func wordAt(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return IsWordRune(r)
}

// IsWordRune reports whether r is a word character: a letter, a digit or
// '_'.
func IsWordRune(r rune) bool {
	return r == '_' || r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') ||
		r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// Words calls fn with each word of s, lower-cased: the tokens a segment's
// token filter holds and a Text needle must contain. A word of a needle
// always appears whole in a record it matches.
func Words(s string, fn func(string)) {
	ascii := isASCII(s)
	if !ascii {
		s = strings.ToLower(s)
	}
	start := -1
	var buf []byte
	for i, r := range s {
		if IsWordRune(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			buf = emit(s[start:i], ascii, buf, fn)
			start = -1
		}
	}
	if start >= 0 {
		emit(s[start:], ascii, buf, fn)
	}
}

func emit(w string, ascii bool, buf []byte, fn func(string)) []byte {
	if !ascii {
		fn(w)
		return buf
	}
	lower := true
	for i := 0; i < len(w); i++ {
		if w[i] >= 'A' && w[i] <= 'Z' {
			lower = false
			break
		}
	}
	if lower {
		fn(w)
		return buf
	}
	buf = buf[:0]
	for i := 0; i < len(w); i++ {
		buf = append(buf, lowerASCII(w[i]))
	}
	fn(string(buf))
	return buf
}

// indexFoldASCII is strings.Index over ASCII s with a lower-case needle,
// ignoring case in s.
func indexFoldASCII(s, needle string) int {
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
			return i
		}
	}
	return -1
}

// WordsRegexp returns an RE2 expression for Text's boundaries around the
// (lower-case) needle, or "" when the needle needs none.
func WordsRegexp(needle string) string {
	first, _ := utf8.DecodeRuneInString(needle)
	last, _ := utf8.DecodeLastRuneInString(needle)
	left, right := IsWordRune(first), IsWordRune(last)
	if !left && !right {
		return ""
	}
	var b strings.Builder
	b.WriteString("(?s)")
	if left {
		b.WriteString(`(?:^|[^\pL\pN_])`)
	}
	b.WriteString(regexpQuote(needle))
	if right {
		b.WriteString(`(?:$|[^\pL\pN_])`)
	}
	return b.String()
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
