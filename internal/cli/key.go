package cli

import (
	"context"
	"fmt"

	"github.com/trawlhq/trawl/internal/secret"
)

// cmdKey makes master keys: `key generate` prints a new one (for
// TRAWL_MASTER_KEY) or, with --out, writes it to a new file, mode 0600,
// for --master-key-file on every node of a cluster. It never overwrites.
func cmdKey(_ context.Context, g *globals, args []string) error {
	if len(args) == 0 || args[0] != "generate" {
		return usageErr("key generate [--out FILE]  (a new master key: base64 of 32 random bytes)")
	}
	fs := newFlags(g, "key generate")
	out := fs.String("out", "", "write the key to this new file, mode 0600 (refused if it exists); default: print it")
	pos, err := parse(g, fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("key generate takes no arguments (got %q): give the file with --out FILE", pos[0])
	}
	if *out == "" {
		k, err := secret.NewKey()
		if err != nil {
			return err
		}
		fmt.Fprintln(g.stdout, k)
		return nil
	}
	if _, err := secret.WriteNewKey(*out); err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "wrote a new master key to %s (mode 0600); copy it to every node and pass --master-key-file %s, and back it up: without it the secrets sealed with it cannot be read\n", *out, *out)
	return nil
}
