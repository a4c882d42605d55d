// Package segment is Trawl's segment engine: records as immutable Parquet
// segments (pqwrite.go writes their pages, tokenfilter.go the split-block
// Bloom filter of each row group's words), written and synced under a
// root folder, put in a Store (S3) with the folder as a bounded cache when
// there is one, searched, counted and grouped by an in-memory DuckDB
// (search.go, sql.go), evaluated by the detector's rules (detect.go), and
// merged by compaction (compact.go). It keeps no state of its own about
// which segments are live: it works on the Segment descriptors it is
// given, and lists a query's through a Registry (the catalog's, composed
// in internal/app). Markdown generates docs/lake.md, the layout and the
// Iceberg tables other engines read.
package segment

import (
	"fmt"
	"strings"

	"github.com/trawlhq/trawl/internal/iceberg"
	"github.com/trawlhq/trawl/internal/interflow"
)

// Markdown renders docs/lake.md: the layout and the Iceberg tables other
// engines read, with each index's table schema generated from the code
// that writes it (a test keeps the file in step).
func Markdown() string {
	var b strings.Builder
	// The compaction thresholds are the code's defaults, not copies.
	b.WriteString(strings.NewReplacer("{minSegments}", fmt.Sprint(DefaultMinSegments), "{maxInputs}", fmt.Sprint(DefaultMaxInputs)).Replace(lakeIntro))
	for _, s := range interflow.Schemas() {
		fmt.Fprintf(&b, "\n### `%s`\n\n%s", s.Index, schemaTable(s))
	}
	b.WriteString(lakeOutro)
	return b.String()
}

// schemaTable lists an index's Iceberg columns with their field ids.
func schemaTable(s *interflow.Schema) string {
	var b strings.Builder
	b.WriteString("| field id | column | Iceberg type |\n|---:|---|---|\n")
	for _, f := range iceberg.TableSchema(s).Fields {
		typ := fmt.Sprint(f.Type)
		if l, ok := f.Type.(*iceberg.List); ok {
			typ = fmt.Sprintf("list<string> (element id %d)", l.ElementID)
		}
		fmt.Fprintf(&b, "| %d | `%s` | %s |\n", f.ID, f.Name, typ)
	}
	return b.String()
}

const lakeIntro = "# The lake: Apache Iceberg tables other engines can read\n\n" +
	"This file is generated from `internal/segment` (`go test ./internal/segment -update`); a test fails when they differ.\n\n" +
	`Trawl keeps records as immutable Parquet files ("segments") and a catalog that
registers them, the design DuckLake, ClickHouse parts and VictoriaLogs blocks
share; the registered segments are also published as Apache Iceberg (format
v2) tables, which Trino, Spark, Athena, DuckDB, PyIceberg, Snowflake and
others read exactly, at every moment, through their metadata.

## Layout

    <root>/index=<index>/tenant=<tenant>/                    an Iceberg table's location
    <root>/index=<index>/tenant=<tenant>/day=<YYYY-MM-DD>/<id>.parquet   its data files (segments)
    <root>/index=<index>/tenant=<tenant>/metadata/           v<N>.metadata.json, version-hint.text,
                                                             snap-<id>.avro (manifest lists),
                                                             <id>-m-<day>.avro (a manifest per day)
    <root>/_tokens/index=.../<id>.tokens                     token filters of each segment (Trawl's own)

` + "`<root>`" + ` is ` + "`<data-dir>/lake`" + ` by default. With ` + "`--lake s3://BUCKET/PREFIX`" + ` the
same keys live under PREFIX in the bucket (each file is put there before its
commit), and ` + "`<data-dir>/lake`" + ` is a bounded cache of them. The catalog
is DuckDB's ` + "`trawl.db`" + ` in the data directory, or PostgreSQL (` + "`--catalog`" + `).
Nothing else is under a table's location: the token filters are a sidecar
tree, the schema files Trawl's own queries read sit outside the lake folder
(` + "`<root>.schema/`" + `), and segments are written under a staging name
(` + "`<id>.parquet.tmp`" + `), synced, then renamed.

## Tables: one per tenant and index

Each (tenant, index) pair is a table: namespace ` + "`<tenant>`" + `, table
` + "`<index>`" + ` (` + "`aws_events`" + `, ` + "`traffic`" + `). Tenant isolation decides it:
a table's metadata names every file it holds, so with one table per index
any reader of a table (a tenant's catalog token, an engine's role) would
learn every tenant's files, partitions and counts, and a per-tenant grant
would need row filters that each engine enforces its own way. With a table
per tenant, granting a tenant its namespace, or an IAM policy on
` + "`PREFIX/index=*/tenant=<tenant>/*`" + `, is the whole isolation, and one
tenant's commits never contend with another's on a table pointer. The cost,
more tables, is what a catalog lists; a cross-tenant query is a UNION.

- **Schema:** the index's Interflow schema (below), every field optional;
  field ids are the Interflow field's position plus one (fields are only
  ever appended), and the segments' Parquet columns carry them as
  ` + "`field_id`" + `, so the segments are the tables' data files as written. The
  key columns the segments add for Trawl's searches (` + "`<ip>_v4`" + `,
  ` + "`<ip>_v6`" + `, ` + "`rg`" + `) have no field id and are not in the table.
- **Partitioning:** ` + "`tenant`" + ` and ` + "`index`" + ` (identity: they are not stored
  in the files; engines take them from the partition, as for a Hive table
  migrated to Iceberg) and ` + "`day(timestamp)`" + `.
- **Metadata files** are written by Trawl itself (no Iceberg library: a
  few hundred lines for the JSON and the Avro manifests, which are
  uncompressed, readable by every Avro reader; iceberg-go would add
  arrow-go and writes deflate manifests that icebird cannot read).
- **Segments** are Parquet (zstd for text), rows sorted by time, in
  row groups of 16,384 rows (aws_events) or 65,536 (traffic). A segment
  stores only the columns its records use; a missing column reads as NULL.
- **Encoding:** data pages v2 of about 1 MiB, definition (and, for lists,
  repetition) levels RLE; text columns dictionary-encoded unless their
  values are mostly distinct (ids, raw records, request IDs), then plain,
  and zstd-compressed; integer and time columns DELTA_BINARY_PACKED and
  not compressed; min and max statistics per row group for every column
  but those plain text ones. Trawl writes the pages itself, straight from
  its column batches.
- **Column names** are the Interflow field names with dots as underscores
  (` + "`cloud.account_id`" + ` is ` + "`cloud_account_id`" + `); see
  [interflow.md](interflow.md). Times are microseconds, UTC (timestamptz).

## Writing: exactly once, then a snapshot

A worker decodes records into columns, writes each (index, tenant, day) of
its batch as a segment, syncs it, and then registers the segments in the
same catalog transaction that advances the checkpoints of the objects the
records came from and stores what it quarantined; that transaction also
queues the days it changed for the tables' next snapshot. A crash before
the transaction leaves files no segment row names: they are swept (at the
next start, and while the server runs once an hour old). A crash after it
loses nothing: the objects resume from their checkpoints.

The publisher then writes, for each queued day, a manifest of the day's
registered segments (existing ones with the snapshot that added them, new
ones added, dropped ones deleted), a manifest list and a metadata file
` + "`v<N>.metadata.json`" + ` (N reserved in the catalog, so never written twice),
and moves the table's pointer in the catalog in one transaction that checks
the pointer is still the one the snapshot was built on (Iceberg's JDBC
catalog does the same), and records what the snapshot holds; then it
rewrites ` + "`metadata/version-hint.text`" + ` with the version of the metadata
file the catalog's pointer names, reads the pointer again and rewrites
the hint until what it wrote is still current (with several nodes, one
node's older hint may land after another's newer one: the last writer
puts the newer back). The catalog's pointer is the
truth; a snapshot always holds exactly the segments the catalog had
registered, never one twice, never one it does not know. After kill -9 at
any point the queue is still there, and the next start publishes it; the
files the interrupted snapshot had written (manifests, a manifest list, a
claimed ` + "`v<N>.metadata.json`" + ` that a reader probing the folder for
the next version would take for current) are swept like unregistered
segments, at the next start and while the server runs, once an hour old
(another node's snapshot may be between its files and its commit): a
file of a table's ` + "`metadata/`" + ` folder stays if it is the current
metadata file, a manifest list the current metadata names, a current
manifest, a superseded file awaiting the snapshot retention, or the hint.
Snapshots are batched (written once commits pause for a second, at most
10 s after the first they cover) so a commit pays one queue row per
(tenant, index, day), not a snapshot; ` + "`trawl collect --once`" + ` and a
stopping server publish before they exit, and compaction publishes before
and after its merges.

## Compaction

In the background (every 30 s in ` + "`trawl serve`" + `, after ` + "`trawl collect --once`" + `),
a day with {minSegments} or more small segments (each under a sixteenth of a
compacted segment's size) is merged: up to {maxInputs} inputs are read
in time order (a k-way merge: each is sorted), written as one segment, and
one transaction registers it and retires the inputs; the table's next
snapshot is a ` + "`replace`" + ` (inputs out, output in, the same records), so no
reader at any moment sees both. Superseded snapshots stay readable for the
snapshot retention (an hour: longer than any query), then expire from the
metadata, and their manifests, manifest lists, metadata files and the
retired segments are deleted.

## Retention

` + "`trawl serve --retention 90d`" + ` keeps 90 UTC days of records: today and the
89 before (default forever, as before). Root may store another default,
and a tenant or a tenant's index its own, with ` + "`trawl retention set`" + ` or
` + "`PUT /api/v1/retention`" + `; the most specific setting applies. A
tenant's token may set its own no longer than root decided for the tenant
(root's setting of the whole tenant, for an index, else the lake's
default), and a setting root made for a tenant or a tenant's index is
root's: the tenant's token may not change it nor ` + "`inherit`" + ` it away (403,
saying root set it and that root can change it); it still sets the
indexes root did not set. Each setting records who set it (catalog schema
18; a setting stored before is root's unless the audit log shows the
tenant's own token set it last), shown as ` + "`set_by`" + ` (` + "`root`" + ` or
` + "`tenant`" + `) by the API, SET BY by ` + "`trawl retention show`" + ` and in the
console. A day is
a partition and is dropped whole, never in part: the background
maintenance of ` + "`trawl serve`" + ` (every 30 s, before compaction) retires every segment of the days past
retention in one catalog transaction and queues them, so they leave
search at once and the table's next snapshot is a ` + "`delete`" + ` (the
partitions' files out, nothing in). The files are deleted once the
snapshots that held them expire (the snapshot retention). Checkpoints are
not touched: the objects whose records were dropped stay collected, so a
dropped day is never collected again (records arriving later for a day
past retention are dropped at the next maintenance, so for up to that
long they are searchable). Days after tomorrow (UTC) are dropped too:
AWS stamps events as they happen, so a record dated in the future is
forged or broken, and would otherwise sit past every retention. A
setting a tenant made applies no longer than what root decides for the
tenant when the days are dropped, whenever root decided it: root setting
7d for a tenant, or lowering the default, shortens what the tenant had
set before (` + "`trawl retention show`" + ` lists every setting as stored). A default root stored replaces ` + "`--retention`" + ` until
root stores another; ` + "`inherit`" + ` removes a tenant's or an index's setting.
A retention is at most 36500d; longer is ` + "`forever`" + `. ` + "`/metrics`" + `'
` + "`trawl_oldest_day_kept{tenant}`" + ` is the start (unix seconds) of each
tenant's oldest day kept; ` + "`retention.set`" + ` in the audit log says who changed
what.

## Reading

Trawl's own search lists the catalog's segments of the tenants in scope
that overlap its time range (no file is opened for the others), then runs
DuckDB over them. Free text consults each row group's token filter (a
split-block Bloom filter of the record's words), so a rare word reads a few
row groups of a week. Newest-first results read the newest segments first
and stop when older ones cannot hold anything newer. Both roads, Trawl's
catalog and the Iceberg snapshot, name the same segments: the independent
reader test (icebird, through the tables' metadata only) counts per tenant
and day what ` + "`trawl search --count`" + ` counts, after collection,
compaction and kill -9.

## Other engines

Read the tables through a catalog (or, without one, through their
metadata), never by globbing the folder: a retired segment stays on disk
for the snapshot retention. Trawl offers two catalogs, both read-only for
engines (Trawl alone writes the tables):

- **The Iceberg REST catalog**, served by ` + "`" + `trawl serve` + "`" + ` under
  ` + "`" + `/iceberg/v1` + "`" + ` (an engine's catalog URI is ` + "`" + `http://HOST:PORT/iceberg` + "`" + `;
  HTTPS when Trawl is behind a TLS proxy). It answers ` + "`" + `GET /v1/config` + "`" + `,
  ` + "`" + `GET /v1/namespaces` + "`" + `, ` + "`" + `GET` + "`" + ` and ` + "`" + `HEAD /v1/namespaces/{namespace}` + "`" + `,
  ` + "`" + `GET /v1/namespaces/{namespace}/tables` + "`" + ` and ` + "`" + `GET` + "`" + ` and ` + "`" + `HEAD
  /v1/namespaces/{namespace}/tables/{table}` + "`" + ` (a LoadTableResult: the
  current ` + "`" + `metadata-location` + "`" + `, the ` + "`" + `metadata` + "`" + `, an empty ` + "`" + `config` + "`" + `, and an
  ETag), as Iceberg's REST catalog OpenAPI spec defines them (the two
  lists page as its ` + "`" + `pageToken` + "`" + ` and ` + "`" + `pageSize` + "`" + ` ask: names in order, at
  most ` + "`" + `pageSize` + "`" + ` a page, a ` + "`" + `next-page-token` + "`" + ` while more remain; without
  ` + "`" + `pageSize` + "`" + ` every name at once; a ` + "`" + `pageSize` + "`" + ` under 1 or not a number, or
  a token that is not one of the listing's own, is a 400 ` + "`" + `BadRequestException` + "`" + `; a page size past any count is every name); these routes
  follow that spec, not Trawl's ` + "`" + `/api/v1` + "`" + ` conventions, and are not in
  ` + "`" + `openapi.json` + "`" + `. Writes answer 405, errors are the spec's
  ` + "`" + `{"error": {"message", "type", "code"}}` + "`" + `. Every call takes a Trawl API
  token as its bearer token (` + "`" + `trawl token create --tenant acme` + "`" + `): a
  tenant's token lists and loads its own namespace and tables only,
  another tenant's namespace or table answers 404 (as one that does not
  exist), a bad token 401; the root token sees every tenant. A namespace
  is a tenant; its tables are its indexes that have a snapshot.
- **Iceberg's JDBC catalog**, when the catalog is PostgreSQL
  (` + "`" + `--catalog postgres://…` + "`" + `): the transaction that moves a table's
  pointer also writes the table's row in ` + "`" + `iceberg.iceberg_tables` + "`" + `
  (` + "`" + `catalog_name` + "`" + ` ` + "`" + `trawl` + "`" + `, ` + "`" + `table_namespace` + "`" + ` the tenant, ` + "`" + `table_name` + "`" + ` the
  index, ` + "`" + `metadata_location` + "`" + `, ` + "`" + `previous_metadata_location` + "`" + `,
  ` + "`" + `iceberg_type` + "`" + ` ` + "`" + `TABLE` + "`" + `: JdbcCatalog's schema) and its namespace's in
  ` + "`" + `iceberg.iceberg_namespace_properties` + "`" + `, so Trino's, Spark's and
  PyIceberg's JDBC (SQL) catalogs find the tables with Trawl not running.
  The tables are in a PostgreSQL schema of their own, ` + "`" + `iceberg` + "`" + `: grant an
  engine's role that schema and nothing else (Trawl's own tables hold
  token hashes and connectors' sealed secrets), and connect with
  ` + "`" + `currentSchema=iceberg` + "`" + `. The JDBC catalog has no tenant scope: its
  readers see every tenant's tables.

The ` + "`" + `metadata-location` + "`" + ` is where engines read: ` + "`" + `s3://BUCKET/PREFIX/index=…/tenant=…/metadata/v<N>.metadata.json` + "`" + `
with ` + "`" + `--lake s3://BUCKET/PREFIX` + "`" + `, ` + "`" + `file:///…/lake/index=…/tenant=…/metadata/v<N>.metadata.json` + "`" + `
with a local lake. Trawl vends no credentials (the REST catalog's
` + "`" + `config` + "`" + ` is empty, and no storage credentials are returned): an engine
reads the lake bucket with its own, which is the safe default. Grant its
role ` + "`" + `s3:GetObject` + "`" + ` on ` + "`" + `arn:aws:s3:::BUCKET/PREFIX/*` + "`" + ` (or, for one tenant,
on ` + "`" + `arn:aws:s3:::BUCKET/PREFIX/index=*/tenant=acme/*` + "`" + `) and
` + "`" + `s3:ListBucket` + "`" + ` on the bucket. Trino and Athena read S3 only, so they
need an S3 lake; DuckDB, Spark and PyIceberg also read a local one on
Trawl's machine.

Tested here: the REST catalog with iceberg-js (an Iceberg REST client),
icebird reading the tables through the metadata it loads (the same
records, per tenant and day, as ` + "`" + `trawl search --count` + "`" + `), and the JDBC
rows naming the same metadata files (` + "`" + `TestIcebergRESTCatalog` + "`" + `). The
engine configurations below are written from each engine's documented
settings and are not run in the tests (no JVM engine or AWS account runs
here). In them, ` + "`" + `trawl.example.com:8080` + "`" + ` is Trawl's address, ` + "`" + `$TRAWL_TOKEN` + "`" + `
a Trawl API token, ` + "`" + `BUCKET/PREFIX` + "`" + ` the lake, ` + "`" + `db.example.com/trawl` + "`" + ` the
PostgreSQL catalog and ` + "`" + `iceberg_reader` + "`" + ` a role granted its ` + "`" + `iceberg` + "`" + ` schema:

~~~sql
-- in the Trawl catalog's database, once
CREATE ROLE iceberg_reader LOGIN PASSWORD '…';
GRANT USAGE ON SCHEMA iceberg TO iceberg_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA iceberg TO iceberg_reader;
~~~

### Trino

REST (` + "`" + `etc/catalog/trawl.properties` + "`" + `):

~~~properties
connector.name=iceberg
iceberg.catalog.type=rest
iceberg.rest-catalog.uri=http://trawl.example.com:8080/iceberg
iceberg.rest-catalog.security=OAUTH2
iceberg.rest-catalog.oauth2.token=<a Trawl API token>
fs.native-s3.enabled=true
s3.region=us-east-1
~~~

JDBC (` + "`" + `etc/catalog/trawl.properties` + "`" + `; Trawl's PostgreSQL catalog):

~~~properties
connector.name=iceberg
iceberg.catalog.type=jdbc
iceberg.jdbc-catalog.catalog-name=trawl
iceberg.jdbc-catalog.driver-class=org.postgresql.Driver
iceberg.jdbc-catalog.connection-url=jdbc:postgresql://db.example.com:5432/trawl?currentSchema=iceberg
iceberg.jdbc-catalog.connection-user=iceberg_reader
iceberg.jdbc-catalog.connection-password=…
iceberg.jdbc-catalog.default-warehouse-dir=s3://BUCKET/PREFIX
fs.native-s3.enabled=true
s3.region=us-east-1
~~~

Then ` + "`" + `SELECT event_name, count(*) FROM trawl.acme.aws_events GROUP BY 1` + "`" + `.
S3 credentials come from the default AWS chain of Trino's machines (or
` + "`" + `s3.aws-access-key` + "`" + ` and ` + "`" + `s3.aws-secret-key` + "`" + `).

### Spark

REST (with ` + "`" + `iceberg-spark-runtime` + "`" + ` and, for S3, ` + "`" + `iceberg-aws-bundle` + "`" + ` on the class path):

~~~properties
spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions
spark.sql.catalog.trawl=org.apache.iceberg.spark.SparkCatalog
spark.sql.catalog.trawl.type=rest
spark.sql.catalog.trawl.uri=http://trawl.example.com:8080/iceberg
spark.sql.catalog.trawl.token=<a Trawl API token>
spark.sql.catalog.trawl.io-impl=org.apache.iceberg.aws.s3.S3FileIO
~~~

JDBC (the Spark catalog must be named ` + "`" + `trawl` + "`" + `: it is the rows' ` + "`" + `catalog_name` + "`" + `; with the PostgreSQL JDBC driver on the class path):

~~~properties
spark.sql.catalog.trawl=org.apache.iceberg.spark.SparkCatalog
spark.sql.catalog.trawl.type=jdbc
spark.sql.catalog.trawl.uri=jdbc:postgresql://db.example.com:5432/trawl?currentSchema=iceberg
spark.sql.catalog.trawl.jdbc.user=iceberg_reader
spark.sql.catalog.trawl.jdbc.password=…
spark.sql.catalog.trawl.jdbc.init-catalog-tables=false
spark.sql.catalog.trawl.warehouse=s3://BUCKET/PREFIX
spark.sql.catalog.trawl.io-impl=org.apache.iceberg.aws.s3.S3FileIO
~~~

Then ` + "`" + `spark.sql("SELECT count(*) FROM trawl.acme.aws_events")` + "`" + `. For a
local lake leave out ` + "`" + `io-impl` + "`" + ` (the default Hadoop file IO reads
` + "`" + `file:///` + "`" + `).

### DuckDB

REST (the iceberg extension; the attached name is sent as the warehouse,
which Trawl ignores):

~~~sql
INSTALL iceberg; LOAD iceberg; INSTALL httpfs; LOAD httpfs;
CREATE SECRET trawl_catalog (TYPE iceberg, TOKEN '<a Trawl API token>');
CREATE SECRET trawl_lake (TYPE s3, PROVIDER credential_chain);
ATTACH 'trawl' AS trawl (TYPE iceberg, SECRET trawl_catalog, ENDPOINT 'http://trawl.example.com:8080/iceberg');
SELECT event_name, count(*) FROM trawl.acme.aws_events GROUP BY 1 ORDER BY 2 DESC;
~~~

Without a catalog, one table by its folder (the metadata file
` + "`" + `metadata/version-hint.text` + "`" + ` names):

~~~sql
SELECT event_name, count(*) FROM iceberg_scan('/var/lib/trawl/lake/index=aws_events/tenant=acme')
GROUP BY 1 ORDER BY 2 DESC;
~~~

### PyIceberg

~~~python
from pyiceberg.catalog import load_catalog

# REST
cat = load_catalog("trawl", type="rest", uri="http://trawl.example.com:8080/iceberg", token="<a Trawl API token>")
# or JDBC (PyIceberg's SQL catalog, with psycopg2 installed; the name must be "trawl")
cat = load_catalog("trawl", type="sql", init_catalog_tables="false",
                   uri="postgresql+psycopg2://iceberg_reader:…@db.example.com:5432/trawl?options=-csearch_path%3Diceberg")

table = cat.load_table("acme.aws_events")
print(table.scan(row_filter="event_name = 'ConsoleLogin'").to_arrow().num_rows)
~~~

S3 credentials come from the default AWS chain (or the ` + "`" + `s3.access-key-id` + "`" + `
and ` + "`" + `s3.secret-access-key` + "`" + ` properties).

### Athena (through AWS Glue)

Register each table in Glue with the metadata location the REST catalog
returns, and update it after Trawl's snapshots (the location moves with
each; a registration left behind reads an older snapshot, until the
snapshot retention deletes its files). Untested here:

~~~sh
TRAWL=http://trawl.example.com:8080/iceberg/v1
aws glue create-database --database-input '{"Name":"acme"}'
LOC=$(curl -sf -H "Authorization: Bearer $TRAWL_TOKEN" "$TRAWL/namespaces/acme/tables/aws_events" | jq -r '."metadata-location"')
aws glue create-table --database-name acme --table-input '{"Name":"aws_events","TableType":"EXTERNAL_TABLE",
  "StorageDescriptor":{"Location":"s3://BUCKET/PREFIX/index=aws_events/tenant=acme"},
  "Parameters":{"table_type":"ICEBERG","metadata_location":"'"$LOC"'"}}'
# then, on a schedule (every few minutes):
PREV=$(aws glue get-table --database-name acme --name aws_events --query 'Table.Parameters.metadata_location' --output text)
LOC=$(curl -sf -H "Authorization: Bearer $TRAWL_TOKEN" "$TRAWL/namespaces/acme/tables/aws_events" | jq -r '."metadata-location"')
[ "$LOC" = "$PREV" ] || aws glue update-table --database-name acme --table-input '{"Name":"aws_events","TableType":"EXTERNAL_TABLE",
  "StorageDescriptor":{"Location":"s3://BUCKET/PREFIX/index=aws_events/tenant=acme"},
  "Parameters":{"table_type":"ICEBERG","metadata_location":"'"$LOC"'","previous_metadata_location":"'"$PREV"'"}}'
~~~

Then, in Athena, ` + "`" + `SELECT event_name, count(*) FROM acme.aws_events GROUP BY 1` + "`" + `.
Athena reads the lake with the querying principal's S3 permissions (or
Lake Formation's), as above.

## Table schemas
`

const lakeOutro = `
Values of a partition column (` + "`tenant`" + `, ` + "`index`" + `) come from the
partition, not the file.
`
