package query

import (
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/trawlhq/trawl/internal/interflow"
)

// rawRecord is an AWS Events record whose raw text is raw.
func rawRecord(raw string) interflow.Values {
	r := interflow.New(interflow.Events())
	r.Set(interflow.FRaw, raw)
	return r
}

// reachedTexts are the texts of the values a path reaches in doc (a
// list's: its elements'), at most four.
func reachedTexts(doc *fastjson.Value, path []string) []string {
	var out []string
	reach(doc, path, func(v *fastjson.Value) bool {
		vals := []*fastjson.Value{v}
		if v.Type() == fastjson.TypeArray {
			vals = v.GetArray()
		}
		for _, e := range vals {
			if s, ok := valueText(e); ok {
				out = append(out, s)
			}
		}
		return len(out) >= 4
	})
	return out
}

// wrapInList replaces the object at path[:m] (reached through objects
// only) by a list holding it, nested and among other elements as shape
// says, and returns the document's text; ok is false where there is no
// such object. The values path reaches are the same in the new
// document: that is what looking through lists means.
func wrapInList(doc *fastjson.Value, path []string, m int, shape uint8) (string, bool) {
	parent := doc
	for _, k := range path[:m-1] {
		o, err := parent.Object()
		if err != nil {
			return "", false
		}
		if parent = o.Get(k); parent == nil {
			return "", false
		}
	}
	po, err := parent.Object()
	if err != nil {
		return "", false
	}
	target := po.Get(path[m-1])
	if target == nil || target.Type() != fastjson.TypeObject {
		return "", false
	}
	var a fastjson.Arena
	list := func(vs ...*fastjson.Value) *fastjson.Value {
		l := a.NewArray()
		for i, v := range vs {
			l.SetArrayItem(i, v)
		}
		return l
	}
	var wrapped *fastjson.Value
	switch shape % 4 {
	case 0:
		wrapped = list(target)
	case 1:
		wrapped = list(a.NewNull(), target, a.NewNumberInt(7))
	case 2:
		wrapped = list(list(target))
	default:
		wrapped = list(a.NewString("s"), a.NewObject(), list(list(list(target))), a.NewNull())
	}
	po.Set(path[m-1], wrapped)
	// JSONText, not fastjson's MarshalTo: that writes a string it has
	// unescaped with Go's escapes (\x01), which are not JSON.
	return string(JSONText(nil, doc)), true
}

// FuzzRawPathThroughLists: on any JSON record and path, a term matches
// the texts of the values its path reaches and not a text none has;
// wrapping an object on the way in a list (nested, among nulls, scalars
// and objects without the key; within ListDepth) changes neither what
// the path reaches nor presence; and a path that meets no list reaches
// exactly what it reached before lists were looked through (fastjson's
// plain lookup).
func FuzzRawPathThroughLists(f *testing.F) {
	for _, s := range []struct {
		doc, path string
		shape     uint8
	}{
		{`{"labels":[{"name":"awswaf:managed:aws:sql-database:SQLi_QueryArguments"}],"x":1}`, "labels.name", 0},
		{`{"requestParameters":{"ipPermissions":{"items":[{"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}}`, "requestParameters.ipPermissions.items.ipRanges.items.cidrIp", 5},
		{`{"a":{"b":{"c":"v","d":[1,{"e":null}]}}}`, "a.b.c", 6},
		{`{"a":{"b":{"c":{"k":1.50}}}}`, "a.b.c", 7},
		{`{"a":[[{"b":"deep"}],null,3],"a":{"b":"dup"}}`, "a.b", 1},
		{`{"a":{"b":[]}}`, "a.b", 2},
	} {
		f.Add(s.doc, s.path, s.shape)
	}
	f.Fuzz(func(t *testing.T, raw, dotted string, shape uint8) {
		path := strings.Split(dotted, ".")
		if len(path) > 6 || strings.ContainsAny(dotted, "\\\"") || strings.Contains("."+dotted+".", "..") {
			return
		}
		doc, err := fastjson.Parse(raw)
		if err != nil || doc.Type() != fastjson.TypeObject {
			return
		}
		v := rawRecord(raw)
		has := Eval(RawPath{Path: path, Has: true}, v)
		texts := reachedTexts(doc, path)
		for _, s := range texts {
			if !Eval(RawPath{Path: path, V: s}, v) {
				t.Fatalf("%s on %s: reaches %q, but the term on it does not match", dotted, raw, s)
			}
		}
		if Eval(RawPath{Path: path, V: "\x00none"}, v) {
			t.Fatalf("%s on %s matches a text no value has", dotted, raw)
		}
		if plainChecks(t, doc, path) && len(texts) > 0 && !has {
			t.Fatalf("%s on %s: texts %q but not present", dotted, raw, texts)
		}
		if len(path) < 2 {
			return
		}
		m := 1 + int(shape/4)%(len(path)-1)
		wrapped, ok := wrapInList(doc, path, m, shape)
		if !ok {
			return
		}
		w := rawRecord(wrapped)
		if Eval(RawPath{Path: path, Has: true}, w) != has {
			t.Fatalf("%s: presence changed from %v wrapping %s in a list: %s -> %s", dotted, has, strings.Join(path[:m], "."), raw, wrapped)
		}
		for _, s := range texts {
			if !Eval(RawPath{Path: path, V: s}, w) {
				t.Fatalf("%s: %q no longer matches wrapping %s in a list: %s -> %s", dotted, s, strings.Join(path[:m], "."), raw, wrapped)
			}
		}
	})
}

// plainChecks holds reach to fastjson's plain lookup where the path
// meets no list (only objects on the way): one value, the plain one. It
// reports whether the path met none.
func plainChecks(t *testing.T, doc *fastjson.Value, path []string) bool {
	t.Helper()
	cur := doc
	for _, k := range path[:len(path)-1] {
		o, err := cur.Object()
		if err != nil {
			return false
		}
		if cur = o.Get(k); cur == nil || cur.Type() != fastjson.TypeObject {
			return cur == nil
		}
	}
	o, _ := cur.Object()
	plain := o.Get(path[len(path)-1])
	var got []*fastjson.Value
	reach(doc, path, func(v *fastjson.Value) bool { got = append(got, v); return false })
	if (plain == nil) != (len(got) == 0) || len(got) > 1 || plain != nil && got[0] != plain {
		t.Fatalf("%s on %s: reached %d values, the plain lookup %v", strings.Join(path, "."), doc, len(got), plain)
	}
	return true
}

// TestRawPathThroughLists: the cases the fuzz target starts from, and
// the bound on lists in lists.
func TestRawPathThroughLists(t *testing.T) {
	rec := rawRecord(`{"labels":[{"name":"SQLi_QueryArguments"},[[[{"name":"four"}]]],[[[[{"name":"five"}]]]],null,{"name":null}],"r":[{"a":{"b":1}}]}`)
	for _, c := range []struct {
		x    RawPath
		want bool
	}{
		{RawPath{Path: []string{"labels", "name"}, V: "SQLi_QueryArguments"}, true},
		{RawPath{Path: []string{"labels", "name"}, Like: true, Fold: true, Pattern: Wildcard("\x00*sqli\x00*")}, true},
		{RawPath{Path: []string{"labels", "name"}, V: "four"}, true},
		{RawPath{Path: []string{"labels", "name"}, V: "five"}, false},
		{RawPath{Path: []string{"labels", "name"}, Has: true}, true},
		{RawPath{Path: []string{"labels", "nom"}, Has: true}, false},
		{RawPath{Path: []string{"r", "a"}, V: `{"b":1}`}, true},
		{RawPath{Path: []string{"r", "a", "b"}, V: "1"}, true},
		{RawPath{Path: []string{"r", "0", "a", "b"}, V: "1"}, false},
	} {
		if got := Eval(c.x, rec); got != c.want {
			t.Errorf("%v: %v, want %v", c.x, got, c.want)
		}
	}
	ref := FieldEq{L: Operand{Field: -1, Path: []string{"r", "a", "b"}}, R: Operand{Field: -1, Path: []string{"r", "a", "b"}}}
	if Eval(ref, rec) {
		t.Error("a reference through a list has a value")
	}
}
