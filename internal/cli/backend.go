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
	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/awspolicy"
	"github.com/trawlhq/trawl/internal/client"
	"github.com/trawlhq/trawl/internal/connector"
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
	Search(ctx context.Context, p client.SearchParams) (*apiv1.SearchResult, error)
	Count(ctx context.Context, p client.SearchParams) (int64, error)
	Quarantine(ctx context.Context, tenant, connectorID string, limit int) ([]apiv1.QuarantineItem, error)
	RetryQuarantine(ctx context.Context, connectorID string) (*app.RetryResult, error)
	Test(ctx context.Context, id string) (*app.ConnectionCheck, error)
	Policy(ctx context.Context, id string, opt awspolicy.Options) (*awspolicy.Policies, error)
	ExternalID(ctx context.Context, tenant string) (string, error)
	CreateToken(ctx context.Context, tenant, name string) (string, error)
	AuditDigests(ctx context.Context, id, from, to string, fn func([]app.AuditResult) error) error
	Export(ctx context.Context, p client.SearchParams, format string, columns []string, w io.Writer) error
	ImportPublicKeys(ctx context.Context, data []byte) (int, error)
	Nodes(ctx context.Context) ([]app.NodeInfo, error)
	Alerts(ctx context.Context, f app.AlertFilter, since string) ([]app.Alert, error)
	UpdateAlert(ctx context.Context, id string, in app.AlertUpdate) (*app.Alert, error)
	EvaluateRules(ctx context.Context) (*app.EvaluationReport, error)
	Rules(ctx context.Context, tenant string) ([]app.RuleInfo, error)
	AddRule(ctx context.Context, tenant string, yaml []byte) (*app.RuleInfo, error)
	SetRuleEnabled(ctx context.Context, tenant, id string, on bool) error
	DeleteRule(ctx context.Context, tenant, id string) error
	RunRule(ctx context.Context, tenant, id string, from, to time.Time) (*apiv1.RuleRun, error)
	AddRuleException(ctx context.Context, tenant, id, q, reason string) (*apiv1.RuleException, error)
	DeleteRuleException(ctx context.Context, tenant, id, exceptionID string) error
	SetWebhook(ctx context.Context, tenant, url string) error
	GetWebhook(ctx context.Context, tenant string) (string, error)
	SetWebhookWithStatusChanges(ctx context.Context, tenant, u string, on bool) error
	WebhookStatusChanges(ctx context.Context, tenant string) (bool, error)
	Retention(ctx context.Context, tenant string) (*apiv1.RetentionReport, error)
	SetRetention(ctx context.Context, in apiv1.RetentionChange) (*apiv1.RetentionReport, error)
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

// appOptions are the App options shared by every command that opens the
// data directory. TRAWL_BATCH_SIZE (records per commit) exists for the crash
// tests, which need small commits to land kills mid-object.
func appOptions(g *globals) app.Options {
	o := app.Options{DataDir: g.dataDir, MasterKey: os.Getenv("TRAWL_MASTER_KEY"), MasterKeyFile: g.masterKeyFile, Catalog: g.catalog, Node: g.node,
		Lake: g.lake.location, LakeEndpoint: g.lake.endpoint, LakePathStyle: g.lake.pathStyle, LakeRegion: g.lake.region, Logger: g.logger, Guard: g.guard,
		AllowFolders: g.allowFolders, AWSPrincipal: g.awsPrincipal, RuleLookback: g.ruleLookback}
	if v, err := strconv.Atoi(os.Getenv("TRAWL_BATCH_SIZE")); err == nil && v > 0 {
		o.Collect.BatchSize = v
	}
	// TRAWL_LEASE_TTL (a duration) shortens partition leases in tests.
	if d, err := time.ParseDuration(os.Getenv("TRAWL_LEASE_TTL")); err == nil && d > 0 {
		o.LeaseTTL = d
	}
	// TRAWL_SNAPSHOT_RETENTION (a duration) expires superseded Iceberg
	// snapshots, and the files only they hold, sooner in tests.
	if d, err := time.ParseDuration(os.Getenv("TRAWL_SNAPSHOT_RETENTION")); err == nil && d > 0 {
		o.SnapshotRetention = d
	}
	o.DigestLimits = g.digestLimits
	o.Collect.Timings = g.timings
	if g.maxDecomp > 0 || g.maxRatio > 0 {
		o.Collect.Limits = app.DefaultLimits()
		if g.maxDecomp > 0 {
			o.Collect.Limits.MaxDecompressed = g.maxDecomp
		}
		if g.maxRatio > 0 {
			o.Collect.Limits.MaxRatio = g.maxRatio
		}
	}
	return o
}

// stderrIsTerminal reports whether progress written in place (\r) reaches
// a person rather than a log.
func stderrIsTerminal(g *globals) bool {
	f, ok := g.stderr.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// terminalProgress returns a progress printer when stderr is a terminal:
// objects done of those found so far, bytes, rate and an estimate of the
// time left, rewritten in place at most twice a second.
func terminalProgress(g *globals) func(app.CollectStats) {
	if !stderrIsTerminal(g) {
		return nil
	}
	start := time.Now()
	var last time.Time
	var mu sync.Mutex
	return func(s app.CollectStats) {
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
		fmt.Fprintf(g.stderr, "\r%d/%d objects, %d records, %.1f MB read, %.1f MB/s, ETA %s   ",
			done, s.Pending, s.Records, float64(s.Bytes)/1e6, float64(s.Decompressed)/1e6/time.Since(start).Seconds(), eta)
	}
}
