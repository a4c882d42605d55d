package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trawlhq/trawl/internal/testutil/pgserver"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestPostgresCatalog: `trawl serve --catalog postgres://…` keeps the
// catalog in PostgreSQL: the CLI through the server adds, collects and
// counts; after a restart everything is still there; the CLI opening the
// directory itself needs the same --catalog (without it the directory is
// refused, never swept). `trawl catalog migrate --to` moves an embedded
// catalog's connectors, checkpoints and segments over, and a collect
// afterwards stores nothing twice.
func TestPostgresCatalog(t *testing.T) {
	pg := pgserver.Start(t)
	srv := s3server.Start(t)
	objs, want := trailObjects(71, 1, 6)
	bucket(t, srv, "pgcat", objs)
	n := strconv.Itoa(len(want))
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(srv.SecretKey+"\n"), 0o600)
	add := []string{"connector", "add", "--name", "trail", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "pgcat",
		"--prefix", "AWSLogs/" + acct + "/CloudTrail", "--access-key-id", srv.AccessKey, "--secret-access-key-file", secret,
		"--endpoint", srv.Endpoint, "--path-style", "--start", "-72h"}
	count := func(data string, extra ...string) string {
		t.Helper()
		return strings.TrimSpace(mustTrawl(t, data, append([]string{"search", "--count", "--from", "-30d"}, extra...)...))
	}

	t.Run("serve", func(t *testing.T) {
		data := t.TempDir()
		url := pg.Database(t)
		stop := startServe(t, data, "--catalog", url)
		mustTrawl(t, data, add...)
		if out := mustTrawl(t, data, "collect", "--once", "trail"); !strings.Contains(out, " "+n+" ") {
			t.Fatalf("collect: %s", out)
		}
		if got := count(data); got != n {
			t.Fatalf("count through the server %s, want %s", got, n)
		}
		stop()
		if _, err := os.Stat(filepath.Join(data, "trawl.db")); err == nil {
			t.Error("an embedded catalog file was written beside the PostgreSQL catalog")
		}
		if got := count(data, "--catalog", url); got != n {
			t.Fatalf("count on the directory with --catalog %s, want %s", got, n)
		}
		if out := mustTrawl(t, data, "collect", "--catalog", url, "--once", "trail"); !strings.Contains(out, " 0 ") {
			t.Errorf("a second collect stored records again: %s", out)
		}
		r := trawl(t, data, nil, "search", "--count", "--from", "-30d")
		if r.code == 0 || !strings.Contains(r.stderr, "belongs to catalog") {
			t.Fatalf("without --catalog the directory opened: %d %s %s", r.code, r.stdout, r.stderr)
		}
		if got := count(data, "--catalog", url); got != n {
			t.Fatalf("after a refused open: count %s, want %s (segments swept?)", got, n)
		}
		stop = startServe(t, data, "--catalog", url)
		defer stop()
		if got := count(data); got != n {
			t.Fatalf("after a restart: count %s, want %s", got, n)
		}
	})

	t.Run("migrate", func(t *testing.T) {
		data := t.TempDir()
		mustTrawl(t, data, add...)
		mustTrawl(t, data, "collect", "--once", "trail")
		if got := count(data); got != n {
			t.Fatalf("embedded: count %s, want %s", got, n)
		}
		url := pg.Database(t)
		out := mustTrawl(t, data, "catalog", "migrate", "--to", url, "--format", "json")
		var rep struct {
			Tables map[string]int64 `json:"tables"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Tables["connectors"] != 1 || rep.Tables["objects"] == 0 || rep.Tables["segments"] == 0 || rep.Tables["meta"] == 0 {
			t.Fatalf("migrate reported %s (%v)", out, err)
		}
		if got := count(data, "--catalog", url); got != n {
			t.Fatalf("after migrating: count %s, want %s", got, n)
		}
		if out := mustTrawl(t, data, "collect", "--catalog", url, "--once", "trail"); !strings.Contains(out, " 0 ") {
			t.Errorf("a collect after migrating stored records again: %s", out)
		}
		if got := count(data, "--catalog", url); got != n {
			t.Fatalf("after migrating and collecting: count %s, want %s", got, n)
		}
		r := trawl(t, data, nil, "catalog", "migrate", "--to", pg.Database(t))
		if r.code == 0 || !strings.Contains(r.stderr, "no embedded catalog") {
			t.Errorf("a second migrate: %d %s", r.code, r.stderr)
		}
	})
}
