// Package query parses the search language analysts already know from
// Lucene and Kibana: field:value, "quoted phrases", wildcards (Get*), CIDR
// (srcip:10.0.0.0/8), ranges ([1 TO 1024], {a TO b}), comparisons
// (bytes:>1000), bare words as free text, AND/OR/NOT and parentheses.
// Adjacent terms are ANDed. The parser builds an AST only; the lake turns it
// into parameterised SQL and the log filters evaluate it in memory.
package query

import (
	"fmt"
	"strings"
)

// Node is a query AST node.
type Node interface{ node() }

// And matches when both sides match.
type And struct{ L, R Node }

// Or matches when either side matches.
type Or struct{ L, R Node }

// Not inverts its operand.
type Not struct{ X Node }

// Term compares a field to a value; Field "" means free text over raw.
type Term struct {
	Field    string
	Op       string // "=", ">", ">=", "<", "<="
	Value    string
	Quoted   bool
	Wildcard bool // unquoted value holding * or ?
	Regex    bool // field:/regular expression/ (RE2), matched anywhere in the value
	// Fold (field:~value) matches regardless of case: what Sigma rules
	// mean by a value; a search's field:value keeps matching case.
	Fold bool
	// Ref (field:@other) matches when the field's value equals the value
	// of the field Value names (Sigma's fieldref); with Fold, regardless
	// of case.
	Ref bool
	Pos int
}

// Range matches Lo..Hi; an empty bound written as * is open.
type Range struct {
	Field        string
	Lo, Hi       string
	IncLo, IncHi bool
	Pos          int
}

// Exists matches when the field has a value (field:*).
type Exists struct {
	Field string
	Pos   int
}

// MatchAll matches everything (an empty query or *).
type MatchAll struct{}

func (And) node()      {}
func (Or) node()       {}
func (Not) node()      {}
func (Term) node()     {}
func (Range) node()    {}
func (Exists) node()   {}
func (MatchAll) node() {}

// Error is a syntax error with the 0-based byte position it was found at.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("query: at position %d: %s", e.Pos, e.Msg) }

type tokKind int

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tAnd
	tOr
	tNot
	tWord   // unquoted text, possibly "field:" prefixed
	tPhrase // "quoted"
	tRange  // [a TO b] or {a TO b}
	tRegex  // /regular expression/ after field:
)

type token struct {
	kind tokKind
	text string // word: raw text with escapes removed; phrase: content
	wild bool   // word had an unescaped * or ?
	pos  int
	// field is set when the word was written field:value; value follows
	// in text (possibly empty when a phrase, range or group follows).
	field    string
	hasField bool
	lo, hi   string
	incLo    bool
	incHi    bool
	fold     bool // field:~value
	ref      bool // field:@other: text is the other field
	quoted   bool // field:~"phrase"
	inline   bool // the value is in this token even when text is empty
}

type lexer struct {
	s   string
	pos int
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isFieldChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.s) && isSpace(l.s[l.pos]) {
		l.pos++
	}
	if l.pos >= len(l.s) {
		return token{kind: tEOF, pos: l.pos}, nil
	}
	start := l.pos
	c := l.s[l.pos]
	switch {
	case c == '(':
		l.pos++
		return token{kind: tLParen, pos: start}, nil
	case c == ')':
		l.pos++
		return token{kind: tRParen, pos: start}, nil
	case c == '"':
		s, err := l.phrase()
		return token{kind: tPhrase, text: s, pos: start}, err
	case c == '[' || c == '{':
		return l.rangeTok(start)
	case strings.HasPrefix(l.s[l.pos:], "&&"):
		l.pos += 2
		return token{kind: tAnd, pos: start}, nil
	case strings.HasPrefix(l.s[l.pos:], "||"):
		l.pos += 2
		return token{kind: tOr, pos: start}, nil
	case c == '!' || (c == '-' && l.pos+1 < len(l.s) && !isSpace(l.s[l.pos+1])):
		l.pos++
		return token{kind: tNot, pos: start}, nil
	}
	// field:value?
	j := l.pos
	for j < len(l.s) && isFieldChar(l.s[j]) {
		j++
	}
	if j > l.pos && j < len(l.s) && l.s[j] == ':' {
		field := l.s[l.pos:j]
		l.pos = j + 1
		tok := token{kind: tWord, field: field, hasField: true, pos: start}
		if l.pos < len(l.s) && l.s[l.pos] == '~' {
			tok.fold = true
			l.pos++
		}
		if l.pos < len(l.s) {
			switch l.s[l.pos] {
			case '@':
				return l.fieldRef(tok)
			case '"':
				if tok.fold {
					s, err := l.phrase()
					tok.text, tok.quoted, tok.inline = s, true, true
					return tok, err
				}
				return tok, nil // the value is the next token
			case '[', '{', '(':
				if tok.fold {
					return tok, &Error{Pos: l.pos, Msg: fmt.Sprintf("%s:~ takes a word, a \"phrase\" or a wildcard, not a range or a group", field)}
				}
				return tok, nil // the value is the next token
			case '/':
				if tok.fold {
					return tok, &Error{Pos: l.pos, Msg: fmt.Sprintf("a regular expression ignores case with (?i): write %s:/(?i).../", field)}
				}
				re, err := l.regex()
				tok.kind, tok.text = tRegex, re
				return tok, err
			}
		}
		text, wild := l.word()
		tok.text, tok.wild = text, wild
		if text == "" && !wild {
			return tok, &Error{Pos: l.pos, Msg: fmt.Sprintf("field %q has no value: write %s:value", field, field)}
		}
		return tok, nil
	}
	text, wild := l.word()
	switch text {
	case "AND":
		if !wild {
			return token{kind: tAnd, pos: start}, nil
		}
	case "OR":
		if !wild {
			return token{kind: tOr, pos: start}, nil
		}
	case "NOT":
		if !wild {
			return token{kind: tNot, pos: start}, nil
		}
	}
	return token{kind: tWord, text: text, wild: wild, pos: start}, nil
}

// fieldRef reads the other field of field:@other (or field:~@other).
func (l *lexer) fieldRef(tok token) (token, error) {
	l.pos++ // @
	j := l.pos
	for j < len(l.s) && isFieldChar(l.s[j]) {
		j++
	}
	if j == l.pos {
		return tok, &Error{Pos: l.pos, Msg: fmt.Sprintf("%s:@ names another field: write %s:@other.field (a value starting with @ is written \\@)", tok.field, tok.field)}
	}
	tok.text, tok.ref, tok.inline = l.s[l.pos:j], true, true
	l.pos = j
	return tok, nil
}

// word reads an unquoted value up to white space or a parenthesis.
func (l *lexer) word() (string, bool) {
	var b strings.Builder
	wild := false
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		if isSpace(c) || c == '(' || c == ')' {
			break
		}
		if c == '\\' && l.pos+1 < len(l.s) {
			b.WriteByte(l.s[l.pos+1])
			l.pos += 2
			continue
		}
		if c == '*' || c == '?' {
			wild = true
			b.WriteByte(0) // placeholder, mapped back by Pattern
			b.WriteByte(c)
			l.pos++
			continue
		}
		b.WriteByte(c)
		l.pos++
	}
	if !wild {
		return b.String(), false
	}
	return b.String(), true
}

func (l *lexer) phrase() (string, error) {
	start := l.pos
	l.pos++ // opening quote
	var b strings.Builder
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		if c == '\\' && l.pos+1 < len(l.s) {
			b.WriteByte(l.s[l.pos+1])
			l.pos += 2
			continue
		}
		if c == '"' {
			l.pos++
			return b.String(), nil
		}
		b.WriteByte(c)
		l.pos++
	}
	return "", &Error{Pos: start, Msg: "unterminated quoted phrase: add the closing \""}
}

// regex reads /.../: \/ is a slash, every other escape is kept for RE2.
func (l *lexer) regex() (string, error) {
	start := l.pos
	l.pos++ // opening slash
	var b strings.Builder
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		if c == '\\' && l.pos+1 < len(l.s) {
			if l.s[l.pos+1] != '/' {
				b.WriteByte(c)
			}
			b.WriteByte(l.s[l.pos+1])
			l.pos += 2
			continue
		}
		if c == '/' {
			l.pos++
			return b.String(), nil
		}
		b.WriteByte(c)
		l.pos++
	}
	return "", &Error{Pos: start, Msg: "unterminated regular expression: add the closing /"}
}

func (l *lexer) rangeTok(start int) (token, error) {
	incLo := l.s[l.pos] == '['
	end := strings.IndexAny(l.s[l.pos:], "]}")
	if end < 0 {
		return token{}, &Error{Pos: start, Msg: "unterminated range: write [low TO high] or {low TO high}"}
	}
	body := l.s[l.pos+1 : l.pos+end]
	incHi := l.s[l.pos+end] == ']'
	l.pos += end + 1
	parts := strings.Fields(body)
	if len(parts) != 3 || parts[1] != "TO" {
		return token{}, &Error{Pos: start, Msg: "a range is written [low TO high] (TO in capitals; * for an open end)"}
	}
	return token{kind: tRange, pos: start, lo: unquote(parts[0]), hi: unquote(parts[2]), incLo: incLo, incHi: incHi}, nil
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// Parse parses a query string. An empty query matches everything.
func Parse(s string) (Node, error) {
	p := &parser{lx: &lexer{s: s}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return MatchAll{}, nil
	}
	n, err := p.or("")
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		if p.tok.kind == tRParen {
			return nil, &Error{Pos: p.tok.pos, Msg: "unbalanced ')': remove it or add the matching '('"}
		}
		return nil, &Error{Pos: p.tok.pos, Msg: "unexpected text"}
	}
	return n, nil
}

type parser struct {
	lx    *lexer
	tok   token
	terms int
	depth int
}

// Limits on a query's size: a query beyond them is refused with a 400
// naming the limit, rather than exhausting the stack or the SQL engine.
const (
	MaxTerms = 1024
	MaxDepth = 64
)

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) or(field string) (Node, error) {
	l, err := p.and(field)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOr {
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.and(field)
		if err != nil {
			return nil, err
		}
		l = Or{l, r}
	}
	return l, nil
}

func (p *parser) and(field string) (Node, error) {
	l, err := p.unary(field)
	if err != nil {
		return nil, err
	}
	for {
		switch p.tok.kind {
		case tAnd:
			if err := p.advance(); err != nil {
				return nil, err
			}
		case tWord, tPhrase, tNot, tLParen, tRange, tRegex:
			// implicit AND
		default:
			return l, nil
		}
		r, err := p.unary(field)
		if err != nil {
			return nil, err
		}
		l = And{l, r}
	}
}

func (p *parser) unary(field string) (Node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > MaxDepth {
		return nil, &Error{Pos: p.tok.pos, Msg: fmt.Sprintf("the query nests parentheses and NOT more than %d deep: simplify it", MaxDepth)}
	}
	if p.tok.kind == tNot {
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.unary(field)
		if err != nil {
			return nil, err
		}
		return Not{x}, nil
	}
	return p.primary(field)
}

func (p *parser) primary(field string) (Node, error) {
	t := p.tok
	if t.kind == tWord || t.kind == tPhrase || t.kind == tRange || t.kind == tRegex {
		p.terms++
		if p.terms > MaxTerms {
			return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("the query has more than %d terms: split it into several searches or use a wildcard or range", MaxTerms)}
		}
	}
	switch t.kind {
	case tLParen:
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.or(field)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, &Error{Pos: t.pos, Msg: "unbalanced '(': add the matching ')'"}
		}
		return n, p.advance()
	case tPhrase:
		if err := p.advance(); err != nil {
			return nil, err
		}
		return Term{Field: field, Op: "=", Value: t.text, Quoted: true, Pos: t.pos}, nil
	case tRegex:
		if field != "" {
			return nil, &Error{Pos: t.pos, Msg: "a field inside field:(...) is not allowed"}
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		return Term{Field: t.field, Op: "=", Value: t.text, Regex: true, Pos: t.pos}, nil
	case tRange:
		if field == "" {
			return nil, &Error{Pos: t.pos, Msg: "a range needs a field: write field:[low TO high]"}
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		return Range{Field: field, Lo: t.lo, Hi: t.hi, IncLo: t.incLo, IncHi: t.incHi, Pos: t.pos}, nil
	case tWord:
		if t.hasField {
			if field != "" {
				return nil, &Error{Pos: t.pos, Msg: "a field inside field:(...) is not allowed"}
			}
			if t.text == "" && !t.wild && !t.inline {
				// value is the next token: phrase, range or group
				if err := p.advance(); err != nil {
					return nil, err
				}
				switch p.tok.kind {
				case tPhrase, tRange, tLParen:
					return p.primary(t.field)
				}
				return nil, &Error{Pos: p.tok.pos, Msg: fmt.Sprintf("field %q has no value", t.field)}
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
			return wordTerm(t.field, t), nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if t.text == "\x00*" && field == "" {
			return MatchAll{}, nil
		}
		return wordTerm(field, t), nil
	case tEOF:
		return nil, &Error{Pos: t.pos, Msg: "the query ends where a term was expected"}
	case tRParen:
		return nil, &Error{Pos: t.pos, Msg: "unexpected ')'"}
	case tAnd, tOr:
		return nil, &Error{Pos: t.pos, Msg: "AND/OR needs a term on each side"}
	}
	return nil, &Error{Pos: t.pos, Msg: "unexpected token"}
}

func wordTerm(field string, t token) Node {
	if field != "" && t.wild && t.text == "\x00*" {
		return Exists{Field: field, Pos: t.pos}
	}
	switch {
	case t.ref:
		return Term{Field: field, Op: "=", Value: t.text, Ref: true, Fold: t.fold, Pos: t.pos}
	case t.quoted:
		return Term{Field: field, Op: "=", Value: t.text, Quoted: true, Fold: t.fold, Pos: t.pos}
	case t.fold:
		// No comparison operators: ~ is for text, compared whole.
		return Term{Field: field, Op: "=", Value: t.text, Wildcard: t.wild, Fold: true, Pos: t.pos}
	}
	op, v := "=", t.text
	if field != "" && !t.wild {
		for _, o := range []string{">=", "<=", ">", "<"} {
			if strings.HasPrefix(v, o) {
				op, v = o, v[len(o):]
				break
			}
		}
	}
	return Term{Field: field, Op: op, Value: v, Wildcard: t.wild, Pos: t.pos}
}

// Pattern converts a wildcard value to a SQL LIKE pattern (escape char '\').
func Pattern(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == 0 && i+1 < len(v) {
			i++
			if v[i] == '*' {
				b.WriteByte('%')
			} else {
				b.WriteByte('_')
			}
			continue
		}
		if c == '%' || c == '_' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Literal returns a wildcard value with its markers removed, for display
// and for non-wildcard comparisons.
func Literal(v string) string { return strings.ReplaceAll(v, "\x00", "") }

// Fields returns every field name the query mentions with its position.
func Fields(n Node) []Term {
	var out []Term
	var walk func(Node)
	walk = func(n Node) {
		switch x := n.(type) {
		case And:
			walk(x.L)
			walk(x.R)
		case Or:
			walk(x.L)
			walk(x.R)
		case Not:
			walk(x.X)
		case Term:
			if x.Field != "" {
				out = append(out, Term{Field: x.Field, Pos: x.Pos})
			}
			if x.Ref {
				out = append(out, Term{Field: x.Value, Pos: x.Pos})
			}
		case Range:
			out = append(out, Term{Field: x.Field, Pos: x.Pos})
		case Exists:
			out = append(out, Term{Field: x.Field, Pos: x.Pos})
		}
	}
	walk(n)
	return out
}

// Terms counts the terms of a parsed query (comparisons, ranges, field
// existence): a measure of what evaluating it costs per record.
func Terms(n Node) int {
	switch x := n.(type) {
	case And:
		return Terms(x.L) + Terms(x.R)
	case Or:
		return Terms(x.L) + Terms(x.R)
	case Not:
		return Terms(x.X)
	case MatchAll, nil:
		return 0
	}
	return 1
}
