package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// fields is a JSON object's members, kept raw so that each envelope decodes
// only what it needs. Envelopes are recognised by exact member names here:
// encoding/json matches struct fields case-insensitively, which would let a
// "records" member pass for S3's "Records".
type fields map[string]json.RawMessage

func (f fields) has(name string) bool {
	_, ok := f[name]
	return ok
}

// raw re-encodes the object so a struct can decode it. It cannot fail: the
// members are JSON that was just parsed.
func (f fields) raw() []byte {
	b, _ := json.Marshal(map[string]json.RawMessage(f))
	return b
}

// names lists the members for a Detail, sorted, at most eight, quoted so an
// odd name cannot garble the sentence.
func (f fields) names() string {
	if len(f) == 0 {
		return "no members"
	}
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	more := ""
	if len(names) > 8 {
		more = fmt.Sprintf(" and %d more", len(names)-8)
		names = names[:8]
	}
	for i, n := range names {
		names[i] = fmt.Sprintf("%.40q", n)
	}
	return "members " + strings.Join(names, ", ") + more
}

// readObject parses b as one JSON object. The problem, when there is one, is
// a sentence about what (e.g. "the body") that shows how b begins.
func readObject(b []byte, what string) (fields, string) {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return nil, what + " is empty"
	}
	var f fields
	err := json.Unmarshal(trimmed, &f)
	if err == nil && f != nil {
		return f, ""
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) || (err == nil && f == nil) {
		return nil, fmt.Sprintf("%s is JSON but not an object (it begins %.40q)", what, trimmed)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return nil, fmt.Sprintf("%s is not JSON: %v at byte %d (it begins %.40q)", what, se, se.Offset, trimmed)
	}
	return nil, fmt.Sprintf("%s is not JSON: %v (it begins %.40q)", what, err, trimmed)
}

// describe turns a decoding error into a sentence that names the field, e.g.
// "s3.object.key is a JSON number, not a string".
func describe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s is a JSON %s, not %s", te.Field, te.Value, jsonKind(te.Type))
	}
	return err.Error()
}

// jsonKind names the JSON a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return t.String()
}

// parseSize reads an object size: absent or null says nothing (0, no
// problem); anything but a whole number of bytes is a problem naming field.
func parseSize(raw json.RawMessage, field string) (int64, string) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s == "null" {
		return 0, ""
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Sprintf("%s is %.40s, not a whole number of bytes; the size is left unknown", field, s)
	}
	return n, ""
}

// parseTime reads an ISO 8601 time as AWS writes it (RFC 3339, e.g.
// "1970-01-01T00:00:00.000Z"): empty says nothing; anything else unreadable
// is a problem naming field.
func parseTime(s, field string) (time.Time, string) {
	if s == "" {
		return time.Time{}, ""
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Sprintf("%s %.40q is not an RFC 3339 time; the time is left unknown", field, s)
	}
	return t.UTC(), ""
}
