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

// RawPath matches a value inside the record's raw JSON. Has: the path
// holds a non-null value. Otherwise the value must be a string, a boolean
// or an integer (compared as its text: "true", "42"), equal to V, matching
// Pattern when Like, or matching RE anywhere when RE is set (as a regular
// expression on a normal field). Records whose raw text is not JSON (VPC
// flow lines) have no such values.
type RawPath struct {
	Path    []string
	Has     bool
	Like    bool
	V       string
	Pattern Wildcard
	RE      *regexp.Regexp
}

func (RawPath) isExpr() {}

// JSONPath is the path in DuckDB's JSONPath syntax, every key quoted.
func (r RawPath) JSONPath() string {
	var b strings.Builder
	b.WriteString("$")
	for _, k := range r.Path {
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
		if x.Wildcard {
			return RawPath{Path: keys, Like: true, Pattern: Wildcard(x.Value)}, true, nil
		}
		return RawPath{Path: keys, V: x.Value}, true, nil
	}
	return nil, false, nil
}

// evalRaw evaluates a RawPath on a record's raw text.
func evalRaw(x RawPath, v interflow.Values) bool {
	raw, ok := v.Str(interflow.FRaw)
	if !ok {
		return false
	}
	var p fastjson.Parser
	doc, err := p.Parse(raw)
	if err != nil {
		return false
	}
	val := doc.Get(x.Path...)
	if val == nil || val.Type() == fastjson.TypeNull {
		return false
	}
	if x.Has {
		return true
	}
	s, ok := scalarText(val)
	if !ok {
		return false
	}
	switch {
	case x.RE != nil:
		return x.RE.MatchString(s)
	case x.Like:
		return MatchWild(x.Pattern, s)
	}
	return s == x.V
}

// scalarText is a JSON value as text the way DuckDB's json_extract_string
// gives it, for the types both sides agree on: strings, booleans and
// integers.
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
	}
	return "", false
}
