package query

import (
	"math/rand/v2"
	"testing"
)

// TestFormatGoldens: each query prints back in a canonical form that parses
// to the same tree.
func TestFormatGoldens(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`event_name:ConsoleLogin`, `event_name:"ConsoleLogin"`},
		{`event_name:Get* AND NOT error_code:*`, `event_name:Get* AND NOT error_code:*`},
		{`a:1 OR b:2 AND c:3`, `a:"1" OR b:"2" AND c:"3"`},
		{`(a:1 OR b:2) AND c:3`, `(a:"1" OR b:"2") AND c:"3"`},
		{`a:1 OR (b:2 OR c:3)`, `a:"1" OR (b:"2" OR c:"3")`},
		{`NOT (a:1 AND b:2)`, `NOT (a:"1" AND b:"2")`},
		{`bytes:>1000 dstport:[1 TO 1024}`, `bytes:>1000 AND dstport:[1 TO 1024}`},
		{`srcip:10.0.0.0/8`, `srcip:"10.0.0.0/8"`},
		{`user.arn:*root\ user*`, `user.arn:*root\ user*`},
		{`uri:*\(x\)\**`, `uri:*\(x\)\**`},
		{`"quoted \"phrase\""`, `"quoted \"phrase\""`},
		{`mimikatz`, `"mimikatz"`},
		{`*`, `*`},
		{`event_name:/^(Get|List)\w+$/`, `event_name:/^(Get|List)\w+$/`},
		{`uri:/\/admin\/.*/`, `uri:/\/admin\/.*/`},
		{`event_name:~list*`, `event_name:~list*`},
		{`event_name:~ConsoleLogin`, `event_name:~"ConsoleLogin"`},
		{`event_name:~"a b"`, `event_name:~"a b"`},
		{`user.arn:~@raw.requestParameters.userName`, `user.arn:~@raw.requestParameters.userName`},
		{`user.arn:@user.name`, `user.arn:@user.name`},
		{`a:\~b*`, `a:\~b*`},
		{`a:\@b`, `a:"@b"`},
		{`a:~\@b*`, `a:~\@b*`},
	} {
		n, err := Parse(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		got := Format(n)
		if got != c.want {
			t.Errorf("Format(Parse(%q)) = %q, want %q", c.in, got, c.want)
		}
		again, err := Parse(got)
		if err != nil {
			t.Fatalf("%q does not parse back: %v", got, err)
		}
		if Format(again) != got {
			t.Errorf("%q prints back as %q", got, Format(again))
		}
	}
}

// FuzzFormat: whatever parses prints back to a query that parses, and
// printing is then stable (Format(Parse(Format(n))) == Format(n)).
func FuzzFormat(f *testing.F) {
	for _, s := range []string{"a:1 OR (b:2 AND NOT c:[1 TO 2])", `"x y" z:*`, "a:>5", `\"`, `a:*\ b?`, `-a:1`, `a:/x\/y[0-9]+/`, `a:~B*`, `a:~@b.c`, `a:~"x"`, `raw.labels.name:~*sqli*`, `raw.a.b:@raw.c.d`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		out := Format(n)
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", s, out, err)
		}
		if again := Format(back); again != out {
			t.Fatalf("%q printed as %q, then as %q", s, out, again)
		}
	})
}

// quoteRoundTrips checks that field:Quote(v) parses to one exact term
// holding v: no wildcard, no regular expression, no other term.
func quoteRoundTrips(t *testing.T, v string) {
	t.Helper()
	q := "connector:" + Quote(v)
	n, err := Parse(q)
	if err != nil {
		t.Fatalf("Quote(%q) = %q does not parse: %v", v, q, err)
	}
	term, ok := n.(Term)
	if !ok || term.Field != "connector" || term.Value != v || term.Wildcard || term.Regex || (term.Op != "=" && term.Op != "") {
		t.Fatalf("Quote(%q) = %q parses to %#v, want the exact term", v, q, n)
	}
}

// TestQuoteRoundTrips: any value, quoted, parses back to itself (a
// property test over random strings of the characters the lexer reads
// specially, and arbitrary bytes).
func TestQuoteRoundTrips(t *testing.T) {
	for _, v := range []string{"", "prod", `prod "x" trail`, `a\`, `\"`, `"`, "a b", "Get*", "a?", "/x/", "-x", "AND", "NOT", "OR", "x:y",
		"(a)", "[1 TO 2]", "{a}", ">5", "<=1", "!x", "a&&b", "a||b", "é", "\x00*", "\xff", "tab\there", "line\nbreak", "'=1"} {
		quoteRoundTrips(t, v)
	}
	special := []byte(" \t\r\n\\\"*?/:()[]{}<>=!&|-'~@\x00\xffaZ09_.")
	r := rand.New(rand.NewPCG(22, 6))
	for range 5000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = special[r.IntN(len(special))]
			}
		}
		quoteRoundTrips(t, string(b))
	}
	if Quote("prod-trail_1.x") != "prod-trail_1.x" || Quote("a b") != `"a b"` || Quote(`x"\`) != `"x\"\\"` {
		t.Errorf("Quote's forms changed: %s %s %s (the console's quoteValue must follow)", Quote("prod-trail_1.x"), Quote("a b"), Quote(`x"\`))
	}
}

// FuzzQuote: any value, quoted, parses back to itself.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", `prod "x" trail`, `a\`, "Get*"} {
		f.Add(s)
	}
	f.Fuzz(quoteRoundTrips)
}
