package catalog

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
)

// catDB is the catalog's database: the embedded DuckDB file (the default)
// or PostgreSQL, which several nodes can share. Catalog statements are
// written once, in the SQL both accept, with ? placeholders; for
// PostgreSQL they are rewritten to $1, $2, ... as they are sent.
type catDB struct {
	db *sql.DB
	pg bool
}

// isPostgres reports whether a catalog location names PostgreSQL.
func isPostgres(catalog string) bool {
	return strings.HasPrefix(catalog, "postgres://") || strings.HasPrefix(catalog, "postgresql://")
}

func (c *catDB) sql(q string) string {
	if !c.pg {
		return q
	}
	return dollarParams(q)
}

func (c *catDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.db.ExecContext(ctx, c.sql(q), args...)
}

func (c *catDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.db.QueryContext(ctx, c.sql(q), args...)
}

func (c *catDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.db.QueryRowContext(ctx, c.sql(q), args...)
}

// Conn reserves one connection (a transaction's).
func (c *catDB) Conn(ctx context.Context) (*catConn, error) {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &catConn{c: conn, db: c}, nil
}

func (c *catDB) Close() error { return c.db.Close() }

// catConn is one reserved connection of the catalog.
type catConn struct {
	c  *sql.Conn
	db *catDB
}

func (c *catConn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.c.ExecContext(ctx, c.db.sql(q), args...)
}

func (c *catConn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.c.QueryContext(ctx, c.db.sql(q), args...)
}

func (c *catConn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.c.QueryRowContext(ctx, c.db.sql(q), args...)
}

func (c *catConn) Close() error { return c.c.Close() }

// discard closes the underlying connection instead of returning it to the
// pool: its transaction state is unknown.
func (c *catConn) discard() {
	_ = c.c.Raw(func(any) error { return driver.ErrBadConn })
}

// dollarParams numbers the ? placeholders of q as PostgreSQL's $n, leaving
// those inside quoted strings and identifiers alone.
func dollarParams(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote reopens at once: same result
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// isConflict reports whether err is DuckDB's optimistic concurrency
// refusing a transaction that touched rows another one changed first
// ("Conflict on tuple deletion", "write-write conflict"): the caller's
// work was not applied and may be tried again, or was done by the other.
func isConflict(err error) bool { return err != nil && strings.Contains(err.Error(), "onflict") }

// querier is the catalog's database or one reserved connection of it.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// queryStrings runs a query of one text column and returns its values.
func queryStrings(ctx context.Context, db querier, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
