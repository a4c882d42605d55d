// Package segment is Trawl's segment engine: records as immutable Parquet
// segments (pqwrite.go writes their pages, tokenfilter.go the split-block
// Bloom filter of each row group's words), written and synced under a
// root folder, put in a Store (S3) with the folder as a bounded cache when
// there is one, searched, counted and grouped by an in-memory DuckDB
// (search.go, sql.go), evaluated by the detector's rules (detect.go), and
// merged by compaction (compact.go). It keeps no state of its own about
// which segments are live: it works on the Segment descriptors it is
// given, and lists a query's through a Registry (the catalog's, composed
// in internal/app). Markdown generates docs/lake.md, the layout other
// engines read.
package segment

import (
	"fmt"
	"strings"

	"github.com/trawlhq/trawl/internal/interflow"
)

// Markdown renders docs/lake.md: the layout other engines read, with a
// CREATE TABLE per index for Trino and Athena, generated from the layouts
// the writer uses (a test keeps the file in step).
func Markdown() string {
	var b strings.Builder
	// The compaction thresholds are the code's defaults, not copies.
	b.WriteString(strings.NewReplacer("{minSegments}", fmt.Sprint(DefaultMinSegments), "{maxInputs}", fmt.Sprint(DefaultMaxInputs)).Replace(lakeIntro))
	for _, s := range interflow.Schemas() {
		fmt.Fprintf(&b, "\n### `%s`\n\n```sql\n%s\n```\n", s.Index, createTable(s))
	}
	b.WriteString(lakeOutro)
	return b.String()
}

// sqlTypeOf is a column's type as Trino and Athena (Hive DDL) name it.
func sqlTypeOf(f interflow.Field) string {
	switch f.Type {
	case interflow.Int:
		return "bigint"
	case interflow.Bool:
		return "boolean"
	case interflow.Time:
		return "timestamp"
	case interflow.Strings:
		return "array<string>"
	}
	return "string"
}

func createTable(s *interflow.Schema) string {
	var cols []string
	for i, f := range s.Fields {
		if partitionField(i) {
			continue
		}
		cols = append(cols, fmt.Sprintf("  `%s` %s", ColumnName(f.Name), sqlTypeOf(f)))
		if f.Type == interflow.IP {
			cols = append(cols, fmt.Sprintf("  `%s` bigint", v4Column(f.Name)), fmt.Sprintf("  `%s` binary", v6Column(f.Name)))
		}
	}
	cols = append(cols, "  `rg` int")
	return "CREATE EXTERNAL TABLE trawl_" + s.Index + " (\n" + strings.Join(cols, ",\n") +
		"\n)\nPARTITIONED BY (`tenant` string, `day` date)\nSTORED AS PARQUET\nLOCATION 's3://BUCKET/PREFIX/index=" + s.Index + "/';\n" +
		"-- then: MSCK REPAIR TABLE trawl_" + s.Index + "; (or partition projection on tenant and day)"
}

const lakeIntro = "# The lake: segments other engines can read\n\n" +
	"This file is generated from `internal/segment` (`go test ./internal/segment -update`); a test fails when they differ.\n\n" +
	`Trawl keeps records as immutable Parquet files ("segments") and a catalog that
registers them, the design DuckLake, ClickHouse parts and VictoriaLogs blocks
share.

## Layout

    <root>/index=<aws_events|traffic>/tenant=<tenant>/day=<YYYY-MM-DD>/<id>.parquet
    <root>/index=.../<id>.tokens          token filters of the segment (Trawl's own)
    <root>/_schema/<index>.parquet        every column of the index, no rows

` + "`<root>`" + ` is ` + "`<data-dir>/lake`" + ` by default. With ` + "`--lake s3://BUCKET/PREFIX`" + ` the
same keys live under PREFIX in the bucket (each segment is put there before
its commit), and ` + "`<data-dir>/lake`" + ` is a bounded cache of them. The catalog
is DuckDB's ` + "`trawl.db`" + ` in the data directory, or PostgreSQL (` + "`--catalog`" + `).

- **Segments** are Parquet (zstd for text), rows sorted by time, in
  row groups of 16,384 rows (aws_events) or 65,536 (traffic). A segment
  stores only the columns its records use (a default-format VPC flow log
  fills about a third of the traffic columns); the schema file lists all,
  so a query over segments that lack a column still resolves it, as NULL.
- **Encoding:** data pages v2 of about 1 MiB, definition (and, for lists,
  repetition) levels RLE; text columns dictionary-encoded unless their
  values are mostly distinct (ids, raw records, request IDs), then plain,
  and zstd-compressed; integer and time columns DELTA_BINARY_PACKED and
  not compressed (a few bits a value for times, the spread for counters);
  min and max statistics per row group for every column but those plain
  text ones. Trawl writes the pages itself, straight from its column
  batches; DuckDB (an independent reader) reads every segment in the tests.
- **Partition keys** (index, tenant, day) are folder names, not columns, so
  Hive-style engines (Trino, Athena, Spark, DuckDB) read them as partition
  keys.
- **Column names** are the Interflow field names with dots as underscores
  (` + "`cloud.account_id`" + ` is ` + "`cloud_account_id`" + `); see
  [interflow.md](interflow.md). Times are microseconds, UTC.
- **IP keys:** beside each IP field, ` + "`<field>_v4`" + ` holds an IPv4 address as an
  unsigned 32-bit integer and ` + "`<field>_v6`" + ` an IPv6 address as 16 bytes, so a
  CIDR block is a range that row-group statistics prune, and grouping by
  address is fast.
- ` + "`rg`" + ` is each row's row group number (constant within a row group): a query
  names the row groups its token filters allow, and statistics skip the rest.

## Writing: exactly once

A worker decodes records into columns, writes each (index, tenant, day) of
its batch as a segment, syncs it, and then registers the segments in the
same catalog transaction that advances the checkpoints of the objects the
records came from and stores what it quarantined. A crash before the
transaction leaves files no segment row names: they are deleted at the next
start. A crash after it loses nothing: the objects resume from their
checkpoints, past the records already registered. Workers write segments
in parallel; only the short catalog transaction is serialised.

## Compaction

In the background (every 30 s in ` + "`trawl serve`" + `, after ` + "`trawl collect --once`" + `),
a day with {minSegments} or more small segments (each under a sixteenth of a
compacted segment's size) is merged: up to {maxInputs} inputs are read
in time order (a k-way merge: each is sorted), written as one segment, and
one transaction registers it and retires the inputs. Retired files are kept
for a grace period (a minute) for queries that listed them, then deleted.

## Reading

A search lists the catalog's segments of the tenants in scope that overlap
its time range (no file is opened for the others), then runs DuckDB over
them: segments entirely inside the range without a time condition, the
others with one. Free text consults each row group's token filter (a
split-block Bloom filter of the record's words), so a rare word reads a few
row groups of a week. Newest-first results read the newest segments first
and stop when older ones cannot hold anything newer, fetching whole records
only for the rows kept.

## Other engines

DuckDB reads a lake as it is:

` + "```sql" + `
SELECT event_name, count(*) FROM read_parquet('/var/lib/trawl/lake/index=aws_events/**/*.parquet',
  hive_partitioning = true, union_by_name = true)
WHERE tenant = 'acme' GROUP BY 1 ORDER BY 2 DESC;
` + "```" + `

Read only registered segments for exact results: a file written by a run
that crashed before its commit is not part of the lake until the sweep
deletes it. For Trino and Athena, with the lake on S3:
`

const lakeOutro = `
The ` + "`_v4`" + ` key is an unsigned 32-bit integer (Parquet INT32 with the UINT_32
annotation); engines without unsigned types read it as bigint.
`
