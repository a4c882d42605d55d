// Package faultproxy is a fault-injecting reverse proxy for tests: it sits
// on loopback between Trawl and an S3 server and, at set rates, answers 503
// SlowDown or 500 InternalError, resets connections in the middle of a
// body, cuts bodies short, and stalls. It keeps the Host header, so SigV4
// signatures stay valid. Every loop is bounded by the test's own requests.
package faultproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Faults are per-request probabilities (0..1).
type Faults struct {
	SlowDown  float64       // 503 SlowDown before the request reaches the server
	Internal  float64       // 500 InternalError
	Reset     float64       // GET object: connection reset part-way through the body
	Truncate  float64       // GET object: body cut short, connection closed cleanly
	Stall     float64       // GET object: stop sending part-way for StallFor
	StallFor  time.Duration // how long a stall lasts
	OnlyPaths string        // if set, faults apply only to paths containing it
	// Rate, when set, delivers every GET object body at about this many
	// bytes a second, so a test that kills a process mid-object does not
	// depend on how fast the machine decodes.
	Rate int64
}

// Counts reports injected faults.
type Counts struct {
	Requests, SlowDown, Internal, Reset, Truncate, Stall int64
}

// Proxy is a running fault proxy.
type Proxy struct {
	URL    string
	srv    *http.Server
	ln     net.Listener
	mu     sync.Mutex
	rnd    *rand.Rand
	faults atomic.Pointer[Faults]
	counts struct{ req, slow, internal, reset, trunc, stall atomic.Int64 }
	gets   atomic.Int64
	gate   atomic.Pointer[gate]
}

// gate holds one object GET until released, so a test can act at a known
// point of a run (kill, revoke, shut down) instead of racing it.
type gate struct {
	at      int64
	hit     chan struct{}
	release chan struct{}
	once    sync.Once
}

// HoldGet holds the n-th object GET from now (1-based) until release is
// called or the client gives up; hit is closed when it arrives.
func (p *Proxy) HoldGet(n int64) (hit <-chan struct{}, release func()) {
	g := &gate{at: p.gets.Load() + n, hit: make(chan struct{}), release: make(chan struct{})}
	p.gate.Store(g)
	return g.hit, func() { g.once.Do(func() { close(g.release) }) }
}

// Start proxies to target with faults, seeded for repeatability.
func Start(target string, f Faults, seed uint64) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), ln: ln, rnd: rand.New(rand.NewPCG(seed, 99))}
	p.faults.Store(&f)
	rp := httputil.NewSingleHostReverseProxy(u)
	orig := rp.Director
	rp.Director = func(r *http.Request) {
		host := r.Host
		orig(r)
		r.Host = host // keep the signed Host header
	}
	rp.FlushInterval = -1
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, rp) })}
	go p.srv.Serve(ln)
	return p, nil
}

// SetFaults changes the fault rates (for example to stop them).
func (p *Proxy) SetFaults(f Faults) { p.faults.Store(&f) }

// Counts returns the faults injected so far.
func (p *Proxy) Counts() Counts {
	return Counts{p.counts.req.Load(), p.counts.slow.Load(), p.counts.internal.Load(), p.counts.reset.Load(), p.counts.trunc.Load(), p.counts.stall.Load()}
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

func (p *Proxy) roll() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rnd.Float64()
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, rp *httputil.ReverseProxy) {
	p.counts.req.Add(1)
	f := p.faults.Load()
	if f.OnlyPaths != "" && !strings.Contains(r.URL.Path, f.OnlyPaths) {
		rp.ServeHTTP(w, r)
		return
	}
	x := p.roll()
	switch {
	case x < f.SlowDown:
		p.counts.slow.Add(1)
		s3Error(w, 503, "SlowDown", "Please reduce your request rate.")
		return
	case x < f.SlowDown+f.Internal:
		p.counts.internal.Add(1)
		s3Error(w, 500, "InternalError", "We encountered an internal error. Please try again.")
		return
	}
	isGetObject := r.Method == http.MethodGet && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1 && r.URL.Query().Get("list-type") == ""
	if !isGetObject {
		rp.ServeHTTP(w, r)
		return
	}
	if n := p.gets.Add(1); p.gate.Load() != nil && n == p.gate.Load().at {
		g := p.gate.Load()
		close(g.hit)
		select {
		case <-g.release:
		case <-r.Context().Done():
			return
		}
	}
	y := p.roll()
	mode := ""
	switch {
	case y < f.Reset:
		mode = "reset"
	case y < f.Reset+f.Truncate:
		mode = "truncate"
	case y < f.Reset+f.Truncate+f.Stall:
		mode = "stall"
	}
	if f.Rate > 0 {
		w = &rateWriter{ResponseWriter: w, rate: f.Rate, ctx: r.Context()}
	}
	if mode == "" {
		rp.ServeHTTP(w, r)
		return
	}
	rec := &faultWriter{ResponseWriter: w, mode: mode, stallFor: f.StallFor, p: p}
	rp.ServeHTTP(rec, r)
}

// rateWriter paces a body: it writes in slices of at most rate/20 bytes and
// sleeps after each so the body arrives at about rate bytes a second.
type rateWriter struct {
	http.ResponseWriter
	rate int64
	ctx  context.Context
}

func (rw *rateWriter) Write(b []byte) (int, error) {
	step := max(int(rw.rate/20), 512)
	n := 0
	for n < len(b) {
		end := min(n+step, len(b))
		m, err := rw.ResponseWriter.Write(b[n:end])
		n += m
		if err != nil {
			return n, err
		}
		if fl, ok := rw.ResponseWriter.(http.Flusher); ok {
			fl.Flush()
		}
		select {
		case <-time.After(time.Duration(int64(m) * int64(time.Second) / rw.rate)):
		case <-rw.ctx.Done():
			return n, io.ErrClosedPipe
		}
	}
	return n, nil
}

func (rw *rateWriter) Flush() {
	if fl, ok := rw.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

func (rw *rateWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if hj, ok := rw.ResponseWriter.(http.Hijacker); ok {
		return hj.Hijack()
	}
	return nil, nil, fmt.Errorf("faultproxy: response cannot be hijacked")
}

// faultWriter passes headers through (so Content-Length announces the full
// body) and then misbehaves half-way through the body.
type faultWriter struct {
	http.ResponseWriter
	mode     string
	stallFor time.Duration
	p        *Proxy
	written  int64
	limit    int64
	done     bool
	status   int
}

func (f *faultWriter) WriteHeader(code int) {
	f.status = code
	if cl := f.Header().Get("Content-Length"); cl != "" {
		var n int64
		fmt.Sscan(cl, &n)
		f.limit = n / 2
	}
	f.ResponseWriter.WriteHeader(code)
}

func (f *faultWriter) Write(b []byte) (int, error) {
	if f.done {
		return 0, io.ErrClosedPipe
	}
	if f.status/100 != 2 || f.limit <= 0 || f.written+int64(len(b)) <= f.limit {
		n, err := f.ResponseWriter.Write(b)
		f.written += int64(n)
		return n, err
	}
	head := b[:f.limit-f.written]
	n, _ := f.ResponseWriter.Write(head)
	f.written += int64(n)
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	f.done = true
	switch f.mode {
	case "stall":
		f.p.counts.stall.Add(1)
		time.Sleep(f.stallFor)
	case "truncate":
		f.p.counts.trunc.Add(1)
	case "reset":
		f.p.counts.reset.Add(1)
	}
	if hj, ok := f.ResponseWriter.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			if tc, ok := c.(*net.TCPConn); ok && f.mode == "reset" {
				tc.SetLinger(0) // RST instead of FIN
			}
			c.Close()
		}
	}
	return len(b), io.ErrClosedPipe
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>fault</RequestId></Error>`, code, msg)
}
