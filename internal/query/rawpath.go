package query

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/trawlhq/trawl/internal/interflow"
)

// RawPrefix names a value inside the original JSON record rather than an
// Interflow field: raw.requestParameters.bucketName is the record's
// requestParameters.bucketName. It reaches what Interflow does not
// normalise, for searches and for detection rules written with
// CloudTrail's own field names.
const RawPrefix = "raw."

// RawPath matches a value inside the record's raw JSON. The path is
// followed from the record's top-level object, key by key; where it meets
// a list before its end, the rest of the path applies to each element
// (lists nested in it too, ListDepth deep), so it may reach many values,
// and the term matches when any one does: labels.name reaches the name of
// every object in labels, as Sigma backends flatten arrays of objects.
// Has: a reached value is not null. Otherwise one of a value's texts must
// equal V, match Pattern when Like, or match RE anywhere when RE is set
// (as a regular expression on a normal field); with Fold, V and Pattern
// are lower-case and match the lower-cased text. A value's texts are, as
// a SIEM's keyword field holds a JSON document: a scalar's text (strings
// as they are, "true", "42", numbers as DuckDB prints them), an object's
// JSON text (JSONText), and for a list each element's (null elements
// none). Records whose raw text is not a JSON object (VPC flow lines)
// have no values.
type RawPath struct {
	Path    []string
	Has     bool
	Like    bool
	Fold    bool
	V       string
	Pattern Wildcard
	RE      *regexp.Regexp
}

func (RawPath) isExpr() {}

// JSONPath is the path in DuckDB's JSONPath syntax, every key quoted:
// the plain path, which reaches a value only through objects.
func (r RawPath) JSONPath() string { return JSONPath(r.Path) }

// JSONPath is a list of keys in DuckDB's JSONPath syntax, every key
// quoted ("$" for none).
func JSONPath(keys []string) string {
	var b strings.Builder
	b.WriteString("$")
	for _, k := range keys {
		b.WriteString(`."` + k + `"`)
	}
	return b.String()
}

func rawPath(field string) ([]string, bool) {
	if !strings.HasPrefix(field, RawPrefix) {
		return nil, false
	}
	keys := strings.Split(field[len(RawPrefix):], ".")
	for _, k := range keys {
		if k == "" {
			return nil, false
		}
	}
	return keys, true
}

// rawNode binds a term, an existence test or a range over raw.<path>.
func (b binder) rawNode(n Node) (Expr, bool, error) {
	var field string
	var pos int
	switch x := n.(type) {
	case Term:
		field, pos = x.Field, x.Pos
	case Exists:
		field, pos = x.Field, x.Pos
	case Range:
		field, pos = x.Field, x.Pos
	default:
		return nil, false, nil
	}
	keys, ok := rawPath(field)
	if !ok {
		if strings.HasPrefix(field, RawPrefix) || field == "raw." {
			return nil, true, &ValueError{Pos: pos, Msg: fmt.Sprintf("%q: name a key of the raw record after raw. (raw.requestParameters.bucketName)", field)}
		}
		return nil, false, nil
	}
	if b.s != interflow.Events() {
		return Const(false), true, nil // VPC flow records are text lines
	}
	switch x := n.(type) {
	case Exists:
		return RawPath{Path: keys, Has: true}, true, nil
	case Range:
		return nil, true, &ValueError{Pos: pos, Msg: fmt.Sprintf("%s: raw values are compared as text: use = or a wildcard, not a range", field)}
	case Term:
		if x.Op != "=" && x.Op != "" {
			return nil, true, &ValueError{Pos: pos, Msg: fmt.Sprintf("%s: raw values are compared as text: use = or a wildcard, not %s", field, x.Op)}
		}
		if x.Regex {
			re, err := compileRegex(field, x)
			if err != nil {
				return nil, true, err
			}
			return RawPath{Path: keys, RE: re}, true, nil
		}
		if x.Fold {
			v := strings.ToLower(x.Value)
			return RawPath{Path: keys, Like: x.Wildcard, Fold: true, V: v, Pattern: Wildcard(v)}, true, nil
		}
		if x.Wildcard {
			return RawPath{Path: keys, Like: true, Pattern: Wildcard(x.Value)}, true, nil
		}
		return RawPath{Path: keys, V: x.Value}, true, nil
	}
	return nil, false, nil
}

// ListDepth is how many lists nested directly in one another a step of a
// raw path looks through ([[{"k":1}]] is two). The SQL compiler unrolls
// each level (DuckDB's JSONPath has no "any depth of lists only"), so
// the two evaluators share this bound; AWS logs nest lists of objects in
// objects, not lists of lists, so 4 is ample.
const ListDepth = 4

// evalRaw evaluates a RawPath on a record's raw text: the term matches
// when any value its path reaches (see reach) matches.
func evalRaw(x RawPath, v interflow.Values) bool {
	doc := rawDoc(v)
	if doc == nil {
		return false
	}
	return reach(doc, x.Path, func(val *fastjson.Value) bool { return matchValue(x, val) })
}

// matchValue tests one reached value: Has, a non-null value; otherwise
// its text, or for a list any element's text (RawPath's texts).
func matchValue(x RawPath, val *fastjson.Value) bool {
	if val.Type() == fastjson.TypeNull {
		return false
	}
	if x.Has {
		return true
	}
	match := func(s string) bool {
		if x.Fold {
			s = strings.ToLower(s)
		}
		switch {
		case x.RE != nil:
			return x.RE.MatchString(s)
		case x.Like:
			return MatchWild(x.Pattern, s)
		}
		return s == x.V
	}
	if val.Type() == fastjson.TypeArray {
		for _, e := range val.GetArray() {
			if s, ok := valueText(e); ok && match(s) {
				return true
			}
		}
		return false
	}
	s, ok := valueText(val)
	return ok && match(s)
}

// rawDoc is a record's raw JSON when it is a JSON object, else nil: a
// path starts at the record's top-level object (VPC flow lines, and JSON
// that is not an object, have no values).
func rawDoc(v interflow.Values) *fastjson.Value {
	if d, ok := v.(*Doc); ok {
		return d.doc()
	}
	raw, ok := v.Str(interflow.FRaw)
	if !ok {
		return nil
	}
	var p fastjson.Parser
	doc, err := p.Parse(raw)
	if err != nil || doc.Type() != fastjson.TypeObject {
		return nil
	}
	return doc
}

// reach calls fn with each value path reaches from v until fn returns
// true, and reports whether it did. A key is looked up in an object
// (its first occurrence, as DuckDB's yyjson does); a list met before the
// path ends passes the rest of the path to each of its elements, lists
// in it up to ListDepth deep, as Sigma backends flatten arrays of
// objects (labels.name reaches every label's name). Keys never index a
// list: raw.a.0 is a key "0", as in SQL.
func reach(v *fastjson.Value, path []string, fn func(*fastjson.Value) bool) bool {
	if len(path) == 0 {
		return fn(v)
	}
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		if e := o.Get(path[0]); e != nil {
			return reach(e, path[1:], fn)
		}
	case fastjson.TypeArray:
		return reachList(v, path, 1, fn)
	}
	return false
}

// reachList applies path to the objects of a list at depth (1 for its
// own elements), and to those of the lists in it down to ListDepth.
func reachList(list *fastjson.Value, path []string, depth int, fn func(*fastjson.Value) bool) bool {
	for _, e := range list.GetArray() {
		switch e.Type() {
		case fastjson.TypeObject:
			if reach(e, path, fn) {
				return true
			}
		case fastjson.TypeArray:
			if depth < ListDepth && reachList(e, path, depth+1, fn) {
				return true
			}
		}
	}
	return false
}

// evalFieldEq evaluates a field reference: both operands have a text and
// the texts are equal.
func evalFieldEq(x FieldEq, v interflow.Values) bool {
	l, ok := operandText(x.L, v)
	if !ok {
		return false
	}
	r, ok := operandText(x.R, v)
	if !ok {
		return false
	}
	if x.Fold {
		return strings.ToLower(l) == strings.ToLower(r)
	}
	return l == r
}

// operandText is an operand's one text. A raw path names one value: the
// one reached through objects only, a scalar or an object. A path that
// meets a list on the way, or ends at one, has none (a list holds many
// values, and a reference compares one), as in SQL, where the plain
// JSONPath reaches nothing through a list.
func operandText(o Operand, v interflow.Values) (string, bool) {
	if o.Field >= 0 {
		return v.Str(o.Field)
	}
	val := rawDoc(v)
	for _, k := range o.Path {
		if val == nil || val.Type() != fastjson.TypeObject {
			return "", false
		}
		obj, _ := val.Object()
		val = obj.Get(k)
	}
	if val == nil || val.Type() == fastjson.TypeArray {
		return "", false
	}
	return valueText(val)
}

// valueText is a JSON value's text: scalarText, or an object's or a
// list's JSON text; null has none.
func valueText(v *fastjson.Value) (string, bool) {
	switch v.Type() {
	case fastjson.TypeObject, fastjson.TypeArray:
		return string(JSONText(nil, v)), true
	case fastjson.TypeNull:
		return "", false
	}
	return scalarText(v)
}

// scalarText is a JSON scalar as text the way DuckDB's
// json_extract_string gives it: strings as they are, booleans, integers,
// and other numbers as jsonNumber prints them.
func scalarText(v *fastjson.Value) (string, bool) {
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes()), true
	case fastjson.TypeTrue:
		return "true", true
	case fastjson.TypeFalse:
		return "false", true
	case fastjson.TypeNumber:
		text := v.String()
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return strconv.FormatInt(n, 10), true
		}
		if n, err := strconv.ParseUint(text, 10, 64); err == nil {
			return strconv.FormatUint(n, 10), true
		}
		if strings.ContainsAny(text, ".eE") {
			return jsonNumber(text), true
		}
	}
	return "", false
}

// Doc is a record's Values that parse the raw JSON once for all of the
// raw.<path> terms of many queries evaluated on it (detection at ingest
// applies every rule to each record): without it each term parses the
// record again. A Doc is reused record after record (Reset), by one
// goroutine.
type Doc struct {
	interflow.Values
	p      fastjson.Parser
	parsed *fastjson.Value
	done   bool
}

// Reset makes d the Values of v, its raw JSON not parsed yet.
func (d *Doc) Reset(v interflow.Values) { d.Values, d.parsed, d.done = v, nil, false }

func (d *Doc) doc() *fastjson.Value {
	if d.done {
		return d.parsed
	}
	d.done = true
	raw, ok := d.Values.Str(interflow.FRaw)
	if !ok {
		return nil
	}
	doc, err := d.p.Parse(raw)
	if err != nil || doc.Type() != fastjson.TypeObject {
		return nil
	}
	d.parsed = doc
	return doc
}
