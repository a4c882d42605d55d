package iceberg

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/interflow"
)

// TestFieldIDsArePinned: a table's field ids never change (engines map the
// segments' columns by them): a field inserted anywhere but at the end of
// an index's schema fails here.
func TestFieldIDsArePinned(t *testing.T) {
	pinned := map[string]string{
		interflow.IndexEvents:  "1:id 2:timestamp 3:tenant 4:connector 5:index",
		interflow.IndexTraffic: "1:id 2:timestamp 3:tenant 4:connector 5:index",
	}
	for _, s := range interflow.Schemas() {
		var got []string
		for _, f := range TableSchema(s).Fields[:5] {
			got = append(got, strings.Join([]string{itoa(f.ID), f.Name}, ":"))
		}
		if strings.Join(got, " ") != pinned[s.Index] {
			t.Errorf("%s: field ids %v, pinned %s", s.Index, got, pinned[s.Index])
		}
		if n := len(TableSchema(s).Fields); n != len(s.Fields) {
			t.Errorf("%s: %d table fields for %d Interflow fields", s.Index, n, len(s.Fields))
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestCommitExpiresSupersededSnapshots: a snapshot stays in the metadata
// until the one after it is older than the retention; the current one
// always stays.
func TestCommitExpiresSupersededSnapshots(t *testing.T) {
	s := interflow.Events()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMetadata(s, "file:///lake/index=aws_events/tenant=acme", "u", t0)
	for i := int64(1); i <= 4; i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Minute)
		m = m.Commit(m.Evolve(s), Snapshot{SnapshotID: i, SequenceNumber: i, TimestampMS: at.UnixMilli()}, "v"+itoa(int(i))+".metadata.json", 15*time.Minute)
	}
	var ids []int64
	for _, sn := range m.Snapshots {
		ids = append(ids, sn.SnapshotID)
	}
	// At 40 min with 15 min retention: 1 was superseded at 20 (expired),
	// 2 at 30 (kept), 3 at 40, 4 current.
	if len(ids) != 3 || ids[0] != 2 || m.CurrentSnapshotID != 4 || m.LastSequenceNumber != 4 {
		t.Errorf("snapshots %v, current %d", ids, m.CurrentSnapshotID)
	}
}

// TestManifestIsAvro: a manifest is an Avro container file without codec,
// whose header names the table's schema and partition spec.
func TestManifestIsAvro(t *testing.T) {
	s := interflow.Events()
	var buf bytes.Buffer
	mf, err := WriteManifest(&buf, TableSchema(s), Spec(s), []DataFile{
		{Status: Added, SnapshotID: 7, SequenceNumber: 3, Path: "file:///a.parquet", Tenant: "acme", Index: "aws_events", Day: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Records: 10, Bytes: 100},
		{Status: Existing, SnapshotID: 5, SequenceNumber: 2, Path: "file:///b.parquet", Tenant: "acme", Index: "aws_events", Day: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Records: 5, Bytes: 50},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !bytes.HasPrefix(b, []byte("Obj\x01")) || !bytes.Contains(b, []byte(`"avro.codec`)) && !bytes.Contains(b, []byte("avro.codec")) {
		t.Fatalf("not an Avro container: %q", b[:20])
	}
	if !bytes.Contains(b, []byte("null")) || !bytes.Contains(b, []byte(`"transform":"day"`)) || !bytes.Contains(b, []byte("file:///a.parquet")) {
		t.Error("the header lacks the codec, the partition spec or an entry")
	}
	if mf.AddedFiles != 1 || mf.ExistingFiles != 1 || mf.AddedRows != 10 || mf.ExistingRows != 5 || mf.MinSequence != 2 {
		t.Errorf("manifest counts %+v", mf)
	}
}

// TestSchemaEvolves: a table written before Interflow gained fields (its
// metadata read back from its file) gets a new schema, the next id, made
// current and named by the snapshot; the old schema stays for the files
// written under it, and the field ids of the old columns do not move.
func TestSchemaEvolves(t *testing.T) {
	s := interflow.Events()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMetadata(s, "file:///lake/index=aws_events/tenant=acme", "u", t0)
	old := m.Schemas[0]
	old.Fields = old.Fields[:51] // the table as the first release wrote it
	m.Schemas = []Schema{old}
	m.LastColumnID = 51
	raw, _ := json.Marshal(m)
	back, err := ParseMetadata(raw)
	if err != nil {
		t.Fatal(err)
	}
	if same := back.Evolve(s); same.SchemaID != 1 {
		t.Fatalf("evolved schema id %d, want 1", same.SchemaID)
	}
	next := back.Commit(back.Evolve(s), Snapshot{SnapshotID: 9, SequenceNumber: 1, TimestampMS: t0.UnixMilli()}, "", time.Hour)
	if len(next.Schemas) != 2 || next.CurrentSchemaID != 1 || next.Snapshots[len(next.Snapshots)-1].SchemaID != 1 || next.LastColumnID < len(s.Fields) {
		t.Fatalf("schemas %d, current %d, snapshot schema %d, last column %d", len(next.Schemas), next.CurrentSchemaID, next.Snapshots[0].SchemaID, next.LastColumnID)
	}
	for i, f := range next.Schemas[0].Fields {
		if nf := next.Schemas[1].Fields[i]; nf.ID != f.ID || nf.Name != f.Name {
			t.Fatalf("field %d moved: %v became %v", i, f, nf)
		}
	}
	// Committing again with the same code keeps schema 1.
	again := next.Commit(next.Evolve(s), Snapshot{SnapshotID: 10, SequenceNumber: 2, TimestampMS: t0.UnixMilli() + 1}, "v1.metadata.json", time.Hour)
	if len(again.Schemas) != 2 || again.CurrentSchemaID != 1 {
		t.Fatalf("a second commit changed the schemas: %d, current %d", len(again.Schemas), again.CurrentSchemaID)
	}
}
