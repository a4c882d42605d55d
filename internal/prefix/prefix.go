// Package prefix parses connector prefixes in every form AWS writes them:
// literal AWSLogs paths with or without an Organization ID, a "*" in place of
// the account ID (Control Tower), and custom prefixes with the date variables
// //YYYY// //m// //mm// //d// //dd// //H// //HH// //M// //MM//.
//
// A Template is parsed once; it tells the lister which literal prefix to list
// under and whether a key belongs to the connector.
package prefix

import (
	"fmt"
	"regexp"
	"strings"
)

// Error is a template problem with the byte position it was found at.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("prefix: at position %d: %s", e.Pos, e.Msg) }

// Var is a date variable.
type Var string

// The date variables, exactly as written between double slashes.
const (
	Year      Var = "YYYY"
	Month1    Var = "m"
	Month2    Var = "mm"
	Day1      Var = "d"
	Day2      Var = "dd"
	Hour1     Var = "H"
	Hour2     Var = "HH"
	Minute1   Var = "M"
	Minute2   Var = "MM"
	Wildcard  Var = "*"
	noVarName Var = ""
)

func varPattern(v Var) string {
	switch v {
	case Year:
		return `[0-9]{4}`
	case Month1:
		return `(?:1[0-2]|0?[1-9])`
	case Month2:
		return `(?:0[1-9]|1[0-2])`
	case Day1:
		return `(?:[12][0-9]|3[01]|0?[1-9])`
	case Day2:
		return `(?:0[1-9]|[12][0-9]|3[01])`
	case Hour1:
		return `(?:1[0-9]|2[0-3]|0?[0-9])`
	case Hour2:
		return `(?:[01][0-9]|2[0-3])`
	case Minute1:
		return `(?:[1-5][0-9]|0?[0-9])`
	case Minute2:
		return `[0-5][0-9]`
	case Wildcard:
		return `[^/]+`
	}
	return ""
}

// Segment is one piece of a template: literal text or a variable.
type Segment struct {
	Lit string
	Var Var
	Pos int
}

// Template is a parsed prefix.
type Template struct {
	raw  string
	segs []Segment
	re   *regexp.Regexp
}

// Options restricts what a template may contain.
type Options struct {
	// AllowWildcard permits "*" in place of an account ID.
	AllowWildcard bool
}

// Parse parses and validates a prefix template.
func Parse(s string, opt Options) (*Template, error) {
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
		return nil, &Error{Pos: 0, Msg: "remove the leading '/': S3 keys do not start with one"}
	}
	t := &Template{raw: s}
	var lit strings.Builder
	flush := func(pos int) {
		if lit.Len() > 0 {
			t.segs = append(t.segs, Segment{Lit: lit.String(), Pos: pos - lit.Len()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		if v, n := varAt(s, i); n > 0 {
			flush(i)
			t.segs = append(t.segs, Segment{Var: v, Pos: i})
			i += n
			continue
		}
		c := s[i]
		switch {
		case c == '*':
			if !opt.AllowWildcard {
				return nil, &Error{Pos: i, Msg: "'*' is allowed only in place of the account ID, and only for cloudtrail and vpcflow connectors"}
			}
			before := i == 0 || s[i-1] == '/'
			after := i+1 == len(s) || s[i+1] == '/'
			if !before || !after {
				return nil, &Error{Pos: i, Msg: "'*' must stand alone as a whole path segment in place of the account ID, e.g. AWSLogs/o-abc123defg/*/CloudTrail"}
			}
			flush(i)
			t.segs = append(t.segs, Segment{Var: Wildcard, Pos: i})
			i++
		case c < 0x20 || c == 0x7f:
			return nil, &Error{Pos: i, Msg: "control characters are not allowed in a prefix"}
		case c >= 0x80:
			return nil, &Error{Pos: i, Msg: "only ASCII characters are allowed in a prefix"}
		case c == '/' && unknownVarAt(s, i) != "":
			return nil, &Error{Pos: i, Msg: fmt.Sprintf("unknown date variable %q: use one of //YYYY// //m// //mm// //d// //dd// //H// //HH// //M// //MM// (they are case-sensitive: m is month, M is minute)", unknownVarAt(s, i))}
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush(len(s))
	if n := len(t.segs); n > 0 && t.segs[n-1].Var == noVarName && strings.HasSuffix(t.segs[n-1].Lit, "/") {
		return nil, &Error{Pos: len(s) - 1, Msg: "remove the trailing '/': write the prefix as a folder path without it, e.g. AWSLogs/123456789012/CloudTrail"}
	}
	var wild int
	for _, sg := range t.segs {
		if sg.Var == Wildcard {
			wild++
		}
	}
	if wild > 1 {
		return nil, &Error{Pos: strings.LastIndex(s, "*"), Msg: "only one '*' (the account ID) is allowed"}
	}
	var re strings.Builder
	re.WriteString("^")
	for _, sg := range t.segs {
		if sg.Var != noVarName {
			re.WriteString(varPattern(sg.Var))
		} else {
			re.WriteString(regexp.QuoteMeta(sg.Lit))
		}
	}
	if s != "" {
		re.WriteString("/")
	}
	t.re = regexp.MustCompile(re.String())
	return t, nil
}

// varAt returns the variable token starting at i ("//YYYY//") and its length.
func varAt(s string, i int) (Var, int) {
	if !strings.HasPrefix(s[i:], "//") {
		return noVarName, 0
	}
	for _, v := range []Var{Year, Month2, Month1, Day2, Day1, Hour2, Hour1, Minute2, Minute1} {
		tok := "//" + string(v) + "//"
		if strings.HasPrefix(s[i:], tok) {
			return v, len(tok)
		}
	}
	return noVarName, 0
}

// unknownVarAt returns a "//word//" token at i that is not a known variable,
// so a typo such as //YYY// is reported instead of read as literal text.
func unknownVarAt(s string, i int) string {
	if !strings.HasPrefix(s[i:], "//") {
		return ""
	}
	j := i + 2
	for j < len(s) && (s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z') {
		j++
	}
	if j == i+2 || !strings.HasPrefix(s[j:], "//") {
		return ""
	}
	return s[i : j+2]
}

// String returns the template as written.
func (t *Template) String() string { return t.raw }

// Segments returns the parsed pieces.
func (t *Template) Segments() []Segment { return append([]Segment(nil), t.segs...) }

// ListPrefix is the literal part before the first variable: the S3 prefix to
// list under. It is the whole template plus "/" when there are no variables.
func (t *Template) ListPrefix() string {
	if t.raw == "" {
		return ""
	}
	var b strings.Builder
	for _, sg := range t.segs {
		if sg.Var != noVarName {
			return b.String()
		}
		b.WriteString(sg.Lit)
	}
	b.WriteString("/")
	return b.String()
}

// HasVars reports whether the template has a wildcard or date variable.
func (t *Template) HasVars() bool {
	for _, sg := range t.segs {
		if sg.Var != noVarName {
			return true
		}
	}
	return false
}

// Match reports whether key lies under the template.
func (t *Template) Match(key string) bool { return t.re.MatchString(key) }

// Account returns the account ID a key was written for, taken from the
// AWSLogs/[o-xxx/]<account>/ part of the key, or "" when there is none.
func Account(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if p != "AWSLogs" {
			continue
		}
		for _, q := range parts[i+1:] {
			if strings.HasPrefix(q, "o-") {
				continue
			}
			q = strings.TrimPrefix(q, "aws-account-id=")
			if isAccountID(q) {
				return q
			}
			return ""
		}
	}
	return ""
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
