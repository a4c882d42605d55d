package catalog

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/trawlhq/trawl/internal/testutil/pgserver"
	"time"
)

// With TRAWL_TEST_CATALOG=postgres, every test of this package that opens
// a catalog through testOptions keeps it in a fresh database of a
// throw-away PostgreSQL cluster (make test runs the package once so).
var pgTest struct {
	srv *pgserver.Server
	err error
}

func TestMain(m *testing.M) {
	if os.Getenv("TRAWL_TEST_CATALOG") == "postgres" {
		pgTest.srv, pgTest.err = pgserver.New()
	}
	code := m.Run()
	if pgTest.srv != nil {
		pgTest.srv.Stop()
	}
	os.Exit(code)
}

// testOptions are a test catalog's options: the embedded catalog, or a
// new PostgreSQL database under TRAWL_TEST_CATALOG=postgres.
func testOptions(t testing.TB, opt Options) Options {
	t.Helper()
	if os.Getenv("TRAWL_TEST_CATALOG") != "postgres" {
		return opt
	}
	if pgTest.err != nil {
		t.Fatalf("TRAWL_TEST_CATALOG=postgres: %v", pgTest.err)
	}
	opt.Catalog = pgTest.srv.Database(t)
	return opt
}

func openTest(t *testing.T) *Catalog {
	t.Helper()
	l, err := Open(context.Background(), filepath.Join(t.TempDir(), "trawl.db"), testOptions(t, Options{MemoryLimit: "256MB"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestDollarParams(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                                 "SELECT 1",
		"a = ? AND b IN (?,?)":                     "a = $1 AND b IN ($2,$3)",
		"x = '?' AND y = ? AND \"c?\" = ?":         "x = '?' AND y = $1 AND \"c?\" = $2",
		"s = 'it''s ?' AND t = ?":                  "s = 'it''s ?' AND t = $1",
		"INSERT INTO t VALUES (?,?),(?,?) LIMIT ?": "INSERT INTO t VALUES ($1,$2),($3,$4) LIMIT $5",
	} {
		if got := dollarParams(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

var base = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
