// Package app owns Trawl's lifecycle: it opens the data directory (lake,
// master key, root token), and is the one place that performs connector
// operations, collection, search and status for both the HTTP API and the
// CLI working on a directory directly. Every operation takes the caller's
// Scope, so tenant isolation is enforced here once, not in each caller.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trawlhq/trawl/internal/audit"
	"github.com/trawlhq/trawl/internal/awspolicy"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/filter"
	"github.com/trawlhq/trawl/internal/netguard"
	"github.com/trawlhq/trawl/internal/secret"
	"github.com/trawlhq/trawl/internal/source"
	"github.com/trawlhq/trawl/internal/source/local"
	s3src "github.com/trawlhq/trawl/internal/source/s3"
)

// Scope is who is asking: root (all tenants) or one tenant.
type Scope struct {
	Root   bool
	Tenant string
	Actor  string
}

// RootScope is the scope of the local CLI and of root tokens.
func RootScope(actor string) Scope { return Scope{Root: true, Actor: actor} }

// Tenants returns the tenant restriction for lake queries: nil for root.
func (s Scope) tenants(requested string) ([]string, error) {
	if s.Root {
		if requested != "" {
			return []string{requested}, nil
		}
		return nil, nil
	}
	if requested != "" && requested != s.Tenant {
		return nil, fmt.Errorf("tenant %q: %w", requested, ErrNotFound)
	}
	return []string{s.Tenant}, nil
}

func (s Scope) sees(tenant string) bool { return s.Root || s.Tenant == tenant }

// Errors callers map to statuses.
var (
	ErrNotFound = catalog.ErrNotFound
	ErrConflict = catalog.ErrConflict
	ErrBusy     = errors.New("busy")
)

// Options configure an App.
type Options struct {
	DataDir   string
	Node      string
	MasterKey string // base64, from TRAWL_MASTER_KEY
	// MasterKeyFile is where the master key is kept (default
	// <DataDir>/master.key, created with mode 0600 on first start).
	MasterKeyFile string
	// Catalog is a postgres:// URL for a catalog in PostgreSQL; empty
	// keeps it in the data directory (DuckDB).
	Catalog string
	// Lake is an s3://BUCKET/PREFIX location for the segments (several
	// nodes share it); empty keeps them in the data directory. LakeEndpoint
	// (S3-compatible stores), LakePathStyle and LakeRegion go with it.
	Lake          string
	LakeEndpoint  string
	LakePathStyle bool
	LakeRegion    string
	// LeaseTTL is how long a node's lease on a partition lasts unless
	// renewed, with a shared catalog (default one minute).
	LeaseTTL    time.Duration
	MemoryLimit string
	Logger      *slog.Logger
	Guard       netguard.Policy
	// AWSPrincipal is the ARN of the identity this server assumes roles
	// from (its ambient identity), shown in generated trust policies.
	AWSPrincipal string
	Collect      collect.Options
	// S3ReadStall is how long an object body read may stall before the
	// connection is abandoned and the read resumed (default 2 minutes).
	S3ReadStall time.Duration
	// QueryTimeout bounds each query (default 30s); TenantQueries bounds
	// the queries one tenant runs at once (default 4).
	QueryTimeout  time.Duration
	TenantQueries int
	// DigestLimits bound each digest the audit reads (zero fields: the
	// defaults of internal/audit).
	DigestLimits audit.Limits
	// AllowFolders, when set, confines file:// endpoints (root only) to
	// these folders.
	AllowFolders []string
	// S3Transport wraps S3 HTTP transports (tests count requests with it).
	S3Transport func(connectorName string) func(http.RoundTripper) http.RoundTripper
	// RuleLookback is how far back a rule's first scheduled evaluation
	// looks (default 24 hours); older data is a rule run's (RunRule).
	RuleLookback time.Duration
	// MaxTenantRules bounds the rules a tenant may add (default
	// DefaultMaxTenantRules): each is evaluated on every record its
	// connectors store.
	MaxTenantRules int
	// MaxTenantTerms bounds the terms of a tenant's own rules together
	// (default DefaultMaxTenantTerms).
	MaxTenantTerms int
	// Retention is the lake's default retention in days (0: forever;
	// trawl serve --retention), unless root stored one (see retention.go).
	Retention int
	// SnapshotRetention is how long a superseded Iceberg snapshot, and
	// the files only it holds, stay (default DefaultSnapshotRetention).
	SnapshotRetention time.Duration
	// PublishAtClose writes the Iceberg snapshots once, when the App
	// closes, instead of in the background after commits pause: what a
	// short command (trawl collect --once) commits is published whole at
	// its end, without intermediate snapshots sharing its cores. Commits
	// queue their days durably either way.
	PublishAtClose bool
	// Clock is the time where schedules and windows are decided (default
	// time.Now; unit tests fix it).
	Clock func() time.Time
}

// now is the App's clock.
func (a *App) now() time.Time {
	if a.opt.Clock != nil {
		return a.opt.Clock()
	}
	return time.Now()
}

// App is an open data directory.
type App struct {
	opt  Options
	lake *Lake
	box  *secret.Box
	log  *slog.Logger
	// leases share connectors' partitions with the other nodes of a
	// shared (PostgreSQL) catalog; nil with the embedded one.
	leases *catalog.Leases

	mu      sync.Mutex
	running map[string]chan struct{} // connectors being collected (or deleted); closed when done
	testMu  sync.Mutex               // one connection test at a time
	evalMu  sync.Mutex               // one evaluation of the detection rules at a time
	// engineOK holds the rule queries the lake's engine ran (checkRule),
	// so collection runs check each once per process (ingestDetection);
	// at most maxEngineOK, then forgotten (tenants' edits make new ones).
	engineMu sync.Mutex
	engineOK map[string]bool
	// triageMu: one alert change at a time in this process (the embedded
	// catalog refuses a second concurrent update of a row instead of
	// waiting; a shared catalog locks the row, across nodes too).
	triageMu sync.Mutex
	hooks    deliveries // webhook deliveries in flight, per tenant
	queries  tenantSlots
	// stored counts what this node's runs stored since it started (the
	// catalog's totals are the cluster's).
	stored struct{ objects, records, runs atomic.Int64 }

	// scheduled is when this node's scheduler runs each connector next
	// (set by the scheduler, read by ConnectorStatus; under mu).
	scheduled map[string]scheduled
	// queues are the connectors' queue receivers' states on this node.
	queues queues

	// life ends when the App closes: every run, test and retry started
	// through it (scheduler, API or CLI) is cancelled and waited for
	// before the lake is closed under it.
	life  context.Context
	stop  context.CancelFunc
	work  sync.WaitGroup
	ended bool
}

// DBFile is the lake file name inside the data directory.
const DBFile = "trawl.db"

// Open opens a data directory, creating it on first use.
func Open(ctx context.Context, opt Options) (*App, error) {
	if opt.DataDir == "" {
		return nil, errors.New("app: no data directory: pass --data-dir or set TRAWL_DATA_DIR")
	}
	if err := awspolicy.CheckPrincipal(opt.AWSPrincipal); err != nil {
		return nil, fmt.Errorf("--aws-principal: %w", err)
	}
	if err := os.MkdirAll(opt.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("app: create data directory %s: %w", opt.DataDir, err)
	}
	if opt.Node == "" {
		h, _ := os.Hostname()
		opt.Node = sanitizeNode(h)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	warnOpenDir(opt.Logger, opt.DataDir)
	keyFile := opt.MasterKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(opt.DataDir, "master.key")
	}
	key, err := secret.LoadOrCreateKey(opt.MasterKey, keyFile)
	if err != nil {
		return nil, err
	}
	box, err := secret.New(key)
	if err != nil {
		return nil, err
	}
	// Collect.Timings (trawl collect --timings) also times the lake's
	// side of ingest: encoding, writing and the commit.
	lopt := LakeOptions{MemoryLimit: opt.MemoryLimit, Catalog: opt.Catalog, SnapshotRetention: opt.SnapshotRetention, Timings: opt.Collect.Timings,
		PublishAtClose: opt.PublishAtClose, Logger: opt.Logger}
	if opt.Lake != "" {
		st, err := s3src.NewLakeStore(ctx, s3src.LakeConfig{Location: opt.Lake, Endpoint: opt.LakeEndpoint, PathStyle: opt.LakePathStyle, Region: opt.LakeRegion, Guard: opt.Guard})
		if err != nil {
			return nil, fmt.Errorf("--lake: %w", err)
		}
		if err := st.Ensure(ctx); err != nil {
			return nil, fmt.Errorf("--lake %s: %w", opt.Lake, err)
		}
		lopt.Store = st
	}
	lk, err := OpenLake(ctx, filepath.Join(opt.DataDir, DBFile), lopt)
	if err != nil {
		return nil, err
	}
	if opt.LeaseTTL <= 0 {
		opt.LeaseTTL = time.Minute
	}
	a := &App{opt: opt, lake: lk, box: box, log: opt.Logger, running: map[string]chan struct{}{}, scheduled: map[string]scheduled{}, queries: tenantSlots{limit: opt.TenantQueries}}
	if lk.Shared() {
		a.leases = lk.Leases(opt.Node, opt.LeaseTTL)
	}
	a.life, a.stop = context.WithCancel(context.Background())
	// Runs still marked running were cut short by a crash or kill -9:
	// nothing holds them now. Their records are safe (checkpointed); the
	// next run resumes from the checkpoint.
	mine := ""
	if lk.Shared() {
		mine = opt.Node
	}
	if n, err := lk.EndInterruptedRuns(ctx, mine, "interrupted: the process stopped during the run (crash or kill); the next run resumes from its checkpoint"); err != nil {
		lk.Close()
		return nil, err
	} else if n > 0 {
		opt.Logger.Warn("runs were interrupted by a crash; they resume from their checkpoints", "runs", n)
	}
	return a, nil
}

// warnOpenDir warns when other users may enter or list the data
// directory: Trawl creates its files 0600, but a directory made by the
// operator (0755 by the usual umask) lets others see what is there, and
// files from older versions or other tools may be readable.
func warnOpenDir(log *slog.Logger, dir string) {
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	abs, _ := filepath.Abs(dir)
	log.Warn(fmt.Sprintf("the data directory %s (mode %04o) can be entered by other users; it holds tenants' webhooks, external IDs and sealed secrets: run chmod 700 %s", abs, fi.Mode().Perm(), abs))
}

// MigrateReport says what a catalog migration copied: rows per table, and
// the file the embedded catalog was renamed to.
type MigrateReport struct {
	Tables map[string]int64 `json:"tables"`
	Backup string           `json:"backup"`
}

// MigrateCatalog moves the embedded catalog of opt's data directory into
// the empty PostgreSQL database at to. No process may hold the directory.
func MigrateCatalog(ctx context.Context, opt Options, to string) (*MigrateReport, error) {
	rep, err := migrateCatalog(ctx, filepath.Join(opt.DataDir, DBFile), to, LakeOptions{MemoryLimit: opt.MemoryLimit})
	if err != nil {
		return nil, err
	}
	return &MigrateReport{Tables: rep.Tables, Backup: rep.Backup}, nil
}

// migrateCatalog moves the embedded catalog at path into the empty
// PostgreSQL database at to, and renames it aside.
func migrateCatalog(ctx context.Context, path, to string, opt LakeOptions) (*catalog.MigrateReport, error) {
	if err := catalog.CheckMigrate(path, to); err != nil {
		return nil, err
	}
	opt.Catalog = ""
	// The whole lake opens, not just its catalog: the data directory is
	// held while it moves, and a legacy directory's records become
	// segments first (the copy takes the catalog's tables only).
	src, err := OpenLake(ctx, path, opt)
	if err != nil {
		return nil, err
	}
	rep, err := src.CopyTo(ctx, to)
	if cerr := src.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := catalog.SetAside(path, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// begin registers work that must end before the lake closes, returning a
// context cancelled when either ctx or the App ends.
func (a *App) begin(ctx context.Context) (context.Context, func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return nil, nil, fmt.Errorf("trawl is shutting down: %w", ErrBusy)
	}
	a.work.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(a.life, cancel)
	return ctx, func() {
		unhook()
		cancel()
		a.work.Done()
	}, nil
}

// Shutdown cancels every run, test and retry in flight; they stop at a
// commit boundary. Close waits for them.
func (a *App) Shutdown() {
	a.mu.Lock()
	a.ended = true
	a.mu.Unlock()
	a.stop()
}

// Close cancels and waits for the work in flight, then closes the lake.
func (a *App) Close() error {
	began := time.Now()
	a.Shutdown()
	a.work.Wait()
	a.log.Debug("work in flight ended", "took", time.Since(began))
	return a.lake.Close()
}

// Lake exposes the lake to the API server's token store.
func (a *App) Lake() *Lake { return a.lake }

// Ready reports whether this process can serve: its data directory and
// lake folder present and writable, its catalog answering.
func (a *App) Ready(ctx context.Context) error { return a.lake.Ready(ctx) }

// ClusterRootToken returns the root token every node of a shared catalog
// accepts (sealed in the catalog with the master key the nodes share; the
// first node to start makes it), given this node's own; with the embedded
// catalog it returns own.
func (a *App) ClusterRootToken(ctx context.Context, own string) (string, error) {
	if !a.lake.Shared() {
		return own, nil
	}
	sealed, err := a.box.Seal("", "root-token", own)
	if err != nil {
		return "", err
	}
	won, err := a.lake.MetaOnce(ctx, "root_token", sealed)
	if err != nil {
		return "", err
	}
	token, err := a.box.Open("", "root-token", won)
	if err != nil {
		return "", fmt.Errorf("the catalog's root token cannot be opened with this master key: every node must use the same --master-key-file: %w", err)
	}
	return token, nil
}

// NodeTotals says what this node's runs stored since it started.
func (a *App) NodeTotals() (node string, runs, objects, records int64) {
	return a.opt.Node, a.stored.runs.Load(), a.stored.objects.Load(), a.stored.records.Load()
}

// Node is this node's name.
func (a *App) Node() string { return a.opt.Node }

func sanitizeNode(h string) string {
	var b strings.Builder
	for _, c := range h {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 {
		return "local"
	}
	return b.String()
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CreateConnector validates and stores a new connector. It is enabled and
// due immediately.
func (a *App) CreateConnector(ctx context.Context, sc Scope, in connector.Connector) (*connector.Connector, error) {
	if !sc.Root {
		if in.Tenant == "" {
			in.Tenant = sc.Tenant
		}
		if in.Tenant != sc.Tenant {
			return nil, &connector.ValidationError{Problems: []connector.Problem{{Field: "tenant", Message: "a tenant token can only create connectors in its own tenant"}}}
		}
	}
	in.ID = newID()
	in.Enabled = true
	in.Version = 1
	in.CreatedAt = time.Time{}
	in.ApplyDefaults(time.Now().UTC(), a.opt.Node)
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := a.checkPrivileges(sc, &in); err != nil {
		return nil, err
	}
	if err := a.checkQueueOwner(ctx, &in); err != nil {
		return nil, err
	}
	if err := a.checkEndpoints(ctx, &in); err != nil {
		return nil, err
	}
	if err := a.bindExternalID(ctx, &in); err != nil {
		return nil, err
	}
	sealed, err := a.seal(&in)
	if err != nil {
		return nil, err
	}
	if err := a.lake.EnsureTenant(ctx, in.Tenant); err != nil {
		return nil, err
	}
	if err := a.lake.InsertConnector(ctx, &in, sealed); err != nil {
		return nil, err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, in.Tenant, "connector.create", in.ID, in.Name)
	out := in
	return &out, nil
}

func (a *App) seal(c *connector.Connector) (string, error) {
	if !c.SecretAccessKey.IsSet() {
		return "", nil
	}
	return a.box.Seal(c.Tenant, c.ID, c.SecretAccessKey.Reveal())
}

// checkPrivileges refuses, for tenant tokens, what reaches beyond the
// tenant's own AWS access: the server's disk (file:// endpoints) and the
// server's own AWS identity (ambient credentials). For everyone, file://
// folders must lie inside the operator's --allow-folder list when it is
// set.
func (a *App) checkPrivileges(sc Scope, c *connector.Connector) error {
	if !sc.Root && c.IsLocal() {
		return fmt.Errorf("endpoint %s: file:// endpoints read the server's own disk, so only a root token may use them: %w", c.Endpoint, ErrForbidden)
	}
	if !sc.Root && c.Credentials == connector.CredAmbient {
		return fmt.Errorf("credentials ambient sign in with the server's own AWS identity, so only a root token may choose them; use keys: %w", ErrForbidden)
	}
	if !sc.Root && c.Credentials == connector.CredRole && c.AccessKeyID == "" && c.STSEndpoint != "" {
		// Without keys the role is assumed with the server's own identity;
		// its signed requests go only to AWS's STS, never to an endpoint a
		// tenant chose.
		return fmt.Errorf("sts_endpoint %s: a role assumed with the server's own identity uses AWS's STS; give keys to assume it from, or ask an operator: %w", c.STSEndpoint, ErrForbidden)
	}
	if c.IsLocal() {
		if err := a.folderAllowed(c.Endpoint); err != nil {
			return &connector.ValidationError{Problems: []connector.Problem{{Field: "endpoint", Message: err.Error()}}}
		}
	}
	return nil
}

// folderAllowed checks a file:// endpoint against --allow-folder, after
// resolving symbolic links, so a link cannot lead outside.
func (a *App) folderAllowed(endpoint string) error {
	if len(a.opt.AllowFolders) == 0 {
		return nil
	}
	dir := filepath.Clean(strings.TrimPrefix(endpoint, "file://"))
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	for _, allowed := range a.opt.AllowFolders {
		root := filepath.Clean(allowed)
		if real, err := filepath.EvalSymlinks(root); err == nil {
			root = real
		}
		if rel, err := filepath.Rel(root, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return nil
		}
	}
	return fmt.Errorf("the folder %s is outside the folders this server allows (--allow-folder %s)", dir, strings.Join(a.opt.AllowFolders, ", "))
}

// checkEndpoints compiles the filters and checks every host the connector
// will dial (endpoint and proxy, both, since a proxy resolves the endpoint
// for us): a host that resolves to a refused address, or does not resolve
// at all, is refused.
func (a *App) checkEndpoints(ctx context.Context, c *connector.Connector) error {
	var e connector.ValidationError
	if _, err := filter.Compile(c.Filters); err != nil {
		e.Problems = append(e.Problems, connector.Problem{Field: "filters", Message: err.Error()})
	}
	// The queue URL names the queue, not where requests go (the SDK sends
	// them to queue_endpoint, else AWS's endpoint of the queue's region),
	// so it is not dialed; the dial-time guard covers every request anyway.
	for _, f := range []struct{ field, raw string }{{"endpoint", c.Endpoint}, {"proxy_uri", c.ProxyURI}, {"sts_endpoint", c.STSEndpoint},
		{"queue_endpoint", c.QueueEndpoint}} {
		if f.raw == "" || strings.HasPrefix(f.raw, "file://") {
			continue
		}
		if err := a.opt.Guard.CheckHost(ctx, hostOf(f.raw)); err != nil {
			e.Problems = append(e.Problems, connector.Problem{Field: f.field, Message: err.Error()})
		}
	}
	if len(e.Problems) > 0 {
		return &e
	}
	return nil
}

// UpdateConnector applies an edit. General fields cannot change; a masked or
// empty secret keeps the stored one.
func (a *App) UpdateConnector(ctx context.Context, sc Scope, id string, in connector.Connector, ifVersion int64) (*connector.Connector, error) {
	old, err := a.lake.Connector(ctx, id)
	if err != nil || !sc.sees(old.Tenant) {
		return nil, fmt.Errorf("connector %s: %w", id, ErrNotFound)
	}
	if ifVersion == 0 {
		ifVersion = old.Version
	}
	// Fields a client may leave out keep their values.
	if in.Category == "" {
		in.Category = old.Category
	}
	if in.Type == "" {
		in.Type = old.Type
	}
	if in.Function == "" {
		in.Function = old.Function
	}
	if in.RunOn == "" {
		in.RunOn = old.RunOn
	}
	if in.Name == "" {
		in.Name = old.Name
	}
	if in.Tenant == "" {
		in.Tenant = old.Tenant
	}
	if err := connector.CheckImmutable(&old.Connector, &in); err != nil {
		return nil, err
	}
	in.ID, in.CreatedAt, in.Version = old.ID, old.CreatedAt, old.Version+1
	if in.Start.IsZero() {
		in.Start = old.Start
	}
	rederiveQueue(&old.Connector, &in)
	in.ApplyDefaults(time.Now().UTC(), a.opt.Node)
	sealed := old.SealedSecret
	if in.AccessKeyID == "" && in.Credentials != connector.CredKeys && !in.SecretAccessKey.IsSet() {
		// Keys left out of a role or ambient connector: the stored secret
		// goes with them.
		sealed = ""
	}
	if in.SecretAccessKey.IsSet() && !in.SecretAccessKey.IsMasked() {
		if sealed, err = a.seal(&in); err != nil {
			return nil, err
		}
	} else if sealed != "" {
		// Validation needs to know a secret exists.
		in.SecretAccessKey = connector.NewSecret(connector.Masked)
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := a.checkPrivileges(sc, &in); err != nil {
		return nil, err
	}
	if err := a.checkQueueOwner(ctx, &in); err != nil {
		return nil, err
	}
	if err := a.checkEndpoints(ctx, &in); err != nil {
		return nil, err
	}
	if err := a.bindExternalID(ctx, &in); err != nil {
		return nil, err
	}
	in.SecretAccessKey = connector.Secret{}
	if err := a.lake.UpdateConnector(ctx, &in, sealed, ifVersion); err != nil {
		return nil, err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, in.Tenant, "connector.edit", in.ID, in.Name)
	if sealed != "" {
		in.SecretAccessKey = connector.NewSecret(connector.Masked)
	}
	return &in, nil
}

// SetEnabled enables or disables a connector.
func (a *App) SetEnabled(ctx context.Context, sc Scope, id string, enabled bool) (*connector.Connector, error) {
	c, err := a.GetConnector(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	c.Enabled = enabled
	sealed, err := a.lake.Connector(ctx, id)
	if err != nil {
		return nil, err
	}
	c.SecretAccessKey = connector.Secret{}
	c.Version++
	c.UpdatedAt = time.Now().UTC()
	if err := a.lake.UpdateConnector(ctx, c, sealed.SealedSecret, c.Version-1); err != nil {
		return nil, err
	}
	action := "connector.disable"
	if enabled {
		action = "connector.enable"
	}
	_ = a.lake.LogAction(ctx, sc.Actor, c.Tenant, action, c.ID, c.Name)
	return c, nil
}

// GetConnector returns a connector the scope may see, secret masked.
func (a *App) GetConnector(ctx context.Context, sc Scope, id string) (*connector.Connector, error) {
	s, err := a.lake.Connector(ctx, id)
	if err != nil || !sc.sees(s.Tenant) {
		return nil, fmt.Errorf("connector %s: %w", id, ErrNotFound)
	}
	c := s.Connector
	if s.SealedSecret != "" {
		c.SecretAccessKey = connector.NewSecret(connector.Masked)
	}
	return &c, nil
}

// FindConnector resolves a name (optionally within a tenant) to a connector.
func (a *App) FindConnector(ctx context.Context, sc Scope, tenant, nameOrID string) (*connector.Connector, error) {
	list, err := a.ListConnectors(ctx, sc, tenant)
	if err != nil {
		return nil, err
	}
	var found []*connector.Connector
	for i := range list {
		if list[i].ID == nameOrID {
			return &list[i], nil
		}
		if list[i].Name == nameOrID {
			found = append(found, &list[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("connector %q: %w", nameOrID, ErrNotFound)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("connector name %q exists in several tenants: add --tenant: %w", nameOrID, ErrConflict)
}

// ListConnectors lists the connectors a scope may see.
func (a *App) ListConnectors(ctx context.Context, sc Scope, tenant string) ([]connector.Connector, error) {
	ts, err := sc.tenants(tenant)
	if err != nil {
		return nil, err
	}
	t := ""
	if len(ts) == 1 {
		t = ts[0]
	}
	list, err := a.lake.Connectors(ctx, t)
	if err != nil {
		return nil, err
	}
	out := make([]connector.Connector, 0, len(list))
	for _, s := range list {
		c := s.Connector
		if s.SealedSecret != "" {
			c.SecretAccessKey = connector.NewSecret(connector.Masked)
		}
		out = append(out, c)
	}
	return out, nil
}

// DeleteConnector deletes a connector and its checkpoints.
func (a *App) DeleteConnector(ctx context.Context, sc Scope, id string) error {
	c, err := a.GetConnector(ctx, sc, id)
	if err != nil {
		return err
	}
	// Held as "running" while it is deleted, so no run can start on it.
	a.mu.Lock()
	busy := a.running[id] != nil
	end := make(chan struct{})
	if !busy {
		a.running[id] = end
	}
	a.mu.Unlock()
	if busy {
		return fmt.Errorf("connector %s is collecting right now; disable it, wait for the run to end, then delete: %w", c.Name, ErrBusy)
	}
	defer func() {
		a.mu.Lock()
		delete(a.running, id)
		close(end)
		a.mu.Unlock()
	}()
	if err := a.lake.DeleteConnector(ctx, id); err != nil {
		return err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, c.Tenant, "connector.delete", c.ID, c.Name)
	return nil
}

// bucketFor connects to a connector's bucket with its decrypted secret.
func (a *App) bucketFor(ctx context.Context, id string) (collect.Bucket, *connector.Connector, error) {
	s, err := a.lake.Connector(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	c := s.Connector
	if c.IsLocal() {
		if err := a.folderAllowed(c.Endpoint); err != nil {
			return nil, &c, &source.Error{Status: 403, Op: "connect", Target: c.Endpoint, Explanation: err.Error() + ".", Recommendation: "Move the folder inside an allowed one, or ask the operator to allow it.", Err: err}
		}
		b, err := local.New(strings.TrimPrefix(c.Endpoint, "file://"), c.Bucket)
		return b, &c, err
	}
	if c.Credentials == connector.CredKeys && c.AccessKeyID == "" {
		return nil, &c, &source.Error{Status: 401, Op: "connect", Target: c.Bucket, Explanation: "the connector has no access key and does not choose ambient credentials.",
			Recommendation: "Edit the connector to give an access key ID and secret access key (or, as an operator, choose credentials ambient)."}
	}
	sk, err := a.box.Open(c.Tenant, c.ID, s.SealedSecret)
	if err != nil {
		return nil, &c, &source.Error{Status: 500, Op: "connect", Target: c.Bucket, Explanation: "the stored secret access key cannot be decrypted with this master key.", Recommendation: "Restore the data directory's master.key (or TRAWL_MASTER_KEY), or re-enter the secret access key.", Err: err}
	}
	cfg := s3src.Config{Bucket: c.Bucket, Region: c.Region, Endpoint: c.Endpoint, PathStyle: c.PathStyle, ProxyURI: c.ProxyURI,
		AccessKeyID: c.AccessKeyID, SecretAccessKey: sk, Guard: a.opt.Guard, ReadStall: a.opt.S3ReadStall}
	if c.Credentials == connector.CredRole {
		cfg.RoleARN, cfg.ExternalID, cfg.STSEndpoint = c.RoleARN, c.ExternalID, c.STSEndpoint
		cfg.SessionName = s3src.SessionName(c.Name)
	}
	if a.opt.S3Transport != nil {
		cfg.Transport = a.opt.S3Transport(c.Name)
	}
	b, err := s3src.New(ctx, cfg)
	if err != nil {
		return nil, &c, err
	}
	return b, &c, nil
}

// bindExternalID gives a role connector the tenant's own external ID when
// it names none, and refuses one another tenant holds.
func (a *App) bindExternalID(ctx context.Context, c *connector.Connector) error {
	if c.Credentials != connector.CredRole {
		return nil
	}
	if c.ExternalID == "" {
		id, err := a.lake.TenantExternalID(ctx, c.Tenant, newExternalID())
		if err != nil {
			return err
		}
		c.ExternalID = id
		return nil
	}
	if err := a.lake.ClaimExternalID(ctx, c.ExternalID, c.Tenant); err != nil {
		if errors.Is(err, catalog.ErrConflict) {
			return &connector.ValidationError{Problems: []connector.Problem{{Field: "external_id",
				Message: "this external ID is taken: each tenant's external IDs are its own. Leave it empty to use the tenant's generated one"}}}
		}
		return err
	}
	return nil
}

// newExternalID is a fresh random external ID, offered when a tenant has
// none yet: 128 bits, so it cannot be guessed.
func newExternalID() string { return "trawl-" + newID() + newID() }

// ExternalID returns a tenant's generated sts:ExternalId, creating it.
func (a *App) ExternalID(ctx context.Context, sc Scope, tenant string) (string, error) {
	if tenant == "" {
		tenant = sc.Tenant
	}
	if tenant == "" {
		return "", &connector.ValidationError{Problems: []connector.Problem{{Field: "tenant", Message: "required: whose external ID"}}}
	}
	if !sc.sees(tenant) {
		return "", fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
	}
	if err := a.lake.EnsureTenant(ctx, tenant); err != nil {
		return "", err
	}
	return a.lake.TenantExternalID(ctx, tenant, newExternalID())
}

// Policy writes the IAM policies a connector needs.
func (a *App) Policy(ctx context.Context, sc Scope, id string, opt awspolicy.Options) (*awspolicy.Policies, error) {
	c, err := a.GetConnector(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	return a.DraftPolicy(ctx, sc, *c, opt)
}

// DraftPolicy writes the policies for a connector being configured (the
// wizard's IAM policy step), before it is saved. A role without an external
// ID gets the tenant's generated one, as saving would give it.
func (a *App) DraftPolicy(ctx context.Context, sc Scope, c connector.Connector, opt awspolicy.Options) (*awspolicy.Policies, error) {
	if !sc.Root || c.Tenant == "" {
		c.Tenant = sc.Tenant
	}
	c.ApplyDefaults(time.Now().UTC(), a.opt.Node)
	if c.Credentials == connector.CredRole && c.ExternalID == "" && c.Tenant != "" {
		id, err := a.ExternalID(ctx, sc, c.Tenant)
		if err != nil {
			return nil, err
		}
		c.ExternalID = id
	}
	if opt.Principal == "" {
		opt.Principal = a.opt.AWSPrincipal
	}
	if err := awspolicy.CheckPrincipal(opt.Principal); err != nil {
		return nil, &connector.ValidationError{Problems: []connector.Problem{{Field: "principal", Message: err.Error()}}}
	}
	p, err := awspolicy.For(&c, opt)
	if err != nil {
		return nil, &connector.ValidationError{Problems: []connector.Problem{{Field: "prefix", Message: err.Error()}}}
	}
	return p, nil
}

func hostOf(raw string) string {
	s := raw
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "]"); i > 0 {
			return s[1:i]
		}
	}
	if i := strings.LastIndex(s, ":"); i >= 0 {
		s = s[:i]
	}
	return s
}

// Compact merges small segments once (bounded by budget when non-zero).
func (a *App) Compact(ctx context.Context, budget time.Duration) (CompactStats, error) {
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return CompactStats{}, err
	}
	defer done()
	return a.lake.Compact(ctx, CompactOptions{Budget: budget})
}

// Maintain drops the days past retention and compacts the lake every
// interval until ctx ends, so the
// segments of a day stay few however small the commits that wrote them.
func (a *App) Maintain(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var evaluated time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Detection rules: the windows that closed since the last time.
		if time.Since(evaluated) >= time.Minute {
			evaluated = time.Now()
			if rep, err := a.EvaluateRules(ctx, RootScope("detections")); err != nil && ctx.Err() == nil {
				a.log.Warn("evaluating detection rules failed; it is retried later", "err", err)
			} else if err == nil && rep.Alerts > 0 {
				a.log.Info("detection rules raised alerts", "alerts", rep.Alerts, "windows", rep.Windows)
			}
		}
		// Retention before compaction, which publishes the delete
		// snapshots and removes the files whose snapshots expired.
		if st, err := a.ApplyRetention(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("dropping days past retention failed; it is retried later", "err", err)
		} else if st.Days > 0 {
			a.log.Info("dropped days past retention", "days", st.Days, "segments", st.Segments, "rows", st.Rows)
		}
		// A third of the interval at most: compaction yields the cores
		// to collection, which is what keeps lag low.
		st, err := a.Compact(ctx, every/3)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("compaction failed; it is retried later", "err", err)
		} else if st.Merges > 0 {
			a.log.Info("compacted segments", "merges", st.Merges, "inputs", st.Inputs, "rows", st.Rows, "segments", st.Segments)
		}
	}
}

// rederiveQueue lets a new queue URL decide the region and endpoint the
// old one had decided (the edit left them as they were): moving a queue
// to another region needs only its new URL.
func rederiveQueue(old, in *connector.Connector) {
	if in.QueueURL == old.QueueURL {
		return
	}
	if in.QueueRegion == old.QueueRegion && (old.QueueRegion == connector.QueueURLRegion(old.QueueURL) || old.QueueRegion == old.Region) {
		in.QueueRegion = ""
	}
	if in.QueueEndpoint == old.QueueEndpoint && old.QueueEndpoint == connector.QueueURLEndpoint(old.QueueURL) {
		in.QueueEndpoint = ""
	}
}

// checkQueueOwner refuses a queue another connector reads: each receiver
// deletes the notifications that are not its connector's (another prefix,
// another bucket) as announcing nothing, so two connectors on one queue
// would each drop about half of the other's and wait for the hourly poll.
// Another tenant's connector is not named.
func (a *App) checkQueueOwner(ctx context.Context, c *connector.Connector) error {
	if c.QueueURL == "" {
		return nil
	}
	all, err := a.lake.Connectors(ctx, "")
	if err != nil {
		return err
	}
	for _, s := range all {
		o := s.Connector
		if o.ID == c.ID || !sameQueue(o.QueueURL, c.QueueURL) {
			continue
		}
		msg := "another connector already reads this queue; each connector needs a queue of its own: notify one queue per connector (an S3 event notification per prefix, or an SNS topic fanning out to a queue per connector)"
		if o.Tenant == c.Tenant {
			msg = fmt.Sprintf("connector %s already reads this queue; each connector needs a queue of its own: notify one queue per connector (an S3 event notification per prefix, or an SNS topic fanning out to a queue per connector)", o.Name)
		}
		return &connector.ValidationError{Problems: []connector.Problem{{Field: "queue_url", Message: msg}}}
	}
	return nil
}

// sameQueue compares queue URLs as SQS does: the host in any case, the
// path exactly.
func sameQueue(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	ua, ea := url.Parse(a)
	ub, eb := url.Parse(b)
	if ea != nil || eb != nil {
		return a == b
	}
	return strings.EqualFold(ua.Host, ub.Host) && strings.TrimSuffix(ua.Path, "/") == strings.TrimSuffix(ub.Path, "/")
}
