package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestHumanOutputShowsControls: a tenant's text with terminal escapes,
// C1 controls, bad UTF-8 and line breaks reaches the operator's terminal
// as visible escapes; tabs and newlines of the table itself pass.
func TestHumanOutputShowsControls(t *testing.T) {
	evil := "T\x1b[2J\x1b]0;PWN\a\nfake\rrow\x7f\u009b31m\xff"
	var b bytes.Buffer
	g := &globals{stdout: &b}
	tw := g.table()
	tw.Write([]byte("A\tB\n" + oneLine(evil) + "\tok\n"))
	tw.Flush()
	out := b.String()
	for _, c := range []string{"\x1b", "\a", "\r", "\x7f", "\u009b", "\xff"} {
		if strings.Contains(out, c) {
			t.Errorf("output holds %q raw:\n%q", c, out)
		}
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 {
		t.Errorf("the value added rows: %q", out)
	}
	for _, want := range []string{`T\x1b[2J\x1b]0;PWN\x07\x0afake\x0drow\x7f\u009b31m\xff`, "A", "ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Bidirectional overrides and isolates would reorder what follows.
	if got := oneLine("admin\u202e\u2066gnp.exe\u2069"); got != `admin\u202e\u2066gnp.exe\u2069` {
		t.Errorf("bidi controls: %q", got)
	}
	// Text without controls is written as it is, UTF-8 included.
	b.Reset()
	escaper{&b}.Write([]byte("é 日本\tx\n"))
	if b.String() != "é 日本\tx\n" {
		t.Errorf("clean text changed: %q", b.String())
	}
}
