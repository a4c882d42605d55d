// Package cli implements the trawl command line. Its contract (commands,
// flags, exit codes, output columns) is relied on by scripts; keep it
// stable.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/audit"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/netguard"
)

type globals struct {
	dataDir       string
	masterKeyFile string
	maxDecomp     int64
	digestLimits  audit.Limits
	maxRatio      int64
	ruleLookback  time.Duration
	server        string
	token         string
	// dataDirGiven: --data-dir or TRAWL_DATA_DIR named the directory.
	dataDirGiven bool
	// mayCreate: the command sets a data directory up when there is none
	// (collect, connector add); the others refuse one never set up.
	mayCreate bool
	// setUpNamed: the command sets up a directory named by --data-dir or
	// TRAWL_DATA_DIR (connector external-id, token create).
	setUpNamed bool
	// serverFlags are the server-only flags given, refused when the
	// command runs through a server.
	serverFlags  []string
	verbose      bool
	stdin        io.Reader
	stdout       io.Writer
	stderr       io.Writer
	logger       *slog.Logger
	guard        netguard.Policy
	allowFolders []string
	awsPrincipal string
	publicKeys   string
	catalog      string
	node         string
	lake         lakeFlags
	// timings, set by collect --timings, accumulates the ingest stages of
	// a collection run in this process.
	timings *ingest.Timings
}

// lakeFlags say where the segments are kept when not in the data directory.
type lakeFlags struct {
	location, endpoint, region string
	pathStyle                  bool
}

const usage = `trawl collects AWS security logs from S3 and makes them searchable.

Usage:
  trawl serve      [--addr 127.0.0.1:8080] [--data-dir DIR]
  trawl demo       [--addr 127.0.0.1:8080] [--data-dir DIR]
  trawl connector  add|list|show|edit|enable|disable|delete ...
  trawl collect    --once [--from T --to T] [NAME...]
  trawl search     [--index aws_events|traffic] [--tenant T] [--from T] [--to T]
                   [--limit N] [--count] [--format table|json|ndjson] [QUERY]
  trawl quarantine list [--connector NAME]
  trawl connector  test NAME
  trawl token      create [--tenant T] [--name N]
  trawl login      --server URL --token-file F   (later commands go there)
  trawl logout
  trawl audit      [--from -24h] [--to now] [--format table|json] [NAME]
                   (CloudTrail digests: exit 1 when a file is missing or altered)
  trawl gen        --out DIR [--bucket B] [--digests --public-keys-out F] ...
  trawl catalog    migrate --to postgres://USER@HOST:PORT/DB
                   (move the catalog into PostgreSQL; then pass --catalog URL)
  trawl nodes      [--format table|json]  (the nodes sharing the catalog)
  trawl key        generate [--out FILE]
                   (a new master key, base64, for --master-key-file or TRAWL_MASTER_KEY)
  trawl alerts     [--since -24h] [--level L] [--rule ID] [--status S] [--format table|json|ndjson]
                   [--evaluate]  (alerts of the detection rules)
  trawl alerts     update ID... [--status open|acknowledged|closed --reason R] [--assignee A] [--note TEXT]
                   (triage: closed needs true-positive, false-positive or benign)
  trawl rules      list|add FILE.yml|enable ID|disable ID|delete ID|webhook [URL [--status-changes]|--clear] [--tenant T]
                   (Sigma rules: the built-in set, switchable per tenant, and a tenant's own)
  trawl rules      run ID --from T [--to now] [--tenant T]
                   (evaluate a rule over a past period; alerts stored once however often run)
  trawl rules      except ID --query Q --reason WHY [--tenant T] | unexcept ID EXCEPTION-ID
                   (a tenant's exclusion from a rule, applied at evaluation)
  trawl retention  show [--tenant T] | set [--tenant T] [--index I] 90d|forever|inherit
                   (days of records kept, today included; older days are dropped whole)

Every command takes --data-dir DIR (env TRAWL_DATA_DIR, default ./trawl-data)
and --catalog URL (env TRAWL_CATALOG) when the catalog is in PostgreSQL.
When a server holds the data directory, commands use its API (token from
--token, TRAWL_TOKEN, or the directory's root.token); --server URL (env
TRAWL_SERVER) or trawl login names a server elsewhere. Only serve, demo,
collect and connector add set a new data directory up.

A command's own flags: trawl COMMAND --help. The flags every command
takes (data directory, catalog, lake, network guard, ...): trawl help flags.
`

// DefaultGoMemoryLimit is the Go heap's soft limit unless GOMEMLIMIT is
// set: ingest holds two column batches per worker and reuses them, and the
// collector makes the garbage collector keep the heap near its live size
// instead of letting it double. 150 MiB measured no slower than 200 MiB on
// a 756 MB CloudTrail object and keeps the process under 256 MB resident.
const DefaultGoMemoryLimit = 150 << 20

// DefaultGCPercent is the garbage collector's GOGC unless GOGC is set:
// ingest allocates a record's strings and then drops them, and at Go's
// default of 100 the collector's write barriers and marking were a tenth
// of a collection (VPC flow, 900,000 records: 8.0 s and 8.7 s against
// 7.4 s and 7.7 s at 300, peak RSS unchanged at 260 MB). The soft limit
// above still bounds the heap: near it the collector runs as often as it
// must.
const DefaultGCPercent = 300

// Main runs the CLI and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(DefaultGoMemoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	g.dataDir = os.Getenv("TRAWL_DATA_DIR")
	g.dataDirGiven = g.dataDir != ""
	if g.dataDir == "" {
		g.dataDir = "trawl-data"
	}
	g.token = os.Getenv("TRAWL_TOKEN")
	g.server = os.Getenv("TRAWL_SERVER")
	for _, v := range strings.Split(os.Getenv("TRAWL_ALLOW_NET"), ",") {
		if p, err := netip.ParsePrefix(strings.TrimSpace(v)); err == nil {
			g.guard.Allow = append(g.guard.Allow, p)
		}
	}
	g.guard.DenyPrivate = os.Getenv("TRAWL_DENY_PRIVATE") == "1"
	if len(args) == 2 && args[0] == "help" && args[1] == "flags" {
		helpFlags(g)
		return 0
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, rest := args[0], args[1:]
	g.mayCreate = cmd == "collect" || ((cmd == "connector" || cmd == "connectors") && len(rest) > 0 && rest[0] == "add")
	// The first steps of setting a directory up without a server (the
	// external ID a role's trust policy needs, a tenant's first token)
	// create one only when it was named: never ./trawl-data by default.
	g.setUpNamed = (cmd == "connector" || cmd == "connectors") && len(rest) > 0 && rest[0] == "external-id" || (cmd == "token" || cmd == "tokens")
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, g, rest, false)
	case "demo":
		err = cmdServe(ctx, g, rest, true)
	case "connector", "connectors":
		err = cmdConnector(ctx, g, rest)
	case "collect":
		err = cmdCollect(ctx, g, rest)
	case "search":
		err = cmdSearch(ctx, g, rest)
	case "quarantine":
		err = cmdQuarantine(ctx, g, rest)
	case "gen":
		err = cmdGen(ctx, g, rest)
	case "token", "tokens":
		err = cmdToken(ctx, g, rest)
	case "audit":
		err = cmdAudit(ctx, g, rest)
	case "catalog":
		err = cmdCatalog(ctx, g, rest)
	case "nodes", "node":
		err = cmdNodes(ctx, g, rest)
	case "alerts", "alert":
		err = cmdAlerts(ctx, g, rest)
	case "rules", "rule":
		err = cmdRules(ctx, g, rest)
	case "login", "logout":
		err = cmdLogin(ctx, g, rest, cmd == "logout")
	case "key", "keys":
		err = cmdKey(ctx, g, rest)
	case "retention":
		err = cmdRetention(ctx, g, rest)
	case "version":
		fmt.Fprintln(stdout, "trawl "+Version)
	default:
		fmt.Fprintf(stderr, "trawl: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		var ex *exitError
		if errors.As(err, &ex) {
			if ex.msg != "" {
				fmt.Fprintln(stderr, "trawl: "+ex.msg)
			}
			return ex.code
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "trawl: "+err.Error())
		return 1
	}
	return 0
}

// Version of this build.
const Version = "0.1.0-dev"

type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// newFlags returns a flag set with the global flags bound.
func newFlags(g *globals, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(g.stderr)
	fs.StringVar(&g.dataDir, "data-dir", g.dataDir, "data directory (env TRAWL_DATA_DIR)")
	fs.StringVar(&g.server, "server", g.server, "API base URL of a trawl server (env TRAWL_SERVER; default: the one holding --data-dir, else the one saved by trawl login)")
	fs.StringVar(&g.token, "token", g.token, "API token (env TRAWL_TOKEN)")
	fs.BoolVar(&g.verbose, "v", false, "verbose logging")
	fs.StringVar(&g.masterKeyFile, "master-key-file", g.masterKeyFile, "file holding the master key (default <data-dir>/master.key; env TRAWL_MASTER_KEY holds the key itself)")
	fs.Int64Var(&g.maxDecomp, "max-decompressed", g.maxDecomp, "quarantine an object that decompresses to more bytes than this (default 16 GiB)")
	fs.Int64Var(&g.digestLimits.MaxSize, "digest-max-size", g.digestLimits.MaxSize, fmt.Sprintf("digest audit: a CloudTrail digest larger than this many bytes compressed is not read, its hour unverifiable (default %d)", audit.DefaultMaxSize))
	fs.Int64Var(&g.digestLimits.MaxDecompressed, "digest-max-decompressed", g.digestLimits.MaxDecompressed, fmt.Sprintf("digest audit: a CloudTrail digest larger than this many bytes uncompressed is not read further, its hour unverifiable (default %d)", audit.DefaultMaxDecompressed))
	fs.IntVar(&g.digestLimits.MaxFiles, "digest-max-files", g.digestLimits.MaxFiles, fmt.Sprintf("digest audit: a CloudTrail digest listing more log files than this is not read further, its hour unverifiable (default %d)", audit.DefaultMaxFiles))
	fs.DurationVar(&g.ruleLookback, "rule-lookback", 24*time.Hour, "how far back a detection rule's first scheduled evaluation looks; older data is for trawl rules run")
	fs.Int64Var(&g.maxRatio, "max-ratio", g.maxRatio, "quarantine an object whose decompressed/compressed ratio exceeds this past 1 MiB (default 200)")
	fs.Func("allow-net", "allow endpoints and proxies in this CIDR even if link-local (repeatable; env TRAWL_ALLOW_NET, comma-separated)", func(v string) error {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return err
		}
		g.guard.Allow = append(g.guard.Allow, p)
		return nil
	})
	fs.BoolVar(&g.guard.DenyPrivate, "deny-private", g.guard.DenyPrivate, "refuse loopback and private endpoints too (env TRAWL_DENY_PRIVATE=1)")
	fs.Func("allow-folder", "confine file:// endpoints (root only) to this folder (repeatable)", func(v string) error {
		abs, err := filepath.Abs(v)
		if err != nil {
			return err
		}
		g.allowFolders = append(g.allowFolders, abs)
		return nil
	})
	fs.StringVar(&g.lake.location, "lake", os.Getenv("TRAWL_LAKE"), "keep the segments in S3: s3://BUCKET/PREFIX, with the operator's AWS credentials (default: in the data directory; env TRAWL_LAKE)")
	fs.StringVar(&g.lake.endpoint, "lake-endpoint", os.Getenv("TRAWL_LAKE_ENDPOINT"), "S3-compatible endpoint of --lake (env TRAWL_LAKE_ENDPOINT)")
	fs.StringVar(&g.lake.region, "lake-region", os.Getenv("TRAWL_LAKE_REGION"), "region of --lake's bucket (env TRAWL_LAKE_REGION)")
	fs.BoolVar(&g.lake.pathStyle, "lake-path-style", os.Getenv("TRAWL_LAKE_PATH_STYLE") == "1", "path-style requests to --lake (env TRAWL_LAKE_PATH_STYLE=1)")
	fs.StringVar(&g.node, "node", os.Getenv("TRAWL_NODE"), "this node's name (default: the host name; env TRAWL_NODE)")
	fs.StringVar(&g.catalog, "catalog", os.Getenv("TRAWL_CATALOG"), "keep the catalog in PostgreSQL: postgres://USER@HOST:PORT/DB (default: in the data directory; env TRAWL_CATALOG)")
	// The help shows TRAWL_CATALOG as the default: never its password.
	fs.Lookup("catalog").DefValue = app.RedactCatalog(fs.Lookup("catalog").DefValue)
	fs.StringVar(&g.publicKeys, "public-keys", os.Getenv("TRAWL_PUBLIC_KEYS"), "CloudTrail public keys for the digest audit, as aws cloudtrail list-public-keys prints them (air-gapped sites; env TRAWL_PUBLIC_KEYS)")
	fs.StringVar(&g.awsPrincipal, "aws-principal", os.Getenv("TRAWL_AWS_PRINCIPAL"), "ARN of the identity this server assumes roles from, shown in generated trust policies (env TRAWL_AWS_PRINCIPAL)")
	fs.Func("dns-server", "resolve endpoint, proxy and webhook hosts with this DNS server (host:port) instead of the system's", func(v string) error {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("--dns-server is host:port, e.g. 10.0.0.2:53: %w", err)
		}
		d := &net.Dialer{Timeout: 5 * time.Second}
		g.guard.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, v)
		}}
		return nil
	})
	// A command's help shows its own flags; the global ones above, the
	// same for every command, would bury them, so `trawl help flags`
	// lists those once.
	global := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { global[f.Name] = true })
	fs.Usage = func() { commandUsage(fs, name, global) }
	return fs
}

// globalFlagsHint is the line every command's help ends with.
const globalFlagsHint = "Flags every command takes (--data-dir, --token, --catalog, --master-key-file, --allow-net, ...): trawl help flags"

// commandUsage prints a command's own flags, then where the global ones
// are listed.
func commandUsage(fs *flag.FlagSet, name string, global map[string]bool) {
	w := fs.Output()
	own := flag.NewFlagSet(name, flag.ContinueOnError)
	own.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if !global[f.Name] {
			own.Var(f.Value, f.Name, f.Usage)
			own.Lookup(f.Name).DefValue = f.DefValue // not what was parsed before --help
		}
	})
	fmt.Fprintf(w, "Usage of trawl %s:\n", name)
	if !hasFlags(own) {
		fmt.Fprintln(w, "  (no flags of its own)")
	}
	own.PrintDefaults()
	fmt.Fprintf(w, "\n%s\n", globalFlagsHint)
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// helpFlags prints the flags every command takes (`trawl help flags`).
func helpFlags(g *globals) {
	fs := newFlags(g, "")
	fs.SetOutput(g.stdout)
	fmt.Fprintln(g.stdout, "Flags every command takes (before or after its own):")
	fs.PrintDefaults()
}

// parse parses flags anywhere among the arguments and returns the
// positional ones.
func parse(g *globals, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, flag.ErrHelp // asked for: Main exits 0
			}
			return nil, &exitError{code: 2}
		}
		g.noteFlags(fs)
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	level := slog.LevelWarn
	if g.verbose {
		level = slog.LevelDebug
	}
	g.logger = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
	return pos, nil
}

func usageErr(format string, a ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, a...)}
}

func joinLines(ss []string) string { return strings.Join(ss, "\n") }

func cmdToken(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return usageErr("token create [--tenant T] [--name N]")
	}
	fs := newFlags(g, "token create")
	tenant := fs.String("tenant", "", "tenant the token is limited to (empty: root scope)")
	name := fs.String("name", "", "a name to recognise the token by")
	if _, err := parse(g, fs, args[1:]); err != nil {
		return err
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	tok, err := b.CreateToken(ctx, *tenant, *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.stdout, tok)
	fmt.Fprintln(g.stderr, "store this token now: it is not shown again")
	return nil
}

// table is the writer every command prints its table through: columns two
// spaces apart.
func (g *globals) table() *tabwriter.Writer {
	return tabwriter.NewWriter(escaper{g.stdout}, 0, 4, 2, ' ', 0)
}

// human is where human-readable reports (not tables) go: control
// characters in them are shown as escapes.
func (g *globals) human() io.Writer { return escaper{g.stdout} }
