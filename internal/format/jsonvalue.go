package format

import (
	"fmt"

	"github.com/valyala/fastjson"
)

// ParseObject parses one JSON record with p (reused between records) and
// requires an object; anything else is a *RecordError naming the problem.
func ParseObject(p *fastjson.Parser, raw []byte) (*fastjson.Value, error) {
	// Validate first: the parser alone tolerates malformed numbers.
	if err := fastjson.ValidateBytes(raw); err != nil {
		return nil, &RecordError{Reason: fmt.Sprintf("record is not valid JSON: %v", err), Raw: raw}
	}
	v, err := p.ParseBytes(raw)
	if err != nil {
		return nil, &RecordError{Reason: fmt.Sprintf("record is not valid JSON: %v", err), Raw: raw}
	}
	if v.Type() != fastjson.TypeObject {
		return nil, &RecordError{Reason: "record is not a JSON object: each record must be {...}", Raw: raw}
	}
	return v, nil
}

// JSONText returns a value as text: strings as they are, numbers and
// booleans as written, structures as JSON, null or absent as "". Real logs
// mix types in fields documented as strings.
func JSONText(v *fastjson.Value) string {
	if v == nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeNull:
		return ""
	}
	return v.String()
}

// JSONBytes is JSONText without a copy for strings: the bytes belong to
// the parser and are valid until it parses again.
func JSONBytes(v *fastjson.Value) []byte {
	if v == nil {
		return nil
	}
	switch v.Type() {
	case fastjson.TypeString:
		return v.GetStringBytes()
	case fastjson.TypeNull:
		return nil
	}
	return v.MarshalTo(nil)
}
