package catalog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// catalogIDFile, in the data directory, names the catalog its segments are
// registered in. Opening the directory with another catalog would make the
// sweep delete every segment that catalog does not know, so it is refused.
const catalogIDFile = "catalog.id"

// boundTo returns the id of the catalog the data directory is bound to,
// or "" when it is bound to none yet.
func boundTo(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, catalogIDFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lake: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// checkEmbeddedBinding refuses, before DuckDB would create an empty
// catalog file, to open without --catalog a data directory that is bound
// to a catalog but has no embedded one: its catalog was migrated.
func checkEmbeddedBinding(path, catalog string) error {
	if catalog != "" {
		return nil
	}
	dir := filepath.Dir(path)
	have, err := boundTo(dir)
	if err != nil || have == "" {
		return err
	}
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("lake: the data directory %s belongs to catalog %s, which is not embedded (there is no %s: the directory was used with --catalog, or its catalog was migrated): "+
		"open it with that catalog (--catalog URL or TRAWL_CATALOG)", dir, have, filepath.Base(path))
}

// checkBinding refuses a catalog the data directory is not bound to (or,
// for PostgreSQL, a directory that still has its embedded catalog),
// reading only: it runs before the catalog's tables are created, so a
// refused catalog is left exactly as it was.
func checkBinding(ctx context.Context, db *catDB, path string) error {
	dir := filepath.Dir(path)
	have, err := boundTo(dir)
	if err != nil {
		return err
	}
	if have == "" {
		if db.pg {
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("lake: the data directory %s has an embedded catalog (%s): move it to PostgreSQL with `trawl catalog migrate --to URL` first, or use an empty data directory",
					dir, filepath.Base(path))
			}
		}
		return nil
	}
	id, err := peekCatalogID(ctx, db)
	if err != nil {
		return err
	}
	if have != id {
		this := id
		if this == "" {
			this = "a new, empty one"
		}
		return fmt.Errorf("lake: the data directory %s belongs to catalog %s, but this catalog is %s: "+
			"open it with the catalog it was used with (--catalog, or none for the embedded one); "+
			"a catalog moves with `trawl catalog migrate --to URL`", dir, have, this)
	}
	return nil
}

// peekCatalogID reads the catalog's id without creating anything: "" when
// the catalog has no meta table yet (a new database) or no id in it.
func peekCatalogID(ctx context.Context, db *catDB) (string, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta' AND table_schema = current_schema()`).Scan(&n); err != nil {
		return "", fmt.Errorf("lake: catalog id: %w", err)
	}
	if n == 0 {
		return "", nil
	}
	var id string
	err := db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'catalog_id'`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lake: catalog id: %w", err)
	}
	return id, nil
}

// bindDataDir ties a data directory bound to no catalog yet (checkBinding
// passed) to this one: the catalog's id is created once, and written to
// the directory.
func (l *Catalog) bindDataDir(ctx context.Context) error {
	file := filepath.Join(filepath.Dir(l.path), catalogIDFile)
	if _, err := os.Stat(file); err == nil {
		return nil
	}
	id, err := l.Meta(ctx, "catalog_id")
	if err != nil {
		return fmt.Errorf("lake: catalog id: %w", err)
	}
	if id == "" {
		if id, err = l.newCatalogID(ctx); err != nil {
			return err
		}
	}
	return os.WriteFile(file, []byte(id+"\n"), 0o600)
}

// newCatalogID gives the catalog its id (one insert wins when several
// nodes open a new catalog at once).
func (l *Catalog) newCatalogID(ctx context.Context) (string, error) {
	raw := make([]byte, 8)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	if _, err := l.db.ExecContext(ctx, `INSERT INTO meta VALUES ('catalog_id', ?) ON CONFLICT (k) DO NOTHING`, hex.EncodeToString(raw)); err != nil {
		return "", fmt.Errorf("lake: catalog id: %w", err)
	}
	id, err := l.Meta(ctx, "catalog_id")
	if err != nil || id == "" {
		return "", fmt.Errorf("lake: catalog id: %v", err)
	}
	return id, nil
}

// tableRe finds the table names in catalogDDL.
var tableRe = regexp.MustCompile(`CREATE TABLE IF NOT EXISTS (\w+)`)

// catalogTables are the catalog's tables, in the order of catalogDDL.
func catalogTables() []string {
	var out []string
	for _, m := range tableRe.FindAllStringSubmatch(catalogDDL, -1) {
		out = append(out, m[1])
	}
	return out
}

// MigrateReport says what a catalog migration copied.
type MigrateReport struct {
	Tables map[string]int64 `json:"tables"` // rows per table
	Backup string           `json:"backup"` // the embedded catalog's file, renamed
}

// CheckMigrate refuses a migration of the embedded catalog at path to
// anything but PostgreSQL, or of a directory without one, before it is
// opened.
func CheckMigrate(path, to string) error {
	if !isPostgres(to) {
		return fmt.Errorf("lake: migrate to %q: give a postgres://USER@HOST:PORT/DB URL", RedactCatalog(to))
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("lake: no embedded catalog to migrate at %s: %w", path, err)
	}
	return nil
}

// CopyTo copies the catalog into the PostgreSQL database at to (which
// must be empty) and checks every table's count. The copy is one
// PostgreSQL transaction: it lands whole or not at all.
func (l *Catalog) CopyTo(ctx context.Context, to string) (*MigrateReport, error) {
	dst, err := openCatalog("", to, "")
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	return copyCatalog(ctx, l, dst)
}

// SetAside renames the embedded catalog file at path (closed, and copied
// by CopyTo) aside, so the directory then opens only with the new
// catalog, and records the new name in rep.
func SetAside(path string, rep *MigrateReport) error {
	rep.Backup = path + ".migrated-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Rename(path, rep.Backup); err != nil {
		return fmt.Errorf("lake: the catalog was copied, but %s could not be renamed aside (do it by hand before opening the directory with --catalog): %w", path, err)
	}
	_ = os.Rename(path+".wal", rep.Backup+".wal") // none after a clean close
	return nil
}

// copyCatalog creates the tables in dst, refuses a database that already
// holds a catalog, and copies every table in one transaction.
func copyCatalog(ctx context.Context, src *Catalog, dst *catDB) (*MigrateReport, error) {
	tmp := &Catalog{db: dst}
	if err := tmp.createTables(ctx); err != nil {
		return nil, err
	}
	for _, t := range catalogTables() {
		var n int64
		q := "SELECT count(*) FROM " + t
		if t == "meta" {
			q += " WHERE k <> 'schema'" // set by any open, even a refused one
		}
		if err := dst.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return nil, fmt.Errorf("lake: migrate: %w", err)
		}
		if n > 0 {
			return nil, fmt.Errorf("lake: migrate: the target database already holds a catalog (%d rows in %s): give an empty database", n, t)
		}
	}
	rep := &MigrateReport{Tables: map[string]int64{}}
	err := tmp.withTx(ctx, func(conn *catConn) error {
		for _, t := range catalogTables() {
			n, err := copyTable(ctx, src, conn, t)
			if err != nil {
				return fmt.Errorf("lake: migrate %s: %w", t, err)
			}
			var got int64
			q := "SELECT count(*) FROM " + t
			if t == "meta" {
				q += " WHERE k <> 'schema'"
			}
			if err := conn.QueryRowContext(ctx, q).Scan(&got); err != nil || got != n {
				return fmt.Errorf("lake: migrate %s: %d rows copied, %d read back (%v)", t, n, got, err)
			}
			rep.Tables[t] = n
		}
		return nil
	})
	return rep, err
}

// copyTable copies one table's rows, a few hundred per statement.
func copyTable(ctx context.Context, src *Catalog, conn *catConn, table string) (int64, error) {
	rows, err := src.db.QueryContext(ctx, "SELECT * FROM "+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c)
	}
	const per = 200
	var n int64
	var args []any
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		rowsIn := len(args) / len(cols)
		tuple := "(" + placeholders(len(cols)) + ")"
		q := "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") VALUES " + strings.TrimSuffix(strings.Repeat(tuple+",", rowsIn), ",")
		_, err := conn.ExecContext(ctx, q, args...)
		args = args[:0]
		return err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		args = append(args, vals...)
		n++
		if n%per == 0 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, flush()
}
