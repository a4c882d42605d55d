package integration

// A reference Sigma evaluator, written from the Sigma specification
// (sigma-rules-specification.md and sigma-appendix-modifiers.md) and not
// from Trawl's compiler, for the conformance test: it evaluates a rule on
// one JSON record as the specification says a rule means.
//
// Its readings where the specification leaves a choice: a field name is a
// dotted path of the JSON record; a JSON null is no value (Sigma's null
// matches it, exists does not), as in a SIEM that indexes the document; a
// value that is an object is matched as its JSON text (keys in order, no
// white space) and one that is a list by any element, as a SIEM's keyword
// field holds them; a JSON number compared with a number of the rule
// compares as a number.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// jval is a JSON value that keeps its objects' key order.
type jval struct {
	kind byte // s string, n number, b boolean, z null, o object, a array
	text string
	keys []string
	vals []jval
}

func parseJSON(raw string) (jval, error) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	return readJSON(dec)
}

func readJSON(dec *json.Decoder) (jval, error) {
	tok, err := dec.Token()
	if err != nil {
		return jval{}, err
	}
	switch x := tok.(type) {
	case json.Delim:
		v := jval{kind: 'a'}
		if x == '{' {
			v.kind = 'o'
		}
		for dec.More() {
			if v.kind == 'o' {
				k, err := dec.Token()
				if err != nil {
					return v, err
				}
				v.keys = append(v.keys, k.(string))
			}
			e, err := readJSON(dec)
			if err != nil {
				return v, err
			}
			v.vals = append(v.vals, e)
		}
		_, err := dec.Token() // closing delimiter
		return v, err
	case string:
		return jval{kind: 's', text: x}, nil
	case json.Number:
		return jval{kind: 'n', text: x.String()}, nil
	case bool:
		return jval{kind: 'b', text: strconv.FormatBool(x)}, nil
	}
	return jval{kind: 'z'}, nil
}

// get follows a dotted field name; nil for absent or null.
func (v *jval) get(path string) *jval {
	cur := v
	for _, k := range strings.Split(path, ".") {
		if cur.kind != 'o' {
			return nil
		}
		var next *jval
		for i, key := range cur.keys {
			if key == k {
				next = &cur.vals[i]
				break
			}
		}
		if next == nil {
			return nil
		}
		cur = next
	}
	if cur.kind == 'z' {
		return nil
	}
	return cur
}

// jsonText writes a value as minified JSON.
func (v *jval) jsonText(b *bytes.Buffer) {
	switch v.kind {
	case 'o', 'a':
		open, end := byte('['), byte(']')
		if v.kind == 'o' {
			open, end = '{', '}'
		}
		b.WriteByte(open)
		for i := range v.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			if v.kind == 'o' {
				quoteJSON(b, v.keys[i])
				b.WriteByte(':')
			}
			v.vals[i].jsonText(b)
		}
		b.WriteByte(end)
	case 's':
		quoteJSON(b, v.text)
	case 'z':
		b.WriteString("null")
	default:
		b.WriteString(v.text)
	}
}

func quoteJSON(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c < 0x20:
			fmt.Fprintf(b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// texts are the texts a value is matched as: a scalar's, an object's
// JSON text, each element's of a list.
func (v *jval) texts() []string {
	switch v.kind {
	case 'a':
		var out []string
		for i := range v.vals {
			if e := &v.vals[i]; e.kind != 'z' {
				out = append(out, e.one())
			}
		}
		return out
	case 'z':
		return nil
	}
	return []string{v.one()}
}

func (v *jval) one() string {
	if v.kind == 'o' || v.kind == 'a' {
		var b bytes.Buffer
		v.jsonText(&b)
		return b.String()
	}
	return v.text
}

// refRule is a Sigma rule read for the reference evaluator.
type refRule struct {
	searches map[string]*yaml.Node
	cond     string
}

func parseRefRule(src []byte) (*refRule, error) {
	var doc struct {
		Detection map[string]yaml.Node `yaml:"detection"`
	}
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	r := &refRule{searches: map[string]*yaml.Node{}}
	for k, v := range doc.Detection {
		switch k {
		case "condition":
			if v.Kind == yaml.SequenceNode {
				var parts []string
				for _, c := range v.Content {
					parts = append(parts, "("+c.Value+")")
				}
				r.cond = strings.Join(parts, " or ")
			} else {
				r.cond = v.Value
			}
		case "timeframe":
		default:
			r.searches[k] = &v
		}
	}
	return r, nil
}

// matches evaluates the rule on a record (its raw JSON text).
func (r *refRule) matches(rec *jval, raw string) (bool, error) {
	c := &refCond{toks: strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(r.cond)), r: r, rec: rec, raw: raw}
	v, err := c.or()
	if err == nil && c.i < len(c.toks) {
		err = fmt.Errorf("condition %q: unexpected %q", r.cond, c.toks[c.i])
	}
	return v, err
}

type refCond struct {
	toks []string
	i    int
	r    *refRule
	rec  *jval
	raw  string
}

func (c *refCond) peek() string {
	if c.i < len(c.toks) {
		return strings.ToLower(c.toks[c.i])
	}
	return ""
}

func (c *refCond) or() (bool, error) {
	v, err := c.and()
	for err == nil && c.peek() == "or" {
		c.i++
		var w bool
		w, err = c.and()
		v = v || w
	}
	return v, err
}

func (c *refCond) and() (bool, error) {
	v, err := c.not()
	for err == nil && c.peek() == "and" {
		c.i++
		var w bool
		w, err = c.not()
		v = v && w
	}
	return v, err
}

func (c *refCond) not() (bool, error) {
	if c.peek() == "not" {
		c.i++
		v, err := c.not()
		return !v, err
	}
	return c.primary()
}

func (c *refCond) primary() (bool, error) {
	t := c.peek()
	switch {
	case t == "(":
		c.i++
		v, err := c.or()
		if c.peek() != ")" {
			return false, fmt.Errorf("unbalanced (")
		}
		c.i++
		return v, err
	case (t == "1" || t == "all" || t == "any") && c.i+2 < len(c.toks)+1 && c.i+1 < len(c.toks) && strings.ToLower(c.toks[c.i+1]) == "of":
		pat := c.toks[c.i+2]
		c.i += 3
		all, n := t == "all", 0
		for name, s := range c.r.searches {
			if pat == "them" && strings.HasPrefix(name, "_") || pat != "them" && !wildName(pat, name) {
				continue
			}
			n++
			v, err := c.search(s)
			if err != nil {
				return false, err
			}
			if v && !all {
				return true, nil
			}
			if !v && all {
				return false, nil
			}
		}
		if n == 0 {
			return false, fmt.Errorf("no selection matches %q", pat)
		}
		return all, nil
	}
	s, ok := c.r.searches[c.toks[c.i]]
	if !ok {
		return false, fmt.Errorf("no selection %q", c.toks[c.i])
	}
	c.i++
	return c.search(s)
}

func wildName(pat, name string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pat), `\*`, ".*") + "$"
	return regexp.MustCompile(re).MatchString(name)
}

// search evaluates a search identifier: a map ANDs its fields, a list ORs
// its items; strings in a list are keywords over the whole record.
func (c *refCond) search(n *yaml.Node) (bool, error) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			ok, err := fieldMatches(c.rec, n.Content[i].Value, n.Content[i+1])
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case yaml.SequenceNode:
		for _, item := range n.Content {
			var ok bool
			var err error
			if item.Kind == yaml.ScalarNode {
				ok = sigmaWild("*"+item.Value+"*", false).MatchString(c.raw)
			} else {
				ok, err = c.search(item)
			}
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("a search is a map or a list")
}

// fieldMatches evaluates "field|modifiers: values" on a record.
func fieldMatches(rec *jval, key string, v *yaml.Node) (bool, error) {
	parts := strings.Split(key, "|")
	field, mods := parts[0], map[string]bool{}
	for _, m := range parts[1:] {
		mods[m] = true
	}
	values := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		values = v.Content
	}
	val := rec.get(field)
	for _, want := range values {
		ok, err := valueMatches(rec, val, want, mods)
		if err != nil {
			return false, err
		}
		if ok && !mods["all"] {
			return true, nil
		}
		if !ok && mods["all"] {
			return false, nil
		}
	}
	return mods["all"], nil
}

func valueMatches(rec, val *jval, want *yaml.Node, mods map[string]bool) (bool, error) {
	switch {
	case mods["exists"]:
		return (val != nil) == (want.Value == "true"), nil
	case want.Tag == "!!null":
		return val == nil, nil
	case val == nil:
		return false, nil
	case mods["fieldref"]:
		other := rec.get(want.Value)
		if other == nil || other.kind == 'a' || val.kind == 'a' {
			return false, nil
		}
		if mods["cased"] {
			return val.one() == other.one(), nil
		}
		return strings.EqualFold(val.one(), other.one()), nil
	case mods["cidr"]:
		p, err := netip.ParsePrefix(want.Value)
		if err != nil {
			return false, err
		}
		for _, t := range val.texts() {
			if a, err := netip.ParseAddr(t); err == nil && p.Contains(a) {
				return true, nil
			}
		}
		return false, nil
	case mods["re"]:
		flags := ""
		for _, f := range "ims" {
			if mods[string(f)] {
				flags += string(f)
			}
		}
		expr := want.Value
		if flags != "" {
			expr = "(?" + flags + ")" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return false, err
		}
		return anyText(val, re.MatchString), nil
	case (want.Tag == "!!int" || want.Tag == "!!float") && val.kind == 'n':
		a, err1 := strconv.ParseFloat(want.Value, 64)
		b, err2 := strconv.ParseFloat(val.text, 64)
		return err1 == nil && err2 == nil && a == b, nil
	}
	for _, pat := range patterns(want.Value, mods) {
		if anyText(val, sigmaWild(pat, mods["cased"]).MatchString) {
			return true, nil
		}
	}
	return false, nil
}

func anyText(v *jval, fn func(string) bool) bool {
	for _, t := range v.texts() {
		if fn(t) {
			return true
		}
	}
	return false
}

// patterns are the Sigma strings (with wildcards) a value stands for
// after its transformations: windash, base64, base64offset, and the
// contains/startswith/endswith wildcards.
func patterns(v string, mods map[string]bool) []string {
	vs := []string{v}
	if mods["windash"] {
		vs = nil
		var gen func(prefix, rest string)
		gen = func(prefix, rest string) {
			if rest == "" {
				vs = append(vs, prefix)
				return
			}
			r := []rune(rest)
			alts := []string{string(r[0])}
			if strings.ContainsRune("-/\u2013\u2014\u2015", r[0]) {
				alts = []string{"-", "/", "\u2013", "\u2014", "\u2015"}
			}
			for _, a := range alts {
				gen(prefix+a, string(r[1:]))
			}
		}
		gen("", v)
	}
	var out []string
	for _, s := range vs {
		switch {
		case mods["base64"]:
			out = append(out, escapeWild(base64.StdEncoding.EncodeToString([]byte(s))))
		case mods["base64offset"]:
			// The value at byte offset 0, 1 and 2 of a Base64 text: what
			// the encoding of the shifted value has that does not depend
			// on the bytes around it.
			for i := range 3 {
				enc := base64.StdEncoding.EncodeToString(append(bytes.Repeat([]byte{' '}, i), s...))
				lead := []int{0, 2, 3}[i]
				trail := []int{0, 3, 2}[(len(s)+i)%3]
				if len(enc)-trail > lead {
					out = append(out, escapeWild(enc[lead:len(enc)-trail]))
				}
			}
		default:
			out = append(out, s)
		}
	}
	for i, s := range out {
		switch {
		case mods["contains"]:
			out[i] = "*" + s + "*"
		case mods["startswith"]:
			out[i] = s + "*"
		case mods["endswith"]:
			out[i] = "*" + s
		}
	}
	return out
}

func escapeWild(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(s)
}

// sigmaWild compiles a Sigma string: * any run, ? one character, \*, \?
// and \\ literal, any other \ literal; whole value, regardless of case
// unless cased.
func sigmaWild(s string, cased bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s")
	if !cased {
		b.WriteString("i")
	}
	b.WriteString(")^")
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && strings.IndexByte(`*?\`, s[i+1]) >= 0:
			b.WriteString(regexp.QuoteMeta(string(s[i+1])))
			i++
		case c == '*':
			b.WriteString(".*")
		case c == '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
