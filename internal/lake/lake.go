// Package lake is Trawl's embedded data lake and catalog on DuckDB, and the
// only package that imports it. Records, the checkpoint of the object they
// came from and any quarantined input commit in one transaction, so a crash
// at any point leaves all of a batch or none of it.
package lake

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/trawlhq/trawl/internal/interflow"
)

// Options tune the database.
type Options struct {
	// MemoryLimit for DuckDB, e.g. "1GB". DuckDB's default is 80% of RAM.
	MemoryLimit string
	Threads     int
}

// Lake is an open data directory database.
type Lake struct {
	db   *sql.DB
	path string
}

// ErrLocked means another process (normally `trawl serve`) holds the file.
var ErrLocked = errors.New("the data directory is in use by another Trawl process")

// Open opens or creates the lake at path.
func Open(ctx context.Context, path string, opt Options) (*Lake, error) {
	if opt.MemoryLimit == "" {
		opt.MemoryLimit = "1GB"
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	// checkpoint_threshold: DuckDB folds its WAL into the file (compressing
	// the raw column) every 16 MB of changes by default; during ingest that
	// dominated the commit cost. 256 MB made end-to-end CloudTrail ingest
	// 1.7x faster; the WAL is durable, so a crash only lengthens the replay
	// at the next open.
	dsn := path + "?storage_compatibility_version=v1.5.0&memory_limit=" + opt.MemoryLimit +
		"&autoinstall_known_extensions=false&autoload_known_extensions=false&checkpoint_threshold=256MB"
	if opt.Threads > 0 {
		dsn += fmt.Sprintf("&threads=%d", opt.Threads)
	}
	c, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		if strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("lake: open %s: %w (%v)", path, ErrLocked, err)
		}
		return nil, fmt.Errorf("lake: open %s: %w", path, err)
	}
	db := sql.OpenDB(c)
	l := &Lake{db: db, path: path}
	if err := l.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

// Close closes the database, checkpointing its WAL.
func (l *Lake) Close() error {
	_, _ = l.db.Exec("CHECKPOINT")
	return l.db.Close()
}

// Path returns the database file path.
func (l *Lake) Path() string { return l.path }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// ipKeyColumn is the hidden sortable column kept beside each IP field.
func ipKeyColumn(field string) string { return field + "#key" }

func sqlType(t interflow.Type) string {
	switch t {
	case interflow.Int:
		return "BIGINT"
	case interflow.Bool:
		return "BOOLEAN"
	case interflow.Time:
		return "TIMESTAMP"
	case interflow.Strings:
		return "VARCHAR[]"
	}
	return "VARCHAR"
}

const catalogDDL = `
CREATE TABLE IF NOT EXISTS meta (k VARCHAR PRIMARY KEY, v VARCHAR);
CREATE TABLE IF NOT EXISTS tenants (name VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS connectors (
  id VARCHAR PRIMARY KEY, tenant VARCHAR NOT NULL, name VARCHAR NOT NULL,
  config VARCHAR NOT NULL, secret VARCHAR, version BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
  connector_id VARCHAR NOT NULL, key VARCHAR NOT NULL, version VARCHAR NOT NULL,
  position BIGINT NOT NULL, done BOOLEAN NOT NULL, records BIGINT NOT NULL,
  quarantined BIGINT NOT NULL, size BIGINT, last_modified TIMESTAMP, updated_at TIMESTAMP NOT NULL,
  PRIMARY KEY (connector_id, key));
CREATE TABLE IF NOT EXISTS partitions (
  connector_id VARCHAR NOT NULL, prefix VARCHAR NOT NULL, watermark TIMESTAMP NOT NULL,
  PRIMARY KEY (connector_id, prefix));
CREATE TABLE IF NOT EXISTS runs (
  id VARCHAR PRIMARY KEY, connector_id VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL,
  ended_at TIMESTAMP, result VARCHAR NOT NULL, status INTEGER, reason VARCHAR, recommendation VARCHAR,
  objects BIGINT, records BIGINT, bytes BIGINT, skipped BIGINT, quarantined BIGINT, dropped BIGINT, errors BIGINT,
  newest_object TIMESTAMP);
CREATE TABLE IF NOT EXISTS quarantine (
  id VARCHAR PRIMARY KEY, tenant VARCHAR NOT NULL, connector_id VARCHAR NOT NULL, connector VARCHAR NOT NULL,
  bucket VARCHAR, key VARCHAR NOT NULL, version VARCHAR, position BIGINT, offset_bytes BIGINT,
  scope VARCHAR NOT NULL, reason VARCHAR NOT NULL, raw BLOB,
  created_at TIMESTAMP NOT NULL, retried_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS tokens (
  id VARCHAR PRIMARY KEY, hash VARCHAR NOT NULL, tenant VARCHAR, name VARCHAR, created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
  "at" TIMESTAMP NOT NULL, actor VARCHAR, tenant VARCHAR, action VARCHAR NOT NULL, target VARCHAR, detail VARCHAR);
`

func (l *Lake) migrate(ctx context.Context) error {
	if _, err := l.db.ExecContext(ctx, catalogDDL); err != nil {
		return fmt.Errorf("lake: create catalog: %w", err)
	}
	// A name is unique within its tenant. (The insert checks too, but only
	// the constraint holds under concurrent inserts.)
	if _, err := l.db.ExecContext(ctx, `CREATE UNIQUE INDEX IF NOT EXISTS connectors_tenant_name ON connectors (tenant, name)`); err != nil {
		return fmt.Errorf("lake: two connectors share a name within a tenant; rename one with an older Trawl, then upgrade: %w", err)
	}
	// Before 0.2 quarantined bytes were VARCHAR, which refuses input that
	// is not valid UTF-8: exactly what the quarantine must keep.
	var typ string
	err := l.db.QueryRowContext(ctx, `SELECT data_type FROM information_schema.columns WHERE table_name = 'quarantine' AND column_name = 'raw'`).Scan(&typ)
	if err == nil && typ != "BLOB" {
		if _, err := l.db.ExecContext(ctx, `ALTER TABLE quarantine ALTER raw SET DATA TYPE BLOB USING encode(raw)`); err != nil {
			return fmt.Errorf("lake: migrate quarantine bytes to BLOB: %w", err)
		}
	}
	for _, s := range interflow.Schemas() {
		if err := l.migrateIndex(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// migrateIndex creates an index table, or adds the columns a newer schema
// has, so an upgrade never needs a manual step.
func (l *Lake) migrateIndex(ctx context.Context, s *interflow.Schema) error {
	have := map[string]bool{}
	rows, err := l.db.QueryContext(ctx, `SELECT column_name FROM information_schema.columns WHERE table_name = ?`, s.Index)
	if err != nil {
		return fmt.Errorf("lake: inspect %s: %w", s.Index, err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return fmt.Errorf("lake: inspect %s: %w", s.Index, err)
		}
		have[c] = true
	}
	rows.Close()
	cols := columnDefs(s)
	if len(have) == 0 {
		ddl := "CREATE TABLE " + quoteIdent(s.Index) + " (" + strings.Join(cols, ", ") + ")"
		if _, err := l.db.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("lake: create %s: %w", s.Index, err)
		}
		return nil
	}
	for i, name := range columnNames(s) {
		if have[name] {
			continue
		}
		if _, err := l.db.ExecContext(ctx, "ALTER TABLE "+quoteIdent(s.Index)+" ADD COLUMN "+cols[i]); err != nil {
			return fmt.Errorf("lake: add column %s.%s: %w", s.Index, name, err)
		}
	}
	return nil
}

// columnNames lists a schema's columns in appender order: each field, then
// the hidden key column of each IP field.
func columnNames(s *interflow.Schema) []string {
	var out []string
	for _, f := range s.Fields {
		out = append(out, f.Name)
	}
	for _, f := range s.Fields {
		if f.Type == interflow.IP {
			out = append(out, ipKeyColumn(f.Name))
		}
	}
	return out
}

func columnDefs(s *interflow.Schema) []string {
	var out []string
	for _, f := range s.Fields {
		def := quoteIdent(f.Name) + " " + sqlType(f.Type)
		if f.Name == "raw" {
			def += " USING COMPRESSION zstd"
		}
		out = append(out, def)
	}
	for _, f := range s.Fields {
		if f.Type == interflow.IP {
			out = append(out, quoteIdent(ipKeyColumn(f.Name))+" VARCHAR")
		}
	}
	return out
}

// withTx runs fn inside one transaction on one connection, so an Appender
// created by fn commits or rolls back with everything else fn did.
func (l *Lake) withTx(ctx context.Context, fn func(conn *sql.Conn) error) (err error) {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if err := fn(conn); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

func appendRows(conn *sql.Conn, s *interflow.Schema, recs []*interflow.Record) error {
	if len(recs) == 0 {
		return nil
	}
	names := columnNames(s)
	var ipFields []int
	for i, f := range s.Fields {
		if f.Type == interflow.IP {
			ipFields = append(ipFields, i)
		}
	}
	return conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppenderWithColumns(dc.(driver.Conn), "", "", s.Index, names)
		if err != nil {
			return fmt.Errorf("appender %s: %w", s.Index, err)
		}
		row := make([]driver.Value, len(names))
		nf := len(s.Fields)
		for _, r := range recs {
			for i := 0; i < nf; i++ {
				row[i] = r.Value(i)
			}
			for j, fi := range ipFields {
				var key driver.Value
				if ip, ok := r.Str(fi); ok {
					if k := interflow.IPKey(ip); k != "" {
						key = k
					}
				}
				row[nf+j] = key
			}
			if err := app.AppendRow(row...); err != nil {
				app.Close()
				return fmt.Errorf("append to %s: %w", s.Index, err)
			}
		}
		if err := app.Close(); err != nil {
			return fmt.Errorf("flush %s: %w", s.Index, err)
		}
		return nil
	})
}
