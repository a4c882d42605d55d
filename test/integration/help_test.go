package integration

import (
	"strings"
	"testing"
)

// TestCommandHelp: a command's --help shows its own flags first and
// points at `trawl help flags` for the global ones instead of listing
// them; that command lists them all.
func TestCommandHelp(t *testing.T) {
	data := t.TempDir()
	globals := []string{"-allow-net", "-aws-principal", "-lake-endpoint", "-data-dir", "-master-key-file", "-catalog"}
	for _, c := range []struct {
		args  []string
		first string // its first own flag, alphabetically
		name  string
	}{
		{[]string{"gen"}, "-access-key-id", "gen"},
		{[]string{"serve"}, "-addr", "serve"},
		{[]string{"search"}, "-columns", "search"},
		{[]string{"connector", "add"}, "-access-key-id", "connector add"},
		{[]string{"key", "generate"}, "-out", "key generate"},
	} {
		r := trawl(t, data, nil, append(c.args, "--help")...)
		lines := strings.Split(r.stderr, "\n")
		if r.code != 0 || len(lines) < 2 || lines[0] != "Usage of trawl "+c.name+":" || !strings.HasPrefix(lines[1]+" ", "  "+c.first+" ") {
			t.Errorf("trawl %s --help: exit %d, does not begin with its own flags:\n%s", c.name, r.code, r.stderr)
		}
		for _, g := range globals {
			if strings.Contains(r.stderr, "  "+g+" ") {
				t.Errorf("trawl %s --help lists the global %s", c.name, g)
			}
		}
		if !strings.Contains(r.stderr, "trawl help flags") {
			t.Errorf("trawl %s --help does not point at trawl help flags:\n%s", c.name, r.stderr)
		}
	}
	r := trawl(t, data, nil, "help", "flags")
	for _, g := range globals {
		if r.code != 0 || !strings.Contains(r.stdout, "  "+g+" ") {
			t.Errorf("trawl help flags: exit %d, %s missing:\n%s", r.code, g, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "  -addr ") || strings.Contains(r.stdout, "  -access-key-id ") {
		t.Errorf("trawl help flags lists a command's own flag:\n%s", r.stdout)
	}
	// A flag's usage never shows text from its help as its value name (Go's
	// flag package takes a `quoted` word for one: the outside try saw
	// "-retention trawl retention set").
	for _, args := range [][]string{{"serve", "--help"}, {"connector", "add", "--help"}, {"help", "flags"}} {
		r := trawl(t, data, nil, args...)
		for _, line := range strings.Split(r.stdout+r.stderr, "\n") {
			if f := strings.Fields(line); len(f) >= 2 && strings.HasPrefix(f[0], "-") && f[1] == "trawl" {
				t.Errorf("trawl %v: %q", args, line)
			}
		}
	}
	// A command with verbs explains them, with no data directory needed.
	if r := trawl(t, t.TempDir()+"/none", nil, "rules", "--help"); r.code != 0 || !strings.Contains(r.stdout, "trawl rules run ID --from") {
		t.Errorf("trawl rules --help: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := trawl(t, data, nil, "--help"); !strings.Contains(r.stdout, "trawl help flags") {
		t.Errorf("trawl --help does not say where the global flags are:\n%s", r.stdout)
	}
}
