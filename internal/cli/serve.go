package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/trawlhq/trawl/internal/api"
	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/lake"
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
	if _, err := parse(g, fs, args); err != nil {
		return err
	}
	opts := appOptions(g)
	opts.QueryTimeout, opts.TenantQueries = *queryTimeout, *tenantQueries
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
	// Timeouts bound what a slow or idle client holds; handlers that run
	// as long as their work (collect, test) lift the write deadline.
	srv := &http.Server{Handler: api.New(a, token, web.Handler(), g.logger), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	if err := writeServerInfo(g.dataDir, ln.Addr().String()); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(g.dataDir, serverFile))
	abs, _ := filepath.Abs(g.dataDir)
	fmt.Fprintf(g.stdout, "trawl serving on http://%s (data directory %s)\n", ln.Addr(), abs)
	if created {
		fmt.Fprintf(g.stdout, "first start: the root API token was written to %s (mode 0600); sign in to the console with it\n", filepath.Join(abs, api.RootTokenFile))
	} else {
		fmt.Fprintf(g.stdout, "root API token: see %s\n", filepath.Join(abs, api.RootTokenFile))
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	schedCtx, stopSched := context.WithCancel(ctx)
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		go a.Maintain(schedCtx, 30*time.Second)
		go a.RunDetector(schedCtx)
		if !*noSchedule {
			a.Schedule(schedCtx, app.SchedulerOptions{Tick: *tick, Parallel: *parallel, Addr: ln.Addr().String()})
		}
	}()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			stopSched()
			<-schedDone
			return err
		}
	}
	// Shutdown order: stop scheduling and cancel every run in flight
	// (scheduled or started through the API; each stops at a commit
	// boundary), stop accepting requests and let the answering ones end,
	// then close the lake once the runs have returned (a.Close waits).
	fmt.Fprintln(g.stdout, "shutting down: finishing in-flight commits")
	stopSched()
	a.Shutdown()
	shCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shCtx)
	<-schedDone
	return nil
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
	fmt.Fprintf(g.stdout, "demo: wrote %d sample records (CloudTrail, VPC flow, WAF) under %s, laid out as AWS writes them to S3\n", n, absSrc)
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
		res, err := a.RunConnector(ctx, sc, c.ID, collect.Options{})
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
		if !errors.Is(err, lake.ErrLocked) || runningServer(ctx, g.dataDir) != "" || time.Now().After(deadline) {
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
