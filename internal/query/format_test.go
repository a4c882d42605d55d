package query

import "testing"

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
	for _, s := range []string{"a:1 OR (b:2 AND NOT c:[1 TO 2])", `"x y" z:*`, "a:>5", `\"`, `a:*\ b?`, `-a:1`, `a:/x\/y[0-9]+/`} {
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
