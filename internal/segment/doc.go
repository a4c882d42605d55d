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
rewrites ` + "`metadata/version-hint.text`" + `. The catalog's pointer is the
truth; a snapshot always holds exactly the segments the catalog had
registered, never one twice, never one it does not know. After kill -9 at
any point the queue is still there, and the next start publishes it.
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

Read the tables through their metadata, never by globbing the folder (a
retired segment stays on disk for the snapshot retention). A table's
current metadata file is named in ` + "`metadata/version-hint.text`" + `
(` + "`v<N>.metadata.json`" + `). DuckDB (its iceberg extension):

` + "```sql" + `
SELECT event_name, count(*) FROM iceberg_scan('/var/lib/trawl/lake/index=aws_events/tenant=acme')
GROUP BY 1 ORDER BY 2 DESC;
` + "```" + `

Spark and Trino read the folder layout as a Hadoop catalog whose warehouse
is the lake root only if tables were named by folder; point them instead at
a metadata file (Spark: ` + "`spark.read.format(\"iceberg\").load(\"s3://BUCKET/PREFIX/index=aws_events/tenant=acme\")`" + `;
Trino: ` + "`CALL iceberg.system.register_table('acme', 'aws_events', 's3://BUCKET/PREFIX/index=aws_events/tenant=acme')`" + `;
Athena: register the table in Glue with ` + "`aws glue create-table --database-name acme --table-input '{\"Name\":\"aws_events\",\"TableType\":\"EXTERNAL_TABLE\",\"Parameters\":{\"table_type\":\"ICEBERG\",\"metadata_location\":\"s3://BUCKET/PREFIX/index=aws_events/tenant=acme/metadata/v<N>.metadata.json\"}}'`" + `
(untested here: no JVM engine or AWS account runs in the tests; the metadata
location moves with each snapshot, so a Glue registration is refreshed with
` + "`aws glue update-table`" + `)). A read-only Iceberg REST catalog served by Trawl is the next step.

## Table schemas
`

const lakeOutro = `
Values of a partition column (` + "`tenant`" + `, ` + "`index`" + `) come from the
partition, not the file.
`
