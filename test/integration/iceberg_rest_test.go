package integration

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// restRead is what test/iceberg/rest.mjs reports.
type restRead struct {
	Namespaces json.RawMessage
	Namespace  map[string]struct{ Metadata, Exists json.RawMessage }
	Tables     map[string]json.RawMessage
	Load       map[string]struct {
		Exists                json.RawMessage
		Status                int
		Type                  string
		Location              string
		LocationHoldsMetadata bool
		Files                 []string
		PartitionTenants      []string
		Rows, Distinct        int
		Days                  map[string]int
		Config                map[string]string
	}
	Create struct {
		Status int
		Type   string
	}
}

// readREST runs rest.mjs against the catalog with a token.
func (r *icebergReader) readREST(t *testing.T, catalogURL, token string, namespaces []string, tables [][2]string) restRead {
	t.Helper()
	req, _ := json.Marshal(map[string]any{"catalog": catalogURL, "token": token, "lakeBase": r.base, "lakeURI": r.lakeURI,
		"namespaces": namespaces, "tables": tables})
	cmd := exec.Command(r.node, "rest.mjs", string(req))
	cmd.Dir = "../iceberg"
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("iceberg-js: %v: %s", err, msg)
	}
	var got restRead
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("iceberg-js output %q: %v", out, err)
	}
	return got
}

// TestIcebergRESTCatalog: iceberg-js, a REST catalog client, against
// /iceberg/v1 of a running `trawl serve`: a tenant's token lists and
// loads its own namespace and tables only (another tenant's namespace and
// table are 404, as a namespace that does not exist), a bad token is 401,
// root lists every tenant, a write is 405; the metadata location a load
// returns is the file holding the returned metadata, and icebird reading
// the table through it finds only the tenant's data files and, per day,
// the records `trawl search --count` counts.
func TestIcebergRESTCatalog(t *testing.T) {
	data := t.TempDir()
	rd := newIcebergReader(t, filepath.Join(data, "lake"))
	srv := s3server.Start(t)
	start := time.Now().UTC().Add(-30 * time.Hour)
	for i, b := range []string{"rest-acme", "rest-beta"} {
		srv.Fill(t, b, gen.CloudTrail(gen.CloudTrailSpec{Seed: uint64(7 + i), Accounts: []string{acct}, Regions: []string{"us-east-1"},
			Start: start, Span: 24 * time.Hour, Objects: 3, RecordsPerObj: 15 + 5*i}))
	}
	addConnector(t, srv, data, "acme-trail", "rest-acme", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	addConnector(t, srv, data, "beta-trail", "rest-beta", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey, "--tenant", "beta")
	mustTrawl(t, data, "collect", "--once")
	var days []string
	for d := start.Truncate(24 * time.Hour); !d.After(time.Now()); d = d.Add(24 * time.Hour) {
		days = append(days, d.Format("2006-01-02"))
	}
	cmd, s := startServeCmd(t, data)
	defer cmd.Process.Kill()
	catalogURL := s.base + "/iceberg"
	probeNS := []string{"acme", "beta", "nosuch"}

	for _, tenant := range []string{"acme", "beta"} {
		other := map[string]string{"acme": "beta", "beta": "acme"}[tenant]
		got := rd.readREST(t, catalogURL, s.token(tenant), probeNS, [][2]string{{tenant, "aws_events"}, {other, "aws_events"}, {tenant, "traffic"}})
		if string(got.Namespaces) != `["`+tenant+`"]` || string(got.Tables[tenant]) != `["aws_events"]` ||
			string(got.Namespace[tenant].Exists) != "true" || string(got.Namespace[tenant].Metadata) != `{"properties":{}}` {
			t.Errorf("%s's token: namespaces %s, its tables %s, its namespace %s (exists %s)", tenant, got.Namespaces, got.Tables[tenant], got.Namespace[tenant].Metadata, got.Namespace[tenant].Exists)
		}
		for _, ns := range []string{other, "nosuch"} {
			if !strings.Contains(string(got.Namespace[ns].Metadata), `"status":404`) || string(got.Namespace[ns].Exists) != "false" ||
				!strings.Contains(string(got.Tables[ns]), `"status":404`) {
				t.Errorf("%s's token, namespace %s: %+v, tables %s; want 404", tenant, ns, got.Namespace[ns], got.Tables[ns])
			}
		}
		if l := got.Load[other+".aws_events"]; l.Status != 404 || string(l.Exists) != "false" || l.Location != "" {
			t.Errorf("%s's token loads %s.aws_events: %+v; want 404", tenant, other, l)
		}
		if l := got.Load[tenant+".traffic"]; l.Status != 404 || l.Type != "NoSuchTableException" {
			t.Errorf("%s's token loads its traffic table, which has no snapshot: %+v; want 404", tenant, l)
		}
		if got.Create.Status != 405 {
			t.Errorf("%s's token creates a namespace: %+v; want 405", tenant, got.Create)
		}
		checkLoaded(t, rd, data, tenant, days, got)
	}

	got := rd.readREST(t, catalogURL, s.root, probeNS, [][2]string{{"acme", "aws_events"}, {"beta", "aws_events"}})
	if string(got.Namespaces) != `["acme","beta"]` || string(got.Namespace["nosuch"].Exists) != "false" {
		t.Errorf("root: namespaces %s, nosuch %+v", got.Namespaces, got.Namespace["nosuch"])
	}
	checkLoaded(t, rd, data, "acme", days, got)
	checkLoaded(t, rd, data, "beta", days, got)
	checkJDBCRows(t, data, got)

	bad := rd.readREST(t, catalogURL, "trawl_not_a_token", nil, [][2]string{{"acme", "aws_events"}})
	if string(bad.Namespaces) != `{"status":401,"type":"NotAuthorizedException","code":401}` || bad.Load["acme.aws_events"].Status != 401 {
		t.Errorf("a bad token: namespaces %s, load %+v; want 401", bad.Namespaces, bad.Load["acme.aws_events"])
	}
	checkRESTErrors(t, s)
}

// checkLoaded checks a tenant's aws_events table as rest.mjs loaded it.
func checkLoaded(t *testing.T, rd *icebergReader, data, tenant string, days []string, got restRead) {
	t.Helper()
	l := got.Load[tenant+".aws_events"]
	dir := rd.lakeURI + "index=aws_events/tenant=" + tenant + "/"
	if !strings.HasPrefix(l.Location, dir+"metadata/v") || !strings.HasSuffix(l.Location, ".metadata.json") || !l.LocationHoldsMetadata {
		t.Errorf("%s.aws_events: metadata location %q (holds the metadata returned: %v)", tenant, l.Location, l.LocationHoldsMetadata)
	}
	if len(l.Files) == 0 || len(l.Config) != 0 {
		t.Errorf("%s.aws_events: %d data files, config %v", tenant, len(l.Files), l.Config)
	}
	for i, f := range l.Files {
		_, err := os.Stat(filepath.Join(data, "lake", filepath.FromSlash(strings.TrimPrefix(f, rd.lakeURI))))
		if !strings.HasPrefix(f, dir) || !strings.HasSuffix(f, ".parquet") || err != nil || l.PartitionTenants[i] != tenant {
			t.Errorf("%s.aws_events holds %s (partition tenant %q, on disk: %v)", tenant, f, l.PartitionTenants[i], err)
		}
	}
	want := searchDays(t, data, tenant, days)
	if fmt.Sprint(l.Days) != fmt.Sprint(want) || l.Rows != l.Distinct || l.Rows == 0 {
		t.Errorf("%s.aws_events through the REST catalog: icebird read %d rows (%d distinct ids) %v; trawl search counts %v", tenant, l.Rows, l.Distinct, l.Days, want)
	}
	t.Logf("%s.aws_events through the REST catalog: %s, %d data files, icebird %d rows = %d distinct ids, per day %v = trawl search",
		tenant, strings.TrimPrefix(l.Location, rd.lakeURI), len(l.Files), l.Rows, l.Distinct, l.Days)
}

// checkJDBCRows: with a PostgreSQL catalog, the JDBC catalog's rows name
// the metadata files the REST catalog loads.
func checkJDBCRows(t *testing.T, data string, got restRead) {
	t.Helper()
	url := catalogOf(t, data)
	if url == "" {
		return
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tenant := range []string{"acme", "beta"} {
		var loc, typ string
		err := db.QueryRow(`SELECT metadata_location, iceberg_type FROM iceberg.iceberg_tables
 WHERE catalog_name = 'trawl' AND table_namespace = $1 AND table_name = 'aws_events'`, tenant).Scan(&loc, &typ)
		if want := got.Load[tenant+".aws_events"].Location; err != nil || loc != want || typ != "TABLE" {
			t.Errorf("JDBC catalog row of %s.aws_events: %q %q %v; the REST catalog loads %q", tenant, loc, typ, err, want)
		}
	}
	t.Logf("the JDBC catalog's rows name the metadata files the REST catalog loads")
}

// checkRESTErrors: errors are the spec's IcebergErrorResponse, writes
// are 405 naming the methods allowed, and the config declares the
// endpoints served.
func checkRESTErrors(t *testing.T, s *served) {
	t.Helper()
	code, body := s.call(s.token("acme"), "GET", "/iceberg/v1/namespaces/beta/tables/aws_events", nil)
	e, _ := body["error"].(map[string]any)
	if code != 404 || e["type"] != "NoSuchNamespaceException" || e["code"] != float64(404) || e["message"] == "" {
		t.Errorf("another tenant's table: %d %v", code, body)
	}
	// A nested namespace (the spec joins levels with 0x1F) is no tenant:
	// 404, never a 500 (the outside try found a 500).
	for _, path := range []string{"/iceberg/v1/namespaces/acme%1Fbeta", "/iceberg/v1/namespaces/acme%1Fbeta/tables", "/iceberg/v1/namespaces/%1F/tables/aws_events"} {
		code, body := s.call(s.root, "GET", path, nil)
		if e, _ := body["error"].(map[string]any); code != 404 || e["type"] != "NoSuchNamespaceException" {
			t.Errorf("%s: %d %v", path, code, body)
		}
	}
	code, body = s.call("bad", "GET", "/iceberg/v1/config", nil)
	if e, _ := body["error"].(map[string]any); code != 401 || e["type"] != "NotAuthorizedException" {
		t.Errorf("a bad token: %d %v", code, body)
	}
	for _, m := range []string{"POST /iceberg/v1/namespaces", "DELETE /iceberg/v1/namespaces/acme/tables/aws_events", "POST /iceberg/v1/namespaces/acme/tables/aws_events"} {
		method, path, _ := strings.Cut(m, " ")
		code, body = s.call(s.root, method, path, map[string]any{})
		if e, _ := body["error"].(map[string]any); code != 405 || e["type"] != "UnsupportedOperationException" {
			t.Errorf("%s: %d %v", m, code, body)
		}
	}
	code, body = s.call(s.root, "GET", "/iceberg/v1/config", nil)
	eps, _ := body["endpoints"].([]any)
	if code != 200 || !slices.Contains(eps, any("GET /v1/{prefix}/namespaces/{namespace}/tables/{table}")) {
		t.Errorf("config: %d %v", code, body)
	}
}
