package detect

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/trawlhq/trawl/internal/query"
)

// condError is a condition refused at a byte position.
type condError struct {
	pos int
	msg string
}

func (e *condError) Error() string { return fmt.Sprintf("at %d: %s", e.pos, e.msg) }

type condTok struct {
	text string // lower-cased for keywords
	raw  string
	pos  int
}

// lexCondition splits a condition into words, parentheses and operators.
func lexCondition(s string) []condTok {
	var out []condTok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '|' || c == ',':
			out = append(out, condTok{text: string(c), raw: string(c), pos: i})
			i++
		case c == '>' || c == '<' || c == '=':
			j := i + 1
			if j < len(s) && s[j] == '=' {
				j++
			}
			out = append(out, condTok{text: s[i:j], raw: s[i:j], pos: i})
			i = j
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()|,<>=", rune(s[j])) {
				j++
			}
			out = append(out, condTok{text: strings.ToLower(s[i:j]), raw: s[i:j], pos: i})
			i = j
		}
	}
	return out
}

type condParser struct {
	toks     []condTok
	i        int
	end      int
	searches map[string]query.Node
	depth    int
}

func (p *condParser) peek() condTok {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return condTok{pos: p.end}
}

func (p *condParser) fail(t condTok, format string, args ...any) error {
	return &condError{pos: t.pos, msg: fmt.Sprintf(format, args...)}
}

// parseCondition compiles a condition over named selections: the event
// query, and the count aggregation after a "|", if any.
func parseCondition(s string, searches map[string]query.Node) (query.Node, *Count, error) {
	p := &condParser{toks: lexCondition(s), end: len(s), searches: searches}
	if len(p.toks) == 0 {
		return nil, nil, &condError{pos: 0, msg: "the condition is empty: name a selection"}
	}
	q, err := p.or()
	if err != nil {
		return nil, nil, err
	}
	var count *Count
	if t := p.peek(); t.text == "|" {
		p.i++
		if count, err = p.aggregation(); err != nil {
			return nil, nil, err
		}
	}
	if p.i < len(p.toks) {
		return nil, nil, p.fail(p.peek(), "unexpected %q", p.peek().raw)
	}
	return q, count, nil
}

func (p *condParser) or() (query.Node, error) {
	l, err := p.and()
	for err == nil && p.peek().text == "or" {
		p.i++
		var r query.Node
		if r, err = p.and(); err == nil {
			l = query.Or{L: l, R: r}
		}
	}
	return l, err
}

func (p *condParser) and() (query.Node, error) {
	l, err := p.not()
	for err == nil && p.peek().text == "and" {
		p.i++
		var r query.Node
		if r, err = p.not(); err == nil {
			l = query.And{L: l, R: r}
		}
	}
	return l, err
}

func (p *condParser) not() (query.Node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 32 {
		return nil, p.fail(p.peek(), "nested more than 32 deep: simplify the condition")
	}
	if p.peek().text == "not" {
		p.i++
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return query.Not{X: x}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (query.Node, error) {
	t := p.peek()
	switch t.text {
	case "":
		return nil, p.fail(t, "the condition ends where a selection was expected")
	case "(":
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek().text != ")" {
			return nil, p.fail(t, "unbalanced '(': add the matching ')'")
		}
		p.i++
		return n, nil
	case "1", "all", "any":
		if p.i+1 < len(p.toks) && p.toks[p.i+1].text == "of" {
			return p.quantified()
		}
	case ")", "|", "and", "or", ",":
		return nil, p.fail(t, "unexpected %q where a selection was expected", t.raw)
	}
	n, ok := p.searches[t.raw]
	if !ok {
		return nil, p.fail(t, "no selection is named %q (selections: %s)", t.raw, strings.Join(names(p.searches, "*"), ", "))
	}
	p.i++
	return n, nil
}

// quantified compiles "1 of pattern", "all of pattern", "1 of them".
func (p *condParser) quantified() (query.Node, error) {
	q := p.peek()
	p.i += 2 // quantifier, "of"
	t := p.peek()
	if t.text == "" {
		return nil, p.fail(t, "%s of what? name a selection pattern or them", q.raw)
	}
	p.i++
	pattern := t.raw
	if t.text == "them" {
		pattern = "*"
	}
	var out query.Node
	for _, name := range names(p.searches, pattern) {
		if t.text == "them" && strings.HasPrefix(name, "_") {
			continue // Sigma: "them" leaves out names starting with _
		}
		if q.text == "all" {
			out = and(out, p.searches[name])
		} else {
			out = or(out, p.searches[name])
		}
	}
	if out == nil {
		return nil, p.fail(t, "no selection matches %q", t.raw)
	}
	return out, nil
}

// aggregation reads "count() by f > n" or "count(f) by g >= n".
func (p *condParser) aggregation() (*Count, error) {
	t := p.peek()
	switch t.text {
	case "count":
	case "near":
		return nil, p.fail(t, "near (events that occur together) is not supported: Trawl does not correlate events; after | it supports count() or count(field), then optionally by field, then a comparison")
	default:
		return nil, p.fail(t, "%s is not supported: after | Trawl supports count() or count(field), then optionally by field, then a comparison", t.raw)
	}
	p.i++
	c := &Count{}
	if p.peek().text != "(" {
		return nil, p.fail(p.peek(), "write count() or count(field)")
	}
	p.i++
	if t := p.peek(); t.text != ")" && t.text != "" {
		c.Field = t.raw
		p.i++
	}
	if p.peek().text != ")" {
		return nil, p.fail(p.peek(), "count( needs its closing )")
	}
	p.i++
	if p.peek().text == "by" {
		p.i++
		t := p.peek()
		if t.text == "" || strings.ContainsAny(t.text, "()<>=|") {
			return nil, p.fail(t, "by needs a field")
		}
		c.GroupBy = t.raw
		p.i++
	}
	op := p.peek()
	switch op.text {
	case ">", ">=", "<", "<=", "==", "=":
	default:
		return nil, p.fail(op, "the count needs a comparison (> 5)")
	}
	c.Op = op.text
	if c.Op == "=" {
		c.Op = "=="
	}
	p.i++
	n := p.peek()
	v, err := strconv.ParseInt(n.text, 10, 64)
	if err != nil || v < 0 {
		return nil, p.fail(n, "the count is compared with a whole number")
	}
	c.Threshold = v
	p.i++
	return c, nil
}
