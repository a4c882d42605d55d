package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/trawlhq/trawl/internal/api"
	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/web"
)

// cmdServe runs the server: API, console and scheduler. With demo set it
// first lays out a sample CloudTrail bucket in a local folder and adds a
// connector for it. Shutdown order: stop accepting requests, stop the
// scheduler (runs stop at a commit boundary), then close the lake.
func cmdServe(ctx context.Context, g *globals, args []string, demo bool) error {
	name := "serve"
	if demo {
		name = "demo"
		if os.Getenv("TRAWL_DATA_DIR") == "" {
			g.dataDir = "trawl-demo"
		}
	}
	fs := newFlags(g, name)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	tick := fs.Duration("tick", time.Second, "how often the scheduler looks for due connectors")
	parallel := fs.Int("parallel", 2, "connectors collected at once")
	noSchedule := fs.Bool("no-schedule", false, "serve the API without collecting")
	queryTimeout := fs.Duration("query-timeout", app.DefaultQueryTimeout, "stop a search, count, histogram or top-N after this long")
	tenantQueries := fs.Int("tenant-queries", app.DefaultTenantQueries, "queries one tenant may run at once")
	retention := fs.String("retention", "forever", "UTC days of records kept, today included (90d), unless trawl retention set stored another default; older days, and days after tomorrow, are dropped whole (forever or 0: keep everything)")
	if _, err := parse(g, fs, args); err != nil {
		return err
	}
	opts := appOptions(g)
	opts.QueryTimeout, opts.TenantQueries = *queryTimeout, *tenantQueries
	days, err := app.ParseRetention(*retention)
	if err != nil {
		return fmt.Errorf("--retention: %w", err)
	}
	opts.Retention = days
	if os.Getenv("GOMEMLIMIT") == "" {
		// Each connector collected at once holds up to four column
		// batches (two workers, each decoding one while committing
		// another): the limit leaves them room, so the collector never
		// spins against it.
		debug.SetMemoryLimit(DefaultGoMemoryLimit + int64(*parallel)*128<<20)
	}
	a, err := openServed(ctx, g, opts)
	if err != nil {
		return err
	}
	defer a.Close()
	if g.publicKeys != "" {
		sc := app.RootScope("serve")
		if err := importKeys(ctx, g, func(ctx context.Context, data []byte) (int, error) {
			return a.ImportPublicKeys(ctx, sc, data, "serve --public-keys")
		}); err != nil {
			return err
		}
	}
	token, created, err := api.LoadOrCreateRootToken(g.dataDir)
	if err != nil {
		return err
	}
	// Nodes of a shared catalog accept one root token: the first node's.
	if cluster, err := a.ClusterRootToken(ctx, token); err != nil {
		return err
	} else if cluster != token {
		if err := api.WriteRootToken(g.dataDir, cluster); err != nil {
			return err
		}
		token = cluster
	}
	// The address is taken before the demo collects: a busy port fails at
	// once, not after a minute of collecting.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (use --addr to pick another%s)", *addr, err, demoAddrHint(demo))
	}
	defer ln.Close()
	if demo {
		if err := setupDemo(ctx, g, a); err != nil {
			return err
		}
	}
	if err := writeServerInfo(g.dataDir, ln.Addr().String()); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(g.dataDir, serverFile))
	opt := app.ServeOptions{Started: func() { announce(g, ln.Addr(), created) },
		Stopping: func() { fmt.Fprintln(g.stdout, "shutting down: finishing in-flight commits") }}
	// TRAWL_MAINTAIN_EVERY (a duration) runs retention and compaction
	// more often in tests.
	if d, err := time.ParseDuration(os.Getenv("TRAWL_MAINTAIN_EVERY")); err == nil && d > 0 {
		opt.MaintainEvery = d
	}
	if !*noSchedule {
		opt.Schedule = &app.SchedulerOptions{Tick: *tick, Parallel: *parallel, Addr: ln.Addr().String()}
	}
	return a.Serve(ctx, ln, api.New(a, token, web.Handler(), g.logger), opt)
}

// announce says where the server listens and where its root token is.
func announce(g *globals, addr net.Addr, created bool) {
	abs, _ := filepath.Abs(g.dataDir)
	fmt.Fprintf(g.stdout, "trawl serving on http://%s (data directory %s)\n", addr, abs)
	if created {
		fmt.Fprintf(g.stdout, "first start: the root API token was written to %s (mode 0600); sign in to the console with it\n", filepath.Join(abs, api.RootTokenFile))
	} else {
		fmt.Fprintf(g.stdout, "root API token: see %s\n", filepath.Join(abs, api.RootTokenFile))
	}
}

// demoAddrHint tells a `make demo` user how to pass --addr through make.
func demoAddrHint(demo bool) string {
	if !demo {
		return ""
	}
	return `; with make: make demo ARGS="--addr 127.0.0.1:18080"`
}

func setupDemo(ctx context.Context, g *globals, a *app.App) error {
	src := filepath.Join(g.dataDir, "demo-source")
	absSrc, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	sc := app.RootScope("demo")
	list, err := a.ListConnectors(ctx, sc, "demo")
	if err != nil {
		return err
	}
	if len(list) > 0 {
		fmt.Fprintln(g.stdout, "demo: sample data already in place")
		return nil
	}
	n, err := writeDemoBuckets(absSrc, time.Now().UTC())
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "demo: wrote %d sample records (CloudTrail, VPC flow, WAF, Route 53 Resolver, ALB, S3 server access, GuardDuty findings) under %s, laid out as AWS writes them to S3\n", n, absSrc)
	keys, err := os.ReadFile(filepath.Join(absSrc, demoKeysFile))
	if err != nil {
		return err
	}
	if _, err := a.ImportPublicKeys(ctx, sc, keys, "demo"); err != nil {
		return err
	}
	for _, dc := range demoConnectors(absSrc) {
		c, err := a.CreateConnector(ctx, sc, dc)
		if err != nil {
			return err
		}
		res, err := a.RunConnector(ctx, sc, c.ID, app.CollectOptions{})
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "demo: %s collected %d objects, %d records (skipped %d)\n", c.Name, res.Stats.Objects, res.Stats.Records, res.Stats.Skipped)
	}
	// The sample data holds planted attacks: raise their alerts now, not
	// at the first minute's evaluation.
	if rep, err := a.EvaluateRules(ctx, sc); err != nil {
		return err
	} else {
		fmt.Fprintf(g.stdout, "demo: the detection rules raised %d alerts on the sample data (the console's Alerts page, or ./bin/trawl alerts --data-dir %s)\n", rep.Alerts, g.dataDir)
	}
	fmt.Fprintln(g.stdout, `demo: try  ./bin/trawl search --data-dir `+g.dataDir+` 'event_name:(CreateUser OR AttachUserPolicy OR StopLogging)'`)
	fmt.Fprintln(g.stdout, `           ./bin/trawl search --data-dir `+g.dataDir+` 'msg_class:vpcflow AND action:REJECT AND dstport:22'`)
	fmt.Fprintln(g.stdout, `           ./bin/trawl audit --data-dir `+g.dataDir+`   (every hour checked against CloudTrail's signed digests)`)
	return nil
}

// lockWait bounds how long serve waits for a directory another process
// holds: a CLI command run just before it (the walkthrough pastes `trawl
// serve &` and the next command together) holds it for a moment.
const lockWait = 15 * time.Second

// openServed opens the data directory for serve, waiting for a short-lived
// holder to let go; a server that holds it is refused at once.
func openServed(ctx context.Context, g *globals, opts app.Options) (*app.App, error) {
	deadline := time.Now().Add(lockWait)
	said := false
	for {
		a, err := app.Open(ctx, opts)
		if !errors.Is(err, app.ErrLocked) || runningServer(ctx, g.dataDir) != "" || time.Now().After(deadline) {
			return a, err
		}
		if !said {
			fmt.Fprintf(g.stderr, "trawl: another process holds %s; waiting up to %s for it to finish\n", g.dataDir, lockWait)
			said = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
