package integration

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSearchTwoConnectorsOneObject: from an outside try: two connectors
// (two tenants) reading the same objects store each record twice, one per
// connector, under the same id (the object's and the position's). A
// search across both returned one connector's row in place of the
// other's (the fetch kept the last row of an id), so a page showed the
// same record several times and the other connector's not at all.
func TestSearchTwoConnectorsOneObject(t *testing.T) {
	data := t.TempDir()
	src := t.TempDir()
	mustTrawl(t, data, "gen", "--out", src, "--bucket", "shared", "--objects", "3", "--records", "10")
	for _, tenant := range []string{"acme", "globex"} {
		mustTrawl(t, data, "connector", "add", "--name", "trail-"+tenant, "--tenant", tenant, "--subtype", "cloudtrail", "--bucket", "shared",
			"--prefix", "AWSLogs/111122223333/CloudTrail", "--endpoint", "file://"+src, "--start", "-72h")
	}
	mustTrawl(t, data, "collect", "--once")
	per := map[string]int{}
	for _, tenant := range []string{"acme", "globex"} {
		per[tenant] = count(t, data, "--tenant", tenant)
	}
	if per["acme"] == 0 || per["acme"] != per["globex"] {
		t.Fatalf("counts per tenant %v: want equal and non-zero", per)
	}
	out := mustTrawl(t, data, "search", "--from", "-30d", "--format", "ndjson", "--limit", "1000")
	seen := map[string]int{}
	rows := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not NDJSON: %q", line)
		}
		rows++
		seen[r["connector"].(string)+"/"+r["id"].(string)]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("record %s shown %d times", k, n)
		}
	}
	if rows != per["acme"]+per["globex"] || len(seen) != rows {
		t.Fatalf("%d rows, %d distinct (connector, id), want %d", rows, len(seen), per["acme"]+per["globex"])
	}
}
