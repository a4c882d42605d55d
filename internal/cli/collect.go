package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/query"
)

func cmdCollect(ctx context.Context, g *globals, args []string) error {
	fs := newFlags(g, "collect")
	once := fs.Bool("once", false, "run one collection pass and exit (with --from/--to: over that window only)")
	tenant := fs.String("tenant", "", "tenant of the named connectors")
	backfill := fs.Bool("backfill", false, "re-collect a past window (--from, --to) without creating duplicates")
	from := fs.String("from", "", "collect only objects delivered from this time (RFC3339, a date, or a duration back such as -7d): a backfill of the window, whatever was collected before")
	to := fs.String("to", "", "end of the --from window (default now)")
	asJSON := fs.Bool("json", false, "JSON output")
	evaluate := fs.Bool("evaluate", true, "without a server: after collecting, evaluate the count rules over the windows that closed and anything not evaluated as it was stored (--evaluate=false skips it; the single-event rules are evaluated on each record as it is stored, whatever this flag)")
	timings := fs.Bool("timings", false, "print to stderr where the run's wall time went (start-up, collection, rules, compaction, shut-down) and, without a server, the ingest stages' time summed over the workers")
	names, err := parse(g, fs, args)
	if err != nil {
		return err
	}
	if !*once && !*backfill {
		return usageErr("collect needs --once or --backfill (continuous collection is `trawl serve`)")
	}
	if *backfill && *from == "" {
		return usageErr("--backfill needs --from (and optionally --to)")
	}
	// --once with a window is the backfill of that window: a security
	// engineer asking for one pass over last Tuesday expects exactly that.
	if err := checkWindow(*from, *to, time.Now()); err != nil {
		return err
	}
	ph := phases{last: time.Now()}
	if *timings {
		g.timings = &ingest.Timings{}
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			b.Close()
		}
	}()
	ph.mark("start-up")
	var ids []string
	for _, n := range names {
		c, err := findConnector(ctx, b, *tenant, n)
		if err != nil {
			return err
		}
		ids = append(ids, c.ID)
	}
	results, err := b.Collect(ctx, ids, *from, *to)
	if err != nil {
		return err
	}
	ph.mark("collection")
	if *evaluate {
		if err := evaluateCollected(ctx, g, b); err != nil {
			return err
		}
	}
	ph.mark("rules")
	if *asJSON {
		if err := json.NewEncoder(g.stdout).Encode(results); err != nil {
			return err
		}
	} else {
		tw := g.table()
		fmt.Fprintln(tw, "CONNECTOR\tTENANT\tRESULT\tOBJECTS\tRECORDS\tBYTES\tSKIPPED\tQUARANTINED\tDROPPED\tERRORS\tREASON")
		for _, r := range results {
			reason := r.Run.Reason
			if r.Run.Status != 0 {
				reason = fmt.Sprintf("%d %s %s", r.Run.Status, r.Run.Reason, r.Run.Recommendation)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Connector, r.Tenant, r.Run.Result,
				r.Stats.Objects, r.Stats.Records, r.Stats.Bytes, r.Stats.Skipped, r.Stats.Quarantined, r.Stats.Dropped, r.Stats.Errors, oneLine(reason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if *timings {
		// Shut-down is timed too, the compaction of what was collected
		// on its own: then it publishes the Iceberg snapshot of what was
		// committed and checkpoints the catalog.
		if ip, ok := b.(*inProcessBackend); ok {
			ip.a.WaitDeliveries()
			ip.compactCollected()
			ph.mark("compaction")
		}
		closed = true
		if err := b.Close(); err != nil {
			return err
		}
		ph.mark("shut-down")
		printTimings(g, ph, b, *evaluate)
	}
	failed := 0
	for _, r := range results {
		if r.Failed() {
			failed++
		}
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %s failed", failed, app.Plural(len(results), "connector"))}
	}
	return nil
}

// checkWindow refuses a collection window that cannot be read, before any
// connector runs, naming the flag to change.
func checkWindow(from, to string, now time.Time) error {
	var f, t time.Time
	var err error
	if from != "" {
		if f, err = query.ParseTime(from, now); err != nil {
			return usageErr("--from: %v", err)
		}
	}
	if to != "" {
		if t, err = query.ParseTime(to, now); err != nil {
			return usageErr("--to: %v", err)
		}
	}
	if from != "" && to != "" && !f.Before(t) {
		return usageErr("--from %s is not before --to %s: give a window that starts before it ends", from, to)
	}
	return nil
}

// evaluateCollected evaluates the detection rules over what a collection
// without a server stored, as `trawl serve` does after its commits: what
// the commits did not evaluate at ingest, the count rules over the windows
// that closed; the report counts the alerts the commits raised too.
// Through a server its detector does it. A failed evaluation is reported
// and the collection still counts: its records are stored and evaluated
// at the next evaluation.
func evaluateCollected(ctx context.Context, g *globals, b backend) error {
	if _, ok := b.(*inProcessBackend); !ok {
		return nil
	}
	rep, err := b.EvaluateRules(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		fmt.Fprintf(g.stderr, "evaluating the detection rules failed (trawl alerts --evaluate tries again): %v\n", err)
		return nil
	}
	if rep.Alerts > 0 {
		fmt.Fprintf(g.stderr, "detection rules raised %s (trawl alerts)\n", app.Plural(rep.Alerts, "new alert"))
	}
	if rep.Failed > 0 {
		fmt.Fprintf(g.stderr, "%d detection rules failed and were skipped (trawl rules list says why)\n", rep.Failed)
	}
	return nil
}

// phases are the wall times of a command's steps, in order: each step
// ends at its mark and began at the previous one (last).
type phases struct {
	last  time.Time
	names []string
	took  []time.Duration
}

func (p *phases) mark(name string) {
	now := time.Now()
	p.names, p.took, p.last = append(p.names, name), append(p.took, now.Sub(p.last)), now
}

// printTimings writes collect --timings' report: the run's wall time by
// phase, then the ingest stages (summed over the workers, so they may
// exceed the collection's wall time on several cores). Through a server
// the stages happen there and are not seen here.
func printTimings(g *globals, ph phases, b backend, evaluated bool) {
	var total time.Duration
	for _, d := range ph.took {
		total += d
	}
	if _, ok := b.(*inProcessBackend); !ok {
		// The phases are the server's: here they would read 0.00s.
		fmt.Fprintf(g.stderr, "wall time: total %.2fs, through a server: the collection, its rules (evaluated by the server after its commits) and its shut-down happen there; stop the server to see them here\n", total.Seconds())
		return
	}
	fmt.Fprint(g.stderr, "wall time:")
	for i, n := range ph.names {
		fmt.Fprintf(g.stderr, " %s %.2fs,", n, ph.took[i].Seconds())
	}
	fmt.Fprintf(g.stderr, " total %.2fs\n", total.Seconds())
	if !evaluated {
		fmt.Fprintln(g.stderr, "rules: not evaluated (--evaluate=false)")
	}
	tm := g.timings
	fmt.Fprintf(g.stderr, "ingest stages (summed over workers): read %.2fs, decode %.2fs, normalize %.2fs, encode %.2fs, write %.2fs, commit %.2fs\n",
		tm.Of(ingest.StageRead).Seconds(), tm.Of(ingest.StageDecode).Seconds(), tm.Of(ingest.StageNormalize).Seconds(),
		tm.Of(ingest.StageEncode).Seconds(), tm.Of(ingest.StageWrite).Seconds(), tm.Of(ingest.StageCommit).Seconds())
}
