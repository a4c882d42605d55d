package apiv1

import (
	"os/exec"
	"strings"
	"testing"
)

// TestWireNeedsNoStorage: what speaks only the API (the wire types, the
// client, the policy writer) links no storage, query engine or AWS SDK. A
// program built on the client must not carry DuckDB.
func TestWireNeedsNoStorage(t *testing.T) {
	forbidden := []string{"duckdb", "jackc/pgx", "aws-sdk-go-v2", "trawl/internal/catalog", "trawl/internal/segment", "trawl/internal/ingest", "trawl/internal/app", "trawl/internal/collect"}
	for _, pkg := range []string{"../apiv1", "../client", "../awspolicy"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 5 {
			t.Fatalf("go list -deps %s listed %d packages: the check reads the wrong output", pkg, len(deps))
		}
		for _, d := range deps {
			for _, f := range forbidden {
				if strings.Contains(d, f) {
					t.Errorf("%s depends on %s", pkg, d)
				}
			}
		}
	}
}
