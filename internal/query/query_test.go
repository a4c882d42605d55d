package query

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// show renders an AST compactly for comparison.
func show(n Node) string {
	switch x := n.(type) {
	case And:
		return "(" + show(x.L) + " AND " + show(x.R) + ")"
	case Or:
		return "(" + show(x.L) + " OR " + show(x.R) + ")"
	case Not:
		return "NOT " + show(x.X)
	case Term:
		s := x.Field + x.Op + strings.ReplaceAll(x.Value, "\x00", "")
		if x.Quoted {
			s = x.Field + x.Op + `"` + x.Value + `"`
		}
		if x.Wildcard {
			s += "~"
		}
		return s
	case Range:
		return fmt.Sprintf("%s[%s..%s %v %v]", x.Field, x.Lo, x.Hi, x.IncLo, x.IncHi)
	case Exists:
		return x.Field + ":*"
	case MatchAll:
		return "ALL"
	}
	return "?"
}

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"":                                      "ALL",
		"*":                                     "ALL",
		"event_name:GetObject":                  "event_name=GetObject",
		"event_name:Get*":                       "event_name=Get*~",
		`user.name:"john smith"`:                `user.name="john smith"`,
		"srcip:10.0.0.0/8":                      "srcip=10.0.0.0/8",
		"srcport:[1 TO 1024]":                   "srcport[1..1024 true true]",
		"bytes:{100 TO *}":                      "bytes[100..* false false]",
		"bytes:>1000":                           "bytes>1000",
		"bytes:<=5":                             "bytes<=5",
		"error_code:*":                          "error_code:*",
		"a:1 b:2":                               "(a=1 AND b=2)",
		"a:1 OR b:2 c:3":                        "(a=1 OR (b=2 AND c=3))",
		"NOT a:1":                               "NOT a=1",
		"-a:1 !b:2":                             "(NOT a=1 AND NOT b=2)",
		"(a:1 OR a:2) AND NOT c:3":              "((a=1 OR a=2) AND NOT c=3)",
		"event_name:(CreateUser OR DeleteUser)": "(event_name=CreateUser OR event_name=DeleteUser)",
		"mimikatz":                              "=mimikatz",
		`"access denied"`:                       `="access denied"`,
		`user.arn:arn:aws:iam::1:user/x`:        "user.arn=arn:aws:iam::1:user/x",
		`a:b\*c`:                                "a=b*c",
		"a:1 && b:2 || c:3":                     "((a=1 AND b=2) OR c=3)",
	} {
		n, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if got := show(n); got != want {
			t.Errorf("Parse(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for in, pos := range map[string]int{
		"(a:1":        0,
		"a:1)":        3,
		`a:"unclosed`: 2,
		"a:[1 TO":     2,
		"a:[1 2]":     2,
		"a:1 AND":     7,
		"OR a:1":      0,
		"[1 TO 2]":    0,
		"event_name:": 11,
		"a:~[1 TO 2]": 3,
		"a:~/x/":      3,
		"a:@":         3,
		"a:~":         3,
	} {
		_, err := Parse(in)
		var qe *Error
		if !errors.As(err, &qe) {
			t.Errorf("Parse(%q): want error, got %v", in, err)
			continue
		}
		if qe.Pos != pos {
			t.Errorf("Parse(%q): error at %d, want %d: %s", in, qe.Pos, pos, qe.Msg)
		}
	}
}

func TestPattern(t *testing.T) {
	n, _ := Parse("a:Get*Obj?ct_100%")
	tm := n.(Term)
	if got := Pattern(tm.Value); got != `Get%Obj_ct\_100\%` {
		t.Errorf("Pattern = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a:1 OR (b:2 AND NOT c:[1 TO 2])", `"x y" z:*`, "a:>5", `\"`, "raw.labels.name:~*sqli*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) || qe.Pos < 0 || qe.Pos > len(s) {
				t.Fatalf("bad error for %q: %v", s, err)
			}
			return
		}
		if n == nil {
			t.Fatal("nil AST without error")
		}
	})
}

func TestWordsAndBoundaries(t *testing.T) {
	var got []string
	Words(`{"eventName":"GetObject","x":"déjà-VU_2"} 10.1.2.3`, func(w string) { got = append(got, w) })
	if strings.Join(got, " ") != "eventname getobject x déjà vu_2 10 1 2 3" {
		t.Errorf("Words = %q", got)
	}
	for _, c := range []struct {
		s, needle string
		ok        bool
	}{
		{"run mimikatz.exe now", "mimikatz", true},
		{"run mimikatzx", "mimikatz", false},
		{"xmimikatz", "mimikatz", false},
		{"MIMIKATZ", "mimikatz", true},
		{"eni-4242", "eni-42", false},
		{"eni-42 x", "eni-42", true},
		{"a/admin", "/admin", true},
		{"a/administrator", "/admin", false},
		{"1.10.1.2.3", "10.1.2.3", true},
		{"110.1.2.3", "10.1.2.3", false},
		{"abc abcd", "abcd", true},
		{"Déjà vu", "déjà", true},
	} {
		if ContainsWords(c.s, c.needle) != c.ok {
			t.Errorf("ContainsWords(%q, %q) != %v", c.s, c.needle, c.ok)
		}
	}
}
