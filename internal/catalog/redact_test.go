package catalog

import (
	"errors"
	"strings"
	"testing"
)

// TestRedactCatalog: a password is masked whichever way the catalog
// location holds it.
func TestRedactCatalog(t *testing.T) {
	for _, s := range []string{
		"postgres://u:S3cr%21t@h:5432/db",
		"postgres://u@h/db?password=S3cr!t",
		"postgresql://u@h/db?sslmode=disable&password=S3cr!t&x=1",
		"postgres://u@h/db?sslpassword=S3cr!t",
		"host=h user=u password=S3cr!t dbname=db",
		"host=h password='S3cr!t' dbname=db",
		"mysql://u:S3cr!t@h/db",
	} {
		got := RedactCatalog(s)
		if strings.Contains(got, "S3cr") || !strings.Contains(got, masked) {
			t.Errorf("RedactCatalog(%q) = %q", s, got)
		}
	}
	if got := RedactCatalog("postgres://trawl@db:5432/trawl"); got != "postgres://trawl@db:5432/trawl" {
		t.Errorf("a location without a password changed: %q", got)
	}
}

// TestOpenCatalogHidesPassword: the error of a catalog that cannot be
// reached names it without its password, however it was given.
func TestOpenCatalogHidesPassword(t *testing.T) {
	for _, dsn := range []string{"postgres://u:S3cret@127.0.0.1:1/db", "postgres://u@127.0.0.1:1/db?password=S3cret&connect_timeout=2", "mysql://u:S3cret@h/db"} {
		_, err := openCatalog("", dsn, "")
		if err == nil {
			t.Fatalf("%s opened", dsn)
		}
		if strings.Contains(err.Error(), "S3cret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	inner := errors.New("cannot parse `postgres://u@h/db?password=S3cret`")
	if err := redactErr(inner, "postgres://u@h/db?password=S3cret"); strings.Contains(err.Error(), "S3cret") || !errors.Is(err, inner) {
		t.Errorf("redactErr: %v", err)
	}
}
