package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trawlhq/trawl/internal/api"
	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/awspolicy"
	"github.com/trawlhq/trawl/internal/client"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/lake"
	"github.com/trawlhq/trawl/internal/query"
)

// backend is what commands need; it is either the data directory opened
// directly or a running server's API.
type backend interface {
	CreateConnector(ctx context.Context, c connector.Connector) (*connector.Connector, error)
	ListConnectors(ctx context.Context, tenant string) ([]connector.Connector, error)
	UpdateConnector(ctx context.Context, id string, c connector.Connector, version int64) (*connector.Connector, error)
	DeleteConnector(ctx context.Context, id string) error
	SetEnabled(ctx context.Context, id string, on bool) error
	Status(ctx context.Context, id string) (*app.Status, error)
	Collect(ctx context.Context, ids []string, from, to string) ([]*app.RunResult, error)
	Search(ctx context.Context, p client.SearchParams) (*lake.SearchResult, error)
	Count(ctx context.Context, p client.SearchParams) (int64, error)
	Quarantine(ctx context.Context, tenant, connectorID string, limit int) ([]lake.QuarantineItem, error)
	RetryQuarantine(ctx context.Context, connectorID string) (*app.RetryResult, error)
	Test(ctx context.Context, id string) (*app.TestResult, error)
	Policy(ctx context.Context, id string, opt awspolicy.Options) (*awspolicy.Policies, error)
	ExternalID(ctx context.Context, tenant string) (string, error)
	CreateToken(ctx context.Context, tenant, name string) (string, error)
	AuditDigests(ctx context.Context, id, from, to string, fn func([]app.AuditResult) error) error
	Export(ctx context.Context, p client.SearchParams, format string, columns []string, w io.Writer) error
	ImportPublicKeys(ctx context.Context, data []byte) (int, error)
	Nodes(ctx context.Context) ([]app.NodeInfo, error)
	Alerts(ctx context.Context, f app.AlertFilter, since string) ([]app.Alert, error)
	EvaluateRules(ctx context.Context) (*app.EvaluationReport, error)
	Rules(ctx context.Context, tenant string) ([]app.RuleInfo, error)
	AddRule(ctx context.Context, tenant string, yaml []byte) (*app.RuleInfo, error)
	SetRuleEnabled(ctx context.Context, tenant, id string, on bool) error
	DeleteRule(ctx context.Context, tenant, id string) error
	SetWebhook(ctx context.Context, tenant, url string) error
	GetWebhook(ctx context.Context, tenant string) (string, error)
	Close() error
}

// serverInfo is written by `trawl serve` so other commands find it.
type serverInfo struct {
	Addr string `json:"addr"`
	PID  int    `json:"pid"`
}

const serverFile = "server.json"

func writeServerInfo(dir, addr string) error {
	b, _ := json.Marshal(serverInfo{Addr: addr, PID: os.Getpid()})
	return os.WriteFile(filepath.Join(dir, serverFile), b, 0o600)
}

// openBackend returns the API of a server holding dir, or dir itself, with
// the --public-keys file's keys imported.
func openBackend(ctx context.Context, g *globals) (backend, error) {
	b, err := openBackend1(ctx, g)
	if err != nil || g.publicKeys == "" {
		return b, err
	}
	if err := importKeys(ctx, g, b.ImportPublicKeys); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// importKeys imports the --public-keys file.
func importKeys(ctx context.Context, g *globals, imp func(context.Context, []byte) (int, error)) error {
	data, err := os.ReadFile(g.publicKeys)
	if err != nil {
		return fmt.Errorf("--public-keys: %w", err)
	}
	if _, err := imp(ctx, data); err != nil {
		return fmt.Errorf("--public-keys %s: %w", g.publicKeys, err)
	}
	return nil
}

func openBackend1(ctx context.Context, g *globals) (backend, error) {
	if g.server != "" {
		return remote(g, g.server)
	}
	if !g.dataDirGiven {
		l, err := readLogin()
		if err != nil {
			return nil, err
		}
		if l != nil {
			if g.token == "" {
				g.token = l.Token
			}
			return remote(g, l.Server)
		}
	}
	return openDir(ctx, g)
}

func remote(g *globals, base string) (backend, error) {
	if err := g.refuseServerFlags(base); err != nil {
		return nil, err
	}
	tok := g.token
	if tok == "" {
		b, err := os.ReadFile(filepath.Join(g.dataDir, api.RootTokenFile))
		if err != nil {
			return nil, fmt.Errorf("a server runs at %s but no token was given: pass --token or TRAWL_TOKEN, or run on the server's machine (root.token in the data directory): %w", base, err)
		}
		tok = strings.TrimSpace(string(b))
	}
	return &remoteBackend{Client: client.New(base, tok)}, nil
}

type remoteBackend struct{ *client.Client }

func (r *remoteBackend) Close() error { return nil }

type localBackend struct {
	a  *app.App
	sc app.Scope
	// progress prints collection progress on a terminal (nil otherwise).
	progress func(collect.Stats)
}

func (l *localBackend) CreateConnector(ctx context.Context, c connector.Connector) (*connector.Connector, error) {
	return l.a.CreateConnector(ctx, l.sc, c)
}

func (l *localBackend) ListConnectors(ctx context.Context, tenant string) ([]connector.Connector, error) {
	return l.a.ListConnectors(ctx, l.sc, tenant)
}

func (l *localBackend) UpdateConnector(ctx context.Context, id string, c connector.Connector, version int64) (*connector.Connector, error) {
	return l.a.UpdateConnector(ctx, l.sc, id, c, version)
}

func (l *localBackend) DeleteConnector(ctx context.Context, id string) error {
	return l.a.DeleteConnector(ctx, l.sc, id)
}

func (l *localBackend) SetEnabled(ctx context.Context, id string, on bool) error {
	_, err := l.a.SetEnabled(ctx, l.sc, id, on)
	return err
}

func (l *localBackend) Status(ctx context.Context, id string) (*app.Status, error) {
	return l.a.ConnectorStatus(ctx, l.sc, id)
}

func (l *localBackend) Collect(ctx context.Context, ids []string, from, to string) ([]*app.RunResult, error) {
	opt := collect.Options{Progress: l.progress}
	var err error
	if from != "" {
		if opt.From, err = lake.ParseTime(from, time.Now()); err != nil {
			return nil, err
		}
	}
	if to != "" {
		if opt.To, err = lake.ParseTime(to, time.Now()); err != nil {
			return nil, err
		}
	}
	res, err := l.a.CollectOnce(ctx, l.sc, ids, opt)
	if err == nil {
		// Without a server nothing compacts in the background: a pass
		// here keeps the day's segments few.
		if _, cerr := l.a.Compact(ctx, 5*time.Second); cerr != nil {
			fmt.Fprintln(os.Stderr, "trawl: compaction:", cerr)
		}
	}
	return res, err
}

func (l *localBackend) request(p client.SearchParams) (lake.SearchRequest, error) {
	now := time.Now()
	req := lake.SearchRequest{Indices: p.Indices, Query: p.Query, Limit: p.Limit, Before: p.Cursor}
	var err error
	from := p.From
	if from == "" {
		from = "-24h"
	}
	if req.From, err = lake.ParseTime(from, now); err != nil {
		return req, fmt.Errorf("--from: %w", err)
	}
	if req.To, err = lake.ParseTime(p.To, now); err != nil {
		return req, fmt.Errorf("--to: %w", err)
	}
	return req, nil
}

func (l *localBackend) Search(ctx context.Context, p client.SearchParams) (*lake.SearchResult, error) {
	req, err := l.request(p)
	if err != nil {
		return nil, err
	}
	return l.a.Search(ctx, l.sc, p.Tenant, req)
}

func (l *localBackend) Count(ctx context.Context, p client.SearchParams) (int64, error) {
	req, err := l.request(p)
	if err != nil {
		return 0, err
	}
	return l.a.Count(ctx, l.sc, p.Tenant, req)
}

func (l *localBackend) Quarantine(ctx context.Context, tenant, connectorID string, limit int) ([]lake.QuarantineItem, error) {
	return l.a.Quarantine(ctx, l.sc, tenant, connectorID, limit)
}

func (l *localBackend) RetryQuarantine(ctx context.Context, id string) (*app.RetryResult, error) {
	return l.a.RetryQuarantine(ctx, l.sc, id)
}

func (l *localBackend) Test(ctx context.Context, id string) (*app.TestResult, error) {
	return l.a.TestConnector(ctx, l.sc, id)
}

func (l *localBackend) Policy(ctx context.Context, id string, opt awspolicy.Options) (*awspolicy.Policies, error) {
	return l.a.Policy(ctx, l.sc, id, opt)
}

func (l *localBackend) ExternalID(ctx context.Context, tenant string) (string, error) {
	return l.a.ExternalID(ctx, l.sc, tenant)
}

func (l *localBackend) CreateToken(ctx context.Context, tenant, name string) (string, error) {
	tok, _, err := l.a.CreateToken(ctx, l.sc, tenant, name)
	return tok, err
}

func (l *localBackend) AuditDigests(ctx context.Context, id, from, to string, fn func([]app.AuditResult) error) error {
	now := time.Now()
	f, err := lake.ParseTime(from, now)
	if err != nil {
		return usageErr("--from: %v", err)
	}
	t, err := lake.ParseTime(to, now)
	if err != nil {
		return usageErr("--to: %v", err)
	}
	page, err := l.a.AuditDigests(ctx, l.sc, id, f, t, app.DefaultAuditPage)
	for err == nil {
		if err = fn(page.Results); err != nil || page.Next == "" {
			break
		}
		page, err = l.a.DigestAuditResults(ctx, l.sc, id, f, t, page.Next, app.DefaultAuditPage)
	}
	return err
}

func (l *localBackend) Export(ctx context.Context, p client.SearchParams, format string, columns []string, w io.Writer) error {
	req, err := l.request(p)
	if err != nil {
		return err
	}
	_, err = l.a.Export(ctx, l.sc, p.Tenant, req, format, columns, w, nil)
	return err
}

func (l *localBackend) Alerts(ctx context.Context, f app.AlertFilter, since string) ([]app.Alert, error) {
	t, err := query.ParseTime(since, time.Now())
	if err != nil {
		return nil, usageErr("--since %q: %v", since, err)
	}
	f.Since = t
	return l.a.Alerts(ctx, l.sc, f)
}

func (l *localBackend) Rules(ctx context.Context, tenant string) ([]app.RuleInfo, error) {
	return l.a.Rules(ctx, l.sc, tenant)
}

func (l *localBackend) AddRule(ctx context.Context, tenant string, yaml []byte) (*app.RuleInfo, error) {
	return l.a.AddRule(ctx, l.sc, tenant, yaml)
}

func (l *localBackend) SetRuleEnabled(ctx context.Context, tenant, id string, on bool) error {
	return l.a.SetRuleEnabled(ctx, l.sc, tenant, id, on)
}

func (l *localBackend) DeleteRule(ctx context.Context, tenant, id string) error {
	return l.a.DeleteRule(ctx, l.sc, tenant, id)
}

func (l *localBackend) SetWebhook(ctx context.Context, tenant, url string) error {
	return l.a.SetWebhook(ctx, l.sc, tenant, url)
}

func (l *localBackend) GetWebhook(ctx context.Context, tenant string) (string, error) {
	return l.a.GetWebhook(ctx, l.sc, tenant)
}

func (l *localBackend) EvaluateRules(ctx context.Context) (*app.EvaluationReport, error) {
	rep, err := l.a.EvaluateRules(ctx, l.sc)
	// The webhook deliveries run in the background; this process ends
	// next, so it waits for them (each has a deadline).
	l.a.WaitDeliveries()
	return rep, err
}

func (l *localBackend) Nodes(ctx context.Context) ([]app.NodeInfo, error) {
	return l.a.Nodes(ctx, l.sc)
}

func (l *localBackend) ImportPublicKeys(ctx context.Context, data []byte) (int, error) {
	return l.a.ImportPublicKeys(ctx, l.sc, data, "cli --public-keys")
}

func (l *localBackend) Close() error { return l.a.Close() }

// appOptions are the App options shared by every command that opens the
// data directory. TRAWL_BATCH_SIZE (records per commit) exists for the crash
// tests, which need small commits to land kills mid-object.
func appOptions(g *globals) app.Options {
	o := app.Options{DataDir: g.dataDir, MasterKey: os.Getenv("TRAWL_MASTER_KEY"), MasterKeyFile: g.masterKeyFile, Catalog: g.catalog, Node: g.node,
		Lake: g.lake.location, LakeEndpoint: g.lake.endpoint, LakePathStyle: g.lake.pathStyle, LakeRegion: g.lake.region, Logger: g.logger, Guard: g.guard,
		AllowFolders: g.allowFolders, AWSPrincipal: g.awsPrincipal}
	if v, err := strconv.Atoi(os.Getenv("TRAWL_BATCH_SIZE")); err == nil && v > 0 {
		o.Collect.BatchSize = v
	}
	// TRAWL_LEASE_TTL (a duration) shortens partition leases in tests.
	if d, err := time.ParseDuration(os.Getenv("TRAWL_LEASE_TTL")); err == nil && d > 0 {
		o.LeaseTTL = d
	}
	o.DigestLimits = g.digestLimits
	if g.maxDecomp > 0 || g.maxRatio > 0 {
		o.Collect.Limits = format.DefaultLimits()
		if g.maxDecomp > 0 {
			o.Collect.Limits.MaxDecompressed = g.maxDecomp
		}
		if g.maxRatio > 0 {
			o.Collect.Limits.MaxRatio = g.maxRatio
		}
	}
	return o
}

// terminalProgress returns a progress printer when stderr is a terminal:
// objects done of those found so far, bytes, rate and an estimate of the
// time left, rewritten in place at most twice a second.
func terminalProgress(g *globals) func(collect.Stats) {
	f, ok := g.stderr.(*os.File)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	start := time.Now()
	var last time.Time
	var mu sync.Mutex
	return func(s collect.Stats) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		done := s.Objects + s.Errors + s.Skipped
		eta := "?"
		if done > 0 && s.Pending > done {
			left := time.Duration(float64(time.Since(start)) / float64(done) * float64(s.Pending-done))
			eta = left.Round(time.Second).String()
		}
		fmt.Fprintf(f, "\r%d/%d objects, %d records, %.1f MB read, %.1f MB/s, ETA %s   ",
			done, s.Pending, s.Records, float64(s.Bytes)/1e6, float64(s.Decompressed)/1e6/time.Since(start).Seconds(), eta)
	}
}
