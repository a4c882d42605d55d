package catalog

import (
	"context"
	"fmt"
	"strings"
)

// Iceberg's JDBC catalog, kept beside Trawl's own pointers when the
// catalog is PostgreSQL, so Trino's, Spark's and PyIceberg's JDBC (SQL)
// catalogs find the tables without Trawl in the path. The tables are
// those of Iceberg's JdbcCatalog (JdbcUtil's DDL, schema version V1:
// iceberg_type says TABLE) in a schema of their own, "iceberg": an
// engine's database role is granted that schema and nothing of Trawl's
// (tokens, connectors' sealed secrets), and Trawl's own table of pointers,
// also named iceberg_tables, stays apart. Engines connect with
// currentSchema=iceberg (docs/lake.md).

// JDBCCatalogName is the catalog_name of the JDBC catalog's rows: an
// engine's JDBC catalog must be named so (Spark's catalog name, Trino's
// iceberg.jdbc-catalog.catalog-name).
const JDBCCatalogName = "trawl"

// JDBCSchema is the PostgreSQL schema holding the JDBC catalog's tables.
const JDBCSchema = "iceberg"

const jdbcDDL = `CREATE SCHEMA IF NOT EXISTS iceberg;
CREATE TABLE IF NOT EXISTS iceberg.iceberg_tables (
  catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL,
  metadata_location VARCHAR(1000), previous_metadata_location VARCHAR(1000), iceberg_type VARCHAR(5),
  PRIMARY KEY (catalog_name, table_namespace, table_name));
CREATE TABLE IF NOT EXISTS iceberg.iceberg_namespace_properties (
  catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL, property_key VARCHAR(255), property_value VARCHAR(1000),
  PRIMARY KEY (catalog_name, namespace, property_key))`

// createJDBCTables creates the JDBC catalog's schema and tables (PostgreSQL
// only: no engine reaches the embedded catalog).
func (l *Catalog) createJDBCTables(ctx context.Context) error {
	if !l.db.pg {
		return nil
	}
	for _, stmt := range strings.Split(jdbcDDL, ";\n") {
		if _, err := l.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("lake: create the Iceberg JDBC catalog's tables in schema %s (Trawl's database user needs CREATE on the database): %w", JDBCSchema, err)
		}
	}
	return nil
}

// setJDBCPointer writes a table's row of the JDBC catalog (and its
// namespace's), inside the transaction that moves Trawl's pointer, so the
// two never disagree once it commits. from is "" for a table's first
// metadata (previous_metadata_location is then NULL, as JdbcCatalog
// leaves it).
func setJDBCPointer(ctx context.Context, conn *catConn, t TableRef, from, to string) error {
	var prev any
	if from != "" {
		prev = from
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO iceberg.iceberg_tables VALUES (?, ?, ?, ?, ?, 'TABLE')
 ON CONFLICT (catalog_name, table_namespace, table_name) DO UPDATE SET metadata_location = excluded.metadata_location,
 previous_metadata_location = excluded.previous_metadata_location, iceberg_type = 'TABLE'`, JDBCCatalogName, t.Tenant, t.Index, to, prev); err != nil {
		return fmt.Errorf("the JDBC catalog's row: %w", err)
	}
	// JdbcCatalog marks a namespace it created with exists=true.
	if _, err := conn.ExecContext(ctx, `INSERT INTO iceberg.iceberg_namespace_properties VALUES (?, ?, 'exists', 'true') ON CONFLICT DO NOTHING`,
		JDBCCatalogName, t.Tenant); err != nil {
		return fmt.Errorf("the JDBC catalog's namespace: %w", err)
	}
	return nil
}

// SyncJDBCCatalog writes the JDBC catalog's row of every table whose row
// is missing or names another metadata file than Trawl's pointer: tables
// published before the rows were kept (an upgrade). locate maps a
// metadata file under the lake root to the URI engines read. A no-op
// with the embedded catalog.
func (l *Catalog) SyncJDBCCatalog(ctx context.Context, locate func(rel string) string) error {
	if !l.db.pg {
		return nil
	}
	tables, err := l.IcebergTables(ctx)
	if err != nil {
		return err
	}
	for t, rel := range tables {
		want := locate(rel)
		var have string
		err := l.db.QueryRowContext(ctx, `SELECT COALESCE(metadata_location, '') FROM iceberg.iceberg_tables
 WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?`, JDBCCatalogName, t.Tenant, t.Index).Scan(&have)
		if err == nil && have == want {
			continue
		}
		err = l.withTx(ctx, func(conn *catConn) error {
			// Only while Trawl's pointer is still rel: a publish that moved
			// it meanwhile wrote the row itself.
			var cur string
			if err := conn.QueryRowContext(ctx, `SELECT metadata FROM iceberg_tables WHERE tenant = ? AND idx = ? FOR UPDATE`, t.Tenant, t.Index).Scan(&cur); err != nil {
				return err
			}
			if cur != rel {
				return nil
			}
			return setJDBCPointer(ctx, conn, t, have, want)
		})
		if err != nil {
			return fmt.Errorf("lake: the JDBC catalog's row of table %s.%s: %w", t.Tenant, t.Index, err)
		}
	}
	return nil
}

// JDBCTable is a row of the JDBC catalog (tests, checks).
type JDBCTable struct {
	Namespace, Name, Location, Previous, Type string
}

// JDBCTables lists the JDBC catalog's rows of Trawl's catalog name
// (nil with the embedded catalog).
func (l *Catalog) JDBCTables(ctx context.Context) ([]JDBCTable, error) {
	if !l.db.pg {
		return nil, nil
	}
	rows, err := l.db.QueryContext(ctx, `SELECT table_namespace, table_name, COALESCE(metadata_location, ''), COALESCE(previous_metadata_location, ''),
 COALESCE(iceberg_type, '') FROM iceberg.iceberg_tables WHERE catalog_name = ? ORDER BY 1, 2`, JDBCCatalogName)
	if err != nil {
		return nil, fmt.Errorf("lake: the JDBC catalog's tables: %w", err)
	}
	defer rows.Close()
	var out []JDBCTable
	for rows.Next() {
		var t JDBCTable
		if err := rows.Scan(&t.Namespace, &t.Name, &t.Location, &t.Previous, &t.Type); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
