package query

import (
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// JSONText appends a JSON value's text as DuckDB prints a JSON value
// (json_extract(...)::VARCHAR, which re-writes the document with yyjson):
// no white space, keys in their order, strings with only '"', '\' and
// control characters escaped, integers as written and other numbers by
// jsonNumber. The lake compares an object's text in SQL and query.Eval in
// Go: both must print it the same.
func JSONText(dst []byte, v *fastjson.Value) []byte {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		dst = append(dst, '{')
		first := true
		o.Visit(func(k []byte, e *fastjson.Value) {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = jsonString(dst, k)
			dst = append(dst, ':')
			dst = JSONText(dst, e)
		})
		return append(dst, '}')
	case fastjson.TypeArray:
		dst = append(dst, '[')
		for i, e := range v.GetArray() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = JSONText(dst, e)
		}
		return append(dst, ']')
	case fastjson.TypeString:
		return jsonString(dst, v.GetStringBytes())
	case fastjson.TypeNumber:
		text := v.String()
		if !strings.ContainsAny(text, ".eE") {
			return append(dst, text...)
		}
		return append(dst, jsonNumber(text)...)
	}
	return append(dst, v.String()...) // true, false, null
}

// jsonString appends s quoted as yyjson writes it.
func jsonString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// jsonNumber prints a JSON number that is not an integer as yyjson does:
// the shortest text that reads back as the same float64, in decimal
// notation (with ".0" when whole) from 1e-6 up to 1e21, else as d.ddde±x
// without a '+' or leading zeros in the exponent.
func jsonNumber(text string) string {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return text // out of range: DuckDB keeps what it cannot read
	}
	a := f
	if a < 0 {
		a = -a
	}
	if a == 0 || (a >= 1e-6 && a < 1e21) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
	if neg {
		exp = "-" + exp
	}
	return mant + "e" + exp
}
