package cli

import (
	"context"
	"fmt"

	"github.com/trawlhq/trawl/internal/apiv1"
)

// cmdRetention shows or sets how many days of records the lake keeps,
// through the API like every command.
func cmdRetention(ctx context.Context, g *globals, args []string) error {
	const use = "retention show [--tenant T] | set [--tenant T] [--index I] 90d|forever|inherit"
	if len(args) == 0 || (args[0] != "show" && args[0] != "set") {
		return usageErr(use)
	}
	verb := args[0]
	fs := newFlags(g, "retention "+verb)
	tenant := fs.String("tenant", "", "the tenant (a tenant token's own by default; root without it sets the lake's default)")
	index := fs.String("index", "", "set: one index of the tenant (aws_events or traffic)")
	pos, err := parse(g, fs, args[1:])
	if err != nil {
		return err
	}
	if verb == "set" && len(pos) != 1 || verb == "show" && len(pos) != 0 {
		return usageErr(use)
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	var rep *apiv1.RetentionReport
	if verb == "set" {
		rep, err = b.SetRetention(ctx, apiv1.RetentionChange{Tenant: *tenant, Index: *index, Retention: pos[0]})
	} else {
		rep, err = b.Retention(ctx, *tenant)
	}
	if err != nil {
		return err
	}
	printRetention(g, rep)
	return nil
}

// printRetention prints the default, then each setting with who set it
// (a tenant's token cannot change what root set), one a line.
func printRetention(g *globals, rep *apiv1.RetentionReport) {
	fmt.Fprintf(g.stdout, "%-24s %-10s %s\n", "TENANT/INDEX", "RETENTION", "SET BY")
	fmt.Fprintf(g.stdout, "%-24s %-10s %s\n", "(default)", rep.Default.Retention, "root")
	for _, s := range rep.Settings {
		what := s.Tenant
		if s.Index != "" {
			what += "/" + s.Index
		}
		fmt.Fprintf(g.stdout, "%-24s %-10s %s\n", what, s.Retention, s.SetBy)
	}
}
