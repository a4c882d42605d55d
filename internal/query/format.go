package query

import "strings"

// Format prints a query AST back in the search language, so that Parse of
// the result gives the same tree (positions aside). Detections use it to
// give every alert the hunting query that finds its records: the rule and
// the search are one expression.
func Format(n Node) string {
	var b strings.Builder
	format(&b, n, 0)
	return b.String()
}

// Precedence levels: an operand is parenthesised when it binds looser
// than the operator around it.
const (
	precOr = iota + 1
	precAnd
	precUnary
)

func format(b *strings.Builder, n Node, outer int) {
	switch x := n.(type) {
	case Or:
		group(b, outer > precOr, func() {
			format(b, x.L, precOr)
			b.WriteString(" OR ")
			format(b, x.R, precOr+1) // Or is left-associative
		})
	case And:
		group(b, outer > precAnd, func() {
			format(b, x.L, precAnd)
			b.WriteString(" AND ")
			format(b, x.R, precAnd+1)
		})
	case Not:
		b.WriteString("NOT ")
		format(b, x.X, precUnary)
	case Exists:
		b.WriteString(x.Field + ":*")
	case Range:
		b.WriteString(x.Field + ":")
		b.WriteByte("{["[btoi(x.IncLo)])
		b.WriteString(rangeBound(x.Lo) + " TO " + rangeBound(x.Hi))
		b.WriteByte("}]"[btoi(x.IncHi)])
	case Term:
		if x.Field != "" {
			b.WriteString(x.Field + ":")
		}
		if x.Fold && x.Field != "" {
			b.WriteByte('~')
		}
		switch {
		case x.Ref:
			b.WriteString("@" + x.Value)
		case x.Regex:
			b.WriteByte('/')
			b.WriteString(strings.ReplaceAll(x.Value, "/", `\/`))
			b.WriteByte('/')
		case x.Wildcard:
			writeWord(b, x.Value)
		case x.Op != "=" && x.Op != "":
			b.WriteString(x.Op)
			writeWord(b, x.Value)
		default:
			writePhrase(b, x.Value)
		}
	case MatchAll:
		b.WriteString("*")
	}
}

func group(b *strings.Builder, paren bool, fn func()) {
	if paren {
		b.WriteByte('(')
	}
	fn()
	if paren {
		b.WriteByte(')')
	}
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

func rangeBound(s string) string {
	if s == "" || s == "*" || strings.ContainsAny(s, " \t]}") {
		if s == "" {
			return "*"
		}
		return `"` + s + `"`
	}
	return s
}

// writeWord writes an unquoted value: wildcard markers (a NUL before * or
// ?) as the bare character, every other character the lexer would read
// specially escaped with a backslash.
func writeWord(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == 0 && i+1 < len(v) && (v[i+1] == '*' || v[i+1] == '?') {
			b.WriteByte(v[i+1])
			i++
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r', '(', ')', '\\', '"', '*', '?', '[', '{', '!', '-', '&', '|', '>', '<', '=', ':', '/':
			// (':' would make a free-text word a field; '/' after field:
			// would start a regular expression.)
			b.WriteByte('\\')
		case '~', '@':
			if i == 0 { // after field: they would mean ~value and @field
				b.WriteByte('\\')
			}
		}
		b.WriteByte(c)
	}
}

// Quote writes a value for field:value so that the term matches exactly
// that value: as it is when it is a plain word (letters, digits, _ . -),
// else as a quoted phrase with \ and " escaped. It is the one quoting of
// values every hunt Trawl writes uses (alerts, the overview), and the
// console's quoteValue (web/static/app.js) follows the same rules.
func Quote(v string) string {
	if plainWord(v) {
		return v
	}
	var b strings.Builder
	writePhrase(&b, v)
	return b.String()
}

// plainWord reports whether a value reads as itself after field: unquoted.
func plainWord(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// writePhrase writes a literal value as a quoted phrase.
func writePhrase(b *strings.Builder, v string) {
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
}
