package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/trawlhq/trawl/internal/ingest"
)

// Options tune the catalog.
type Options struct {
	// MemoryLimit for the embedded DuckDB catalog, e.g. "1GB" (default
	// 512MB).
	MemoryLimit string
	// Catalog is where the catalog lives: empty for the embedded DuckDB
	// file at the path Open is given, or a postgres:// URL.
	Catalog string
	// Timings, if set, accumulates the time of commits (benchmarks).
	Timings *Timings
}

// Catalog is an open catalog: the embedded DuckDB file (on one thread:
// its statements gain nothing from more, and DuckDB's idle worker
// threads took 6% of two cores from the decoders during ingest) or a
// shared PostgreSQL database.
type Catalog struct {
	db   *catDB
	path string
	// commitMu serialises catalog commits: they are short, and DuckDB
	// aborts one of two concurrent transactions touching the same rows.
	// Segments are written outside it, by every worker at once.
	commitMu sync.Mutex
	timings  *Timings
}

// ErrLocked means another process (normally `trawl serve`) holds the file.
var ErrLocked = errors.New("the data directory is in use by another Trawl process")

// Open opens or creates the catalog of the data directory whose catalog
// file is path (the embedded one's, and the directory's binding's), with
// its tables created and migrated. It refuses a catalog the directory is
// not bound to, leaving that catalog as it was.
func Open(ctx context.Context, path string, opt Options) (*Catalog, error) {
	if opt.MemoryLimit == "" {
		opt.MemoryLimit = "512MB"
	}
	if err := checkEmbeddedBinding(path, opt.Catalog); err != nil {
		return nil, err
	}
	common := "memory_limit=" + opt.MemoryLimit + "&autoinstall_known_extensions=false&autoload_known_extensions=false"
	db, err := openCatalog(path, opt.Catalog, common)
	if err != nil {
		return nil, err
	}
	// The binding is checked before the catalog's tables are created: a
	// refused catalog is left as it was (an empty database stays empty).
	if err := checkBinding(ctx, db, path); err != nil {
		db.Close()
		return nil, err
	}
	l := &Catalog{db: db, path: path, timings: opt.Timings}
	if err := l.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := l.bindDataDir(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

// openCatalog opens the catalog: DuckDB's file at path, or the PostgreSQL
// database that catalog names.
func openCatalog(path, catalog, common string) (*catDB, error) {
	if isPostgres(catalog) {
		db, err := sql.Open("pgx", withSessionTimeouts(catalog))
		if err != nil {
			return nil, fmt.Errorf("lake: catalog %s: %w", RedactCatalog(catalog), redactErr(err, catalog))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("lake: catalog %s: %w (check that PostgreSQL runs there and the user may connect)", RedactCatalog(catalog), redactErr(err, catalog))
		}
		return &catDB{db: db, pg: true}, nil
	}
	if catalog != "" {
		return nil, fmt.Errorf("lake: catalog %q: give a postgres://USER@HOST:PORT/DB URL, or none for the embedded catalog", RedactCatalog(catalog))
	}
	// checkpoint_threshold: DuckDB folds its WAL into the file every 16 MB
	// by default; 256 MB keeps catalog commits cheap under ingest (the WAL
	// is durable, so a crash only lengthens the replay at the next open).
	db, err := openDuckDB(path + "?storage_compatibility_version=v1.5.0&checkpoint_threshold=256MB&threads=1&" + common)
	if err != nil {
		if strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("lake: open %s: %w (%v)", path, ErrLocked, err)
		}
		return nil, fmt.Errorf("lake: open %s: %w", path, err)
	}
	return &catDB{db: db}, nil
}

// withSessionTimeouts has PostgreSQL end a catalog session left idle in a
// transaction (a node paused or cut off mid-commit) after 15 s, so its row
// locks do not hold the other nodes' commits for longer; its lease is lost
// by then anyway, and its commit rolls back.
func withSessionTimeouts(dsn string) string {
	if strings.Contains(dsn, "idle_in_transaction_session_timeout") {
		return dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "idle_in_transaction_session_timeout=15000"
}

// openDuckDB opens a DuckDB database from a DSN (a path, then its
// settings).
func openDuckDB(dsn string) (*sql.DB, error) {
	c, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// Close closes the catalog, checkpointing an embedded one's WAL.
func (l *Catalog) Close() error {
	if !l.db.pg {
		_, _ = l.db.ExecContext(context.Background(), "CHECKPOINT")
	}
	return l.db.Close()
}

// Path returns the catalog file's path (the data directory's, with any
// catalog).
func (l *Catalog) Path() string { return l.path }

// Dir returns the data directory.
func (l *Catalog) Dir() string { return filepath.Dir(l.path) }

// DB is the catalog's database, for checks and tools that read its tables
// directly: everything else goes through the Catalog's methods.
func (l *Catalog) DB() *catDB { return l.db }

// readyTimeout bounds the catalog's answer to a readiness probe.
const readyTimeout = 5 * time.Second

// Ping reports whether the catalog answers, within readyTimeout.
func (l *Catalog) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var one int
	return l.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

const catalogDDL = `
CREATE TABLE IF NOT EXISTS meta (k VARCHAR PRIMARY KEY, v VARCHAR);
CREATE TABLE IF NOT EXISTS tenants (name VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS tenant_external_ids (tenant VARCHAR PRIMARY KEY, external_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS external_ids (external_id VARCHAR PRIMARY KEY, tenant VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS connectors (
  id VARCHAR PRIMARY KEY, tenant VARCHAR NOT NULL, name VARCHAR NOT NULL,
  config VARCHAR NOT NULL, secret VARCHAR, version BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
  connector_id VARCHAR NOT NULL, key VARCHAR NOT NULL, version VARCHAR NOT NULL,
  position BIGINT NOT NULL, done BOOLEAN NOT NULL, records BIGINT NOT NULL,
  quarantined BIGINT NOT NULL, size BIGINT, last_modified TIMESTAMP, updated_at TIMESTAMP NOT NULL,
  sha256 VARCHAR,
  PRIMARY KEY (connector_id, key));
CREATE TABLE IF NOT EXISTS partitions (
  connector_id VARCHAR NOT NULL, prefix VARCHAR NOT NULL, watermark TIMESTAMP NOT NULL,
  PRIMARY KEY (connector_id, prefix));
CREATE TABLE IF NOT EXISTS runs (
  id VARCHAR PRIMARY KEY, connector_id VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL,
  ended_at TIMESTAMP, result VARCHAR NOT NULL, status INTEGER, reason VARCHAR, recommendation VARCHAR,
  objects BIGINT, records BIGINT, bytes BIGINT, skipped BIGINT, quarantined BIGINT, dropped BIGINT, errors BIGINT,
  newest_object TIMESTAMP, node VARCHAR);
CREATE TABLE IF NOT EXISTS quarantine (
  id VARCHAR PRIMARY KEY, tenant VARCHAR NOT NULL, connector_id VARCHAR NOT NULL, connector VARCHAR NOT NULL,
  bucket VARCHAR, key VARCHAR NOT NULL, version VARCHAR, position BIGINT, offset_bytes BIGINT,
  scope VARCHAR NOT NULL, reason VARCHAR NOT NULL, raw BLOB,
  created_at TIMESTAMP NOT NULL, retried_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS tokens (
  id VARCHAR PRIMARY KEY, hash VARCHAR NOT NULL, tenant VARCHAR, name VARCHAR, created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
  "at" TIMESTAMP NOT NULL, actor VARCHAR, tenant VARCHAR, action VARCHAR NOT NULL, target VARCHAR, detail VARCHAR);
CREATE TABLE IF NOT EXISTS segments (
  id VARCHAR PRIMARY KEY, idx VARCHAR NOT NULL, tenant VARCHAR NOT NULL, day DATE NOT NULL, path VARCHAR NOT NULL,
  rows BIGINT NOT NULL, bytes BIGINT NOT NULL, min_ts TIMESTAMP NOT NULL, max_ts TIMESTAMP NOT NULL,
  row_groups INTEGER NOT NULL, level INTEGER NOT NULL, created_at TIMESTAMP NOT NULL, detected BOOLEAN DEFAULT TRUE,
  detected_seq BIGINT);
CREATE TABLE IF NOT EXISTS audit_results (
  connector_id VARCHAR NOT NULL, account VARCHAR NOT NULL, region VARCHAR NOT NULL, hour TIMESTAMP NOT NULL,
  status VARCHAR NOT NULL, files INTEGER NOT NULL, missing VARCHAR, altered VARCHAR, unlisted VARCHAR, reason VARCHAR,
  digest VARCHAR, updated_at TIMESTAMP NOT NULL, kind VARCHAR,
  PRIMARY KEY (connector_id, account, region, hour));
CREATE TABLE IF NOT EXISTS public_keys (
  fingerprint VARCHAR PRIMARY KEY, der BLOB NOT NULL, source VARCHAR NOT NULL, added_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS saved_searches (
  id VARCHAR PRIMARY KEY, tenant VARCHAR NOT NULL, name VARCHAR NOT NULL, spec VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS segment_garbage (path VARCHAR PRIMARY KEY, delete_after TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
  id VARCHAR PRIMARY KEY, tenant VARCHAR NOT NULL, rule_id VARCHAR NOT NULL, rule VARCHAR NOT NULL, level VARCHAR NOT NULL,
  window_start TIMESTAMP NOT NULL, window_end TIMESTAMP NOT NULL, group_key VARCHAR NOT NULL, count BIGINT NOT NULL,
  records VARCHAR NOT NULL, query VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, notified_at TIMESTAMP,
  status VARCHAR DEFAULT 'open', close_reason VARCHAR DEFAULT '', assignee VARCHAR DEFAULT '', notes VARCHAR DEFAULT '[]',
  updated_at TIMESTAMP, updated_by VARCHAR DEFAULT '',
  UNIQUE (tenant, rule_id, window_start, group_key));
CREATE TABLE IF NOT EXISTS webhooks (tenant VARCHAR PRIMARY KEY, url VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL, status_changes BOOLEAN DEFAULT FALSE);
CREATE TABLE IF NOT EXISTS rules (
  tenant VARCHAR NOT NULL, id VARCHAR NOT NULL, yaml VARCHAR NOT NULL, enabled BOOLEAN NOT NULL, builtin BOOLEAN NOT NULL,
  updated_at TIMESTAMP NOT NULL, PRIMARY KEY (tenant, id));
CREATE TABLE IF NOT EXISTS rule_marks (
  tenant VARCHAR NOT NULL, rule_id VARCHAR NOT NULL, done_to TIMESTAMP NOT NULL, PRIMARY KEY (tenant, rule_id));
CREATE TABLE IF NOT EXISTS rule_exceptions (
  id VARCHAR PRIMARY KEY, tenant VARCHAR NOT NULL, rule_id VARCHAR NOT NULL, query VARCHAR NOT NULL,
  reason VARCHAR NOT NULL, author VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS rule_coverage (
  tenant VARCHAR NOT NULL, rule_id VARCHAR NOT NULL, idx VARCHAR NOT NULL, hunt VARCHAR NOT NULL, since_seq BIGINT NOT NULL,
  PRIMARY KEY (tenant, rule_id));
CREATE TABLE IF NOT EXISTS detect_clock (id INTEGER PRIMARY KEY, n BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS rule_failures (
  tenant VARCHAR NOT NULL, rule_id VARCHAR NOT NULL, reason VARCHAR NOT NULL, failed_at TIMESTAMP NOT NULL, PRIMARY KEY (tenant, rule_id));
CREATE TABLE IF NOT EXISTS nodes (
  node VARCHAR PRIMARY KEY, addr VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL, seen_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS iceberg_queue (id VARCHAR PRIMARY KEY, tenant VARCHAR NOT NULL, idx VARCHAR NOT NULL, day DATE NOT NULL);
CREATE TABLE IF NOT EXISTS iceberg_tables (
  tenant VARCHAR NOT NULL, idx VARCHAR NOT NULL, claimed BIGINT NOT NULL, metadata VARCHAR NOT NULL, PRIMARY KEY (tenant, idx));
CREATE TABLE IF NOT EXISTS iceberg_files (
  path VARCHAR PRIMARY KEY, tenant VARCHAR NOT NULL, idx VARCHAR NOT NULL, day DATE NOT NULL,
  snapshot BIGINT NOT NULL, seq BIGINT NOT NULL, rows BIGINT NOT NULL, bytes BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS iceberg_manifests (
  tenant VARCHAR NOT NULL, idx VARCHAR NOT NULL, day DATE NOT NULL, path VARCHAR NOT NULL, length BIGINT NOT NULL,
  snapshot BIGINT NOT NULL, seq BIGINT NOT NULL, min_seq BIGINT NOT NULL, added_files INTEGER NOT NULL, existing_files INTEGER NOT NULL,
  deleted_files INTEGER NOT NULL, added_rows BIGINT NOT NULL, existing_rows BIGINT NOT NULL, deleted_rows BIGINT NOT NULL,
  PRIMARY KEY (tenant, idx, day));
CREATE TABLE IF NOT EXISTS iceberg_garbage (path VARCHAR PRIMARY KEY, delete_after TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS retention (
  tenant VARCHAR NOT NULL, idx VARCHAR NOT NULL, days INTEGER NOT NULL, updated_at TIMESTAMP NOT NULL, set_by VARCHAR,
  PRIMARY KEY (tenant, idx));
CREATE TABLE IF NOT EXISTS leases (
  connector_id VARCHAR NOT NULL, part VARCHAR NOT NULL, node VARCHAR NOT NULL, holder VARCHAR NOT NULL, epoch BIGINT NOT NULL,
  expires_at TIMESTAMP NOT NULL, PRIMARY KEY (connector_id, part));
`

// catalogSchema is the version of the catalog's tables. A PostgreSQL
// catalog that has it skips its DDL: there, ALTER TABLE waits for every
// open transaction on the table, and a paused node may hold one.
const catalogSchema = "18"

func (l *Catalog) migrate(ctx context.Context) error {
	if l.db.pg {
		if v, err := l.Meta(ctx, "schema"); err == nil && v == catalogSchema {
			return nil
		}
	}
	if err := l.createTables(ctx); err != nil {
		return err
	}
	// Before 0.2 quarantined bytes were VARCHAR, which refuses input that
	// is not valid UTF-8: exactly what the quarantine must keep.
	var typ string
	err := l.db.QueryRowContext(ctx, `SELECT data_type FROM information_schema.columns WHERE table_name = 'quarantine' AND column_name = 'raw'`).Scan(&typ)
	if err == nil && !l.db.pg && typ != "BLOB" {
		if _, err := l.db.ExecContext(ctx, `ALTER TABLE quarantine ALTER raw SET DATA TYPE BLOB USING encode(raw)`); err != nil {
			return fmt.Errorf("lake: migrate quarantine bytes to BLOB: %w", err)
		}
	}
	// Before 0.3 checkpoints had no content hash (the digest audit's).
	if _, err := l.db.ExecContext(ctx, `ALTER TABLE objects ADD COLUMN IF NOT EXISTS sha256 VARCHAR`); err != nil {
		return fmt.Errorf("lake: add the checkpoints' content hash: %w", err)
	}
	// Alerts are marked when their tenant's webhook took them.
	if _, err := l.db.ExecContext(ctx, `ALTER TABLE alerts ADD COLUMN IF NOT EXISTS notified_at TIMESTAMP`); err != nil {
		return fmt.Errorf("lake: add the alerts' notification time: %w", err)
	}
	// Before 0.5 no detector read the segments: those are taken as read.
	if _, err := l.db.ExecContext(ctx, `ALTER TABLE segments ADD COLUMN IF NOT EXISTS detected BOOLEAN DEFAULT TRUE`); err != nil {
		return fmt.Errorf("lake: add the segments' detection flag: %w", err)
	}
	// Before 0.8 the detector's passes were not numbered: segments read
	// before (detected_seq NULL) count as read by no rule, so the
	// schedule evaluates their windows as it always did.
	if _, err := l.db.ExecContext(ctx, `ALTER TABLE segments ADD COLUMN IF NOT EXISTS detected_seq BIGINT`); err != nil {
		return fmt.Errorf("lake: add the segments' detection pass: %w", err)
	}
	if l.db.pg {
		// The detector looks for the few unread segments among many.
		if _, err := l.db.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS segments_undetected ON segments (created_at) WHERE detected = false`); err != nil {
			return fmt.Errorf("lake: index the segments the detector has not read: %w", err)
		}
	}
	// Audit results did not say of which kind their reason is (a bad
	// signature, a broken chain, ...); older rows read as no kind until
	// the next audit of their hour.
	if _, err := l.db.ExecContext(ctx, `ALTER TABLE audit_results ADD COLUMN IF NOT EXISTS kind VARCHAR`); err != nil {
		return fmt.Errorf("lake: add the audit results' reason kind: %w", err)
	}
	if err := l.migrateTriage(ctx); err != nil {
		return err
	}
	// Before 0.4 runs did not say which node made them.
	if _, err := l.db.ExecContext(ctx, `ALTER TABLE runs ADD COLUMN IF NOT EXISTS node VARCHAR`); err != nil {
		return fmt.Errorf("lake: add the runs' node: %w", err)
	}
	// Before 0.6 the lake had no Iceberg tables: its days are queued for
	// their first snapshots.
	if err := l.queueExisting(ctx); err != nil {
		return err
	}
	// Before 0.7 no JDBC catalog was kept (schema 16); schema 17 adds the
	// retention settings (created with the tables above).
	if err := l.createJDBCTables(ctx); err != nil {
		return err
	}
	// Schema 18 records who set each retention setting.
	if err := l.migrateRetentionSetBy(ctx); err != nil {
		return err
	}
	if l.db.pg {
		return l.SetMeta(ctx, "schema", catalogSchema) // a PostgreSQL catalog never held rows
	}
	return nil
}

// createTables creates the catalog's tables and indexes where missing.
func (l *Catalog) createTables(ctx context.Context) error {
	for _, stmt := range strings.Split(catalogDDL, ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if l.db.pg {
			stmt = strings.ReplaceAll(stmt, " BLOB", " BYTEA")
		}
		if _, err := l.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("lake: create catalog: %w", err)
		}
	}
	// A name is unique within its tenant. (The insert checks too, but only
	// the constraint holds under concurrent inserts.)
	if _, err := l.db.ExecContext(ctx, `CREATE UNIQUE INDEX IF NOT EXISTS connectors_tenant_name ON connectors (tenant, name)`); err != nil {
		return fmt.Errorf("lake: two connectors share a name within a tenant; rename one with an older Trawl, then upgrade: %w", err)
	}
	return nil
}

// withTx runs fn inside one transaction on one connection, so an Appender
// created by fn commits or rolls back with everything else fn did.
//
// Cancelling ctx stops fn's statements, never the transaction's edges: a
// BEGIN or COMMIT interrupted part-way can take effect and still report
// the cancellation, leaving a pooled connection inside a transaction or a
// commit whose files the caller then deletes. So ctx is checked before
// BEGIN, and BEGIN, COMMIT and ROLLBACK run to their end; a connection
// whose ROLLBACK fails is discarded, not returned to the pool.
func (l *Catalog) withTx(ctx context.Context, fn func(conn *catConn) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	edge := context.WithoutCancel(ctx)
	conn, err := l.db.Conn(edge)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(edge, "BEGIN TRANSACTION"); err != nil {
		return err
	}
	defer func() {
		if err != nil && !errors.Is(err, ingest.ErrCommitUnknown) {
			if _, rerr := conn.ExecContext(edge, "ROLLBACK"); rerr != nil {
				conn.discard()
			}
		}
	}()
	if err := fn(conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(edge, "COMMIT"); err != nil {
		conn.discard()
		return fmt.Errorf("%w: %w", ingest.ErrCommitUnknown, err)
	}
	return nil
}
