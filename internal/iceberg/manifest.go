package iceberg

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Entry status in a manifest.
const (
	Existing = 0
	Added    = 1
	Deleted  = 2
)

// DataFile is a manifest entry: one segment of one (tenant, index, day)
// partition, and the snapshot and sequence number that added it.
type DataFile struct {
	Status         int
	SnapshotID     int64
	SequenceNumber int64
	Path           string // URI
	Tenant, Index  string
	Day            time.Time
	Records, Bytes int64
}

func manifestEntrySchema() avroRecord {
	partition := record("r102",
		avroField{Name: "tenant", Type: optional("string"), FieldID: 1000},
		avroField{Name: "index", Type: optional("string"), FieldID: 1001},
		avroField{Name: "timestamp_day", Type: optional(avroDate()), FieldID: 1002})
	dataFile := record("r2",
		avroField{Name: "content", Type: "int", FieldID: 134},
		avroField{Name: "file_path", Type: "string", FieldID: 100},
		avroField{Name: "file_format", Type: "string", FieldID: 101},
		avroField{Name: "partition", Type: partition, FieldID: 102},
		avroField{Name: "record_count", Type: "long", FieldID: 103},
		avroField{Name: "file_size_in_bytes", Type: "long", FieldID: 104})
	return record("manifest_entry",
		avroField{Name: "status", Type: "int", FieldID: 0},
		avroField{Name: "snapshot_id", Type: optional("long"), FieldID: 1},
		avroField{Name: "sequence_number", Type: optional("long"), FieldID: 3},
		avroField{Name: "file_sequence_number", Type: optional("long"), FieldID: 4},
		avroField{Name: "data_file", Type: dataFile, FieldID: 2})
}

// ManifestFile is an entry of a manifest list: one manifest, with what it
// holds.
type ManifestFile struct {
	Path                                    string // URI
	Length                                  int64
	SequenceNumber                          int64 // of the snapshot that added it
	MinSequence                             int64 // the least data sequence number of its files
	SnapshotID                              int64 // that added it
	AddedFiles, ExistingFiles, DeletedFiles int
	AddedRows, ExistingRows, DeletedRows    int64
}

// WriteManifest writes a manifest of data files (all of one partition
// spec) and returns its entry for the manifest list, Path and Length
// aside. Sequence numbers are written explicitly: the snapshot's is known
// before the commit (the catalog's pointer moves only from the metadata
// the snapshot was built on).
func WriteManifest(w io.Writer, schema Schema, spec PartitionSpec, files []DataFile) (ManifestFile, error) {
	var e enc
	mf := ManifestFile{MinSequence: -1}
	for _, f := range files {
		e.int(f.Status)
		e.optLong(f.SnapshotID)
		e.optLong(f.SequenceNumber)
		e.optLong(f.SequenceNumber)
		e.int(0) // data
		e.str(f.Path)
		e.str("PARQUET")
		e.optStr(f.Tenant)
		e.optStr(f.Index)
		e.some()
		e.int(int(f.Day.Unix() / 86400))
		e.long(f.Records)
		e.long(f.Bytes)
		switch f.Status {
		case Added:
			mf.AddedFiles++
			mf.AddedRows += f.Records
		case Existing:
			mf.ExistingFiles++
			mf.ExistingRows += f.Records
		case Deleted:
			mf.DeletedFiles++
			mf.DeletedRows += f.Records
		}
		if f.Status != Deleted && (mf.MinSequence < 0 || f.SequenceNumber < mf.MinSequence) {
			mf.MinSequence = f.SequenceNumber
		}
	}
	js, err := json.Marshal(schema)
	if err != nil {
		return mf, err
	}
	specJS, err := json.Marshal(spec.Fields)
	if err != nil {
		return mf, err
	}
	meta := map[string]string{"schema": string(js), "schema-id": strconv.Itoa(schema.SchemaID), "partition-spec": string(specJS),
		"partition-spec-id": strconv.Itoa(spec.SpecID), "format-version": "2", "content": "data"}
	if err := writeContainer(w, manifestEntrySchema(), meta, len(files), e.b); err != nil {
		return mf, fmt.Errorf("iceberg: manifest: %w", err)
	}
	return mf, nil
}

func manifestListSchema() avroRecord {
	return record("manifest_file",
		avroField{Name: "manifest_path", Type: "string", FieldID: 500},
		avroField{Name: "manifest_length", Type: "long", FieldID: 501},
		avroField{Name: "partition_spec_id", Type: "int", FieldID: 502},
		avroField{Name: "content", Type: "int", FieldID: 517},
		avroField{Name: "sequence_number", Type: "long", FieldID: 515},
		avroField{Name: "min_sequence_number", Type: "long", FieldID: 516},
		avroField{Name: "added_snapshot_id", Type: "long", FieldID: 503},
		avroField{Name: "added_files_count", Type: "int", FieldID: 504},
		avroField{Name: "existing_files_count", Type: "int", FieldID: 505},
		avroField{Name: "deleted_files_count", Type: "int", FieldID: 506},
		avroField{Name: "added_rows_count", Type: "long", FieldID: 512},
		avroField{Name: "existing_rows_count", Type: "long", FieldID: 513},
		avroField{Name: "deleted_rows_count", Type: "long", FieldID: 514})
}

// WriteManifestList writes a snapshot's manifest list.
func WriteManifestList(w io.Writer, snap Snapshot, manifests []ManifestFile) error {
	var e enc
	for _, m := range manifests {
		e.str(m.Path)
		e.long(m.Length)
		e.int(0) // partition spec
		e.int(0) // data
		e.long(m.SequenceNumber)
		min := m.MinSequence
		if min < 0 {
			// No live file: the manifest's own sequence number, as Java's
			// writer does (0 is v1's).
			min = m.SequenceNumber
		}
		e.long(min)
		e.long(m.SnapshotID)
		e.int(m.AddedFiles)
		e.int(m.ExistingFiles)
		e.int(m.DeletedFiles)
		e.long(m.AddedRows)
		e.long(m.ExistingRows)
		e.long(m.DeletedRows)
	}
	meta := map[string]string{"snapshot-id": strconv.FormatInt(snap.SnapshotID, 10), "sequence-number": strconv.FormatInt(snap.SequenceNumber, 10),
		"format-version": "2"}
	if snap.ParentID != 0 {
		meta["parent-snapshot-id"] = strconv.FormatInt(snap.ParentID, 10)
	}
	if err := writeContainer(w, manifestListSchema(), meta, len(manifests), e.b); err != nil {
		return fmt.Errorf("iceberg: manifest list: %w", err)
	}
	return nil
}
