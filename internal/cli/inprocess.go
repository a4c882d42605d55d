package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/trawlhq/trawl/internal/api"
	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/client"
)

// One road: a command on a data directory no server holds opens it here
// and serves the same API to itself, over an in-memory pipe, with a token
// that lives as long as the command. The command then speaks to it with
// the same client it uses for a running server: the same parsing, checks,
// errors and exit codes whichever way it goes.

// inProcessBackend is the client of an in-process server, with what only
// the process that holds the directory does: compact after a collection
// (a server does it in the background) and close the lake at the end.
type inProcessBackend struct {
	*remoteBackend
	a   *app.App
	srv *http.Server
	ln  *pipeListener
	// collected: a collection ran, so Close compacts.
	collected bool
}

// serveInProcess opens the data directory and serves its API in-process.
func serveInProcess(ctx context.Context, g *globals) (backend, error) {
	opts := appOptions(g)
	opts.Collect.Progress = terminalProgress(g)
	// A command's commits are published in one snapshot as it ends.
	opts.PublishAtClose = true
	a, err := app.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		a.Close()
		return nil, fmt.Errorf("in-process token: %w", err)
	}
	tok := "trawl_" + hex.EncodeToString(raw)
	ln := newPipeListener()
	srv := &http.Server{Handler: api.New(a, tok, http.NotFoundHandler(), g.logger), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	hc := &http.Client{Transport: &http.Transport{DialContext: ln.dial, DisableCompression: true}}
	c := client.NewWith("http://trawl.in-process", tok, hc)
	return &inProcessBackend{remoteBackend: &remoteBackend{Client: c}, a: a, srv: srv, ln: ln}, nil
}

// Collect collects through the API and notes that a compaction is due.
func (b *inProcessBackend) Collect(ctx context.Context, ids []string, from, to string) ([]*app.RunResult, error) {
	res, err := b.remoteBackend.Collect(ctx, ids, from, to)
	b.collected = b.collected || err == nil
	return res, err
}

// Close stops serving and closes the lake; after a collection it first
// compacts the day's segments, which no background job will do here. The
// webhook deliveries an evaluation started run in the background: this
// process ends next, so it waits for them (each has a deadline).
func (b *inProcessBackend) Close() error {
	b.a.WaitDeliveries()
	b.compactCollected()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
	b.ln.Close()
	return b.a.Close()
}

// compactCollected compacts the day's segments after a collection, once.
func (b *inProcessBackend) compactCollected() {
	if !b.collected {
		return
	}
	b.collected = false
	if _, err := b.a.Compact(context.Background(), 5*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "trawl: compaction:", err)
	}
}

// pipeListener is a net.Listener whose connections are in-memory pipes
// made by its dial: no port, nothing another process can reach.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, c := net.Pipe()
	select {
	case l.conns <- server:
		return c, nil
	case <-l.done:
		return nil, errors.New("the in-process server has stopped")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "in-process" }
