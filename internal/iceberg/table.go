// Package iceberg writes the lake's Apache Iceberg tables (format v2):
// the table metadata (JSON), manifest lists and manifests (Avro) that
// name the segments, so any engine that reads Iceberg (Trino, Spark,
// Athena, DuckDB, PyIceberg, Snowflake, ...) reads exactly the records
// Trawl's catalog holds. It knows nothing of the catalog: internal/app
// decides what a snapshot holds, this package writes it. Data files are
// the segments as internal/segment writes them (their Parquet columns
// carry the field ids given here).
package iceberg

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/trawlhq/trawl/internal/interflow"
)

// Field is a field of an Iceberg schema; Type is a primitive type's name
// or a *List.
type Field struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	Required bool   `json:"required"`
	Type     any    `json:"type"`
	Doc      string `json:"doc,omitempty"`
}

// List is Iceberg's list type.
type List struct {
	Type            string `json:"type"` // "list"
	ElementID       int    `json:"element-id"`
	Element         string `json:"element"`
	ElementRequired bool   `json:"element-required"`
}

// Schema is an Iceberg schema.
type Schema struct {
	Type     string  `json:"type"` // "struct"
	SchemaID int     `json:"schema-id"`
	Fields   []Field `json:"fields"`
}

// ColumnName is a field's name in the table, as in the segments' Parquet
// (dots become underscores, so engines need no quoting).
func ColumnName(field string) string {
	b := []byte(field)
	for i, c := range b {
		if c == '.' {
			b[i] = '_'
		}
	}
	return string(b)
}

// TableSchema is an index's Interflow schema as an Iceberg schema: every
// field optional (a record may lack any), ids from interflow.FieldID.
// The key columns the segments add for searching (an IP's _v4 and _v6,
// rg) are not part of it.
func TableSchema(s *interflow.Schema) Schema {
	out := Schema{Type: "struct"}
	for i, f := range s.Fields {
		fd := Field{ID: s.FieldID(i), Name: ColumnName(f.Name)}
		switch f.Type {
		case interflow.Int:
			fd.Type = "long"
		case interflow.Float:
			fd.Type = "double"
		case interflow.Bool:
			fd.Type = "boolean"
		case interflow.Time:
			fd.Type = "timestamptz"
		case interflow.Strings:
			fd.Type = &List{Type: "list", ElementID: s.ElementID(i), Element: "string", ElementRequired: true}
		default:
			fd.Type = "string"
		}
		out.Fields = append(out.Fields, fd)
	}
	return out
}

// lastColumnID is the highest field id a schema uses.
func lastColumnID(s Schema) int {
	n := 0
	for _, f := range s.Fields {
		n = max(n, f.ID)
		if l, ok := f.Type.(*List); ok {
			n = max(n, l.ElementID)
		}
	}
	return n
}

// PartitionField is a field of a partition spec.
type PartitionField struct {
	SourceID  int    `json:"source-id"`
	FieldID   int    `json:"field-id"`
	Name      string `json:"name"`
	Transform string `json:"transform"`
}

// PartitionSpec is an Iceberg partition spec.
type PartitionSpec struct {
	SpecID int              `json:"spec-id"`
	Fields []PartitionField `json:"fields"`
}

// Spec partitions a table by tenant and index (identity: the segments do
// not store those columns, engines take them from the partition) and by
// the day of the timestamp, as the segments are.
func Spec(s *interflow.Schema) PartitionSpec {
	return PartitionSpec{Fields: []PartitionField{
		{SourceID: s.FieldID(interflow.FTenant), FieldID: 1000, Name: "tenant", Transform: "identity"},
		{SourceID: s.FieldID(interflow.FIndex), FieldID: 1001, Name: "index", Transform: "identity"},
		{SourceID: s.FieldID(interflow.FTimestamp), FieldID: 1002, Name: "timestamp_day", Transform: "day"},
	}}
}

// Snapshot is a table's state at a commit.
type Snapshot struct {
	SnapshotID     int64             `json:"snapshot-id"`
	ParentID       int64             `json:"parent-snapshot-id,omitempty"`
	SequenceNumber int64             `json:"sequence-number"`
	TimestampMS    int64             `json:"timestamp-ms"`
	ManifestList   string            `json:"manifest-list"`
	Summary        map[string]string `json:"summary"`
	SchemaID       int               `json:"schema-id"`
}

// LogEntry is an entry of the snapshot log or the metadata log.
type LogEntry struct {
	TimestampMS  int64  `json:"timestamp-ms"`
	SnapshotID   int64  `json:"snapshot-id,omitempty"`
	MetadataFile string `json:"metadata-file,omitempty"`
}

// Ref is a named snapshot reference (the main branch).
type Ref struct {
	SnapshotID int64  `json:"snapshot-id"`
	Type       string `json:"type"`
}

// Metadata is a table metadata file.
type Metadata struct {
	FormatVersion      int               `json:"format-version"`
	TableUUID          string            `json:"table-uuid"`
	Location           string            `json:"location"`
	LastSequenceNumber int64             `json:"last-sequence-number"`
	LastUpdatedMS      int64             `json:"last-updated-ms"`
	LastColumnID       int               `json:"last-column-id"`
	Schemas            []Schema          `json:"schemas"`
	CurrentSchemaID    int               `json:"current-schema-id"`
	PartitionSpecs     []PartitionSpec   `json:"partition-specs"`
	DefaultSpecID      int               `json:"default-spec-id"`
	LastPartitionID    int               `json:"last-partition-id"`
	SortOrders         []json.RawMessage `json:"sort-orders"`
	DefaultSortOrderID int               `json:"default-sort-order-id"`
	Properties         map[string]string `json:"properties"`
	CurrentSnapshotID  int64             `json:"current-snapshot-id"`
	Snapshots          []Snapshot        `json:"snapshots"`
	SnapshotLog        []LogEntry        `json:"snapshot-log"`
	MetadataLog        []LogEntry        `json:"metadata-log"`
	Refs               map[string]Ref    `json:"refs"`
}

// NewMetadata is the metadata of an empty table of an index at location
// (a URI: file:///… or s3://…).
func NewMetadata(s *interflow.Schema, location, uuid string, now time.Time) *Metadata {
	schema := TableSchema(s)
	return &Metadata{FormatVersion: 2, TableUUID: uuid, Location: location, LastUpdatedMS: now.UnixMilli(),
		LastColumnID: lastColumnID(schema), Schemas: []Schema{schema}, PartitionSpecs: []PartitionSpec{Spec(s)},
		LastPartitionID: 1002, SortOrders: []json.RawMessage{json.RawMessage(`{"order-id":0,"fields":[]}`)},
		Properties: map[string]string{"write.format.default": "parquet", "owner": "trawl"}, CurrentSnapshotID: -1,
		Snapshots: []Snapshot{}, SnapshotLog: []LogEntry{}, MetadataLog: []LogEntry{}, Refs: map[string]Ref{}}
}

// Evolve is the table's schema for an index's Interflow schema: the
// schema it has when their fields agree, else a new one (the next id)
// that Commit adds and makes current. Interflow only ever appends fields
// (a field's position is its id), so files written before read the new
// columns as null in every engine.
func (m *Metadata) Evolve(s *interflow.Schema) Schema {
	want := TableSchema(s)
	next := 0
	for _, old := range m.Schemas {
		if sameFields(old, want) {
			want.SchemaID = old.SchemaID
			return want
		}
		next = max(next, old.SchemaID+1)
	}
	want.SchemaID = next
	return want
}

// sameFields compares two schemas' fields as JSON (one may have been
// read back from a metadata file, its list types as maps).
func sameFields(a, b Schema) bool {
	canon := func(s Schema) string {
		raw, _ := json.Marshal(s.Fields)
		var v any
		_ = json.Unmarshal(raw, &v)
		out, _ := json.Marshal(v)
		return string(out)
	}
	return canon(a) == canon(b)
}

// ParseMetadata reads a metadata file Trawl wrote.
func ParseMetadata(data []byte) (*Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("iceberg: table metadata: %w", err)
	}
	return &m, nil
}

// Commit returns the metadata after snap is committed on top of m (whose
// own file is prevFile, "" for none): the snapshot becomes current, and
// snapshots superseded more than retention ago expire (with the log
// entries of that age), as do older metadata files in the log. (The
// caller deletes a superseded snapshot's files after the same retention.)
func (m *Metadata) Commit(schema Schema, snap Snapshot, prevFile string, retention time.Duration) *Metadata {
	n := *m
	n.Schemas = slices.Clone(m.Schemas)
	if !slices.ContainsFunc(n.Schemas, func(s Schema) bool { return s.SchemaID == schema.SchemaID }) {
		n.Schemas = append(n.Schemas, schema)
	}
	n.CurrentSchemaID, n.LastColumnID = schema.SchemaID, max(m.LastColumnID, lastColumnID(schema))
	snap.SchemaID = schema.SchemaID
	n.Properties = maps.Clone(m.Properties)
	n.LastSequenceNumber, n.LastUpdatedMS = snap.SequenceNumber, snap.TimestampMS
	n.CurrentSnapshotID = snap.SnapshotID
	n.Refs = map[string]Ref{"main": {SnapshotID: snap.SnapshotID, Type: "branch"}}
	cutoff := snap.TimestampMS - retention.Milliseconds()
	// A snapshot is readable until the one after it is older than the
	// cutoff: a query that began on it may still run.
	all := append(slices.Clone(m.Snapshots), snap)
	slices.SortFunc(all, func(a, b Snapshot) int { return cmp.Compare(a.SequenceNumber, b.SequenceNumber) })
	n.Snapshots = nil
	for i, sn := range all {
		if i+1 < len(all) && all[i+1].TimestampMS < cutoff {
			continue
		}
		n.Snapshots = append(n.Snapshots, sn)
	}
	n.SnapshotLog = keepSince(append(slices.Clone(m.SnapshotLog), LogEntry{TimestampMS: snap.TimestampMS, SnapshotID: snap.SnapshotID}), cutoff)
	n.MetadataLog = slices.Clone(m.MetadataLog)
	if prevFile != "" {
		n.MetadataLog = append(n.MetadataLog, LogEntry{TimestampMS: m.LastUpdatedMS, MetadataFile: prevFile})
	}
	n.MetadataLog = keepSince(n.MetadataLog, cutoff)
	return &n
}

// keepSince keeps the log entries from cutoff on, and always the last.
func keepSince(log []LogEntry, cutoff int64) []LogEntry {
	out := []LogEntry{}
	for i, e := range log {
		if e.TimestampMS >= cutoff || i == len(log)-1 {
			out = append(out, e)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
