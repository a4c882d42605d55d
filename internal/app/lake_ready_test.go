package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
)

// TestReadyChecksFolders: a lake is ready until its lake folder, then its
// data directory, is deleted; a segment is then not written (its folder
// is not recreated where no catalog looks).
func TestReadyChecksFolders(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := OpenLake(ctx, filepath.Join(dir, "trawl.db"), LakeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Ready(ctx); err != nil {
		t.Fatalf("a fresh lake: %v", err)
	}
	if err := os.RemoveAll(l.Root()); err != nil {
		t.Fatal(err)
	}
	var nr *NotReadyError
	if err := l.Ready(ctx); !errors.As(err, &nr) || nr.What != "lake folder" {
		t.Errorf("lake folder deleted: %v", err)
	}
	b := interflow.NewBatchSize(interflow.Events(), 1)
	r := interflow.New(interflow.Events())
	r.Stamp(interflow.Provenance{Tenant: "acme", Connector: "c", Bucket: "b", Key: "k", ETag: "e"}, 0, "cloudtrail", "paas")
	r.SetTime(interflow.FTimestamp, time.Now())
	b.Append(r)
	if _, err := l.Write(ctx, []*ingest.Batch{{Tenant: "acme", Schema: interflow.Events(), Rows: b, Sel: []int32{0}}}); !errors.As(err, &nr) {
		t.Errorf("a segment written into a deleted lake folder: %v", err)
	}
	if _, err := os.Stat(l.Root()); err == nil {
		t.Error("writing a segment recreated the deleted lake folder")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := l.Ready(ctx); !errors.As(err, &nr) || nr.What != "data directory" {
		t.Errorf("data directory deleted: %v", err)
	}
}
