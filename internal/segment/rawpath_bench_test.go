package segment

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
)

// corpus is the shared conformance corpus, beside the project root.
const corpus = "../../../shared/corpus"

// benchRecords are real records of a few KB: the WAF sample of the
// OpenTelemetry tests (2.1 KB, with labels and headers lists) and the
// Stratus Red Team CloudTrail captures (310 records, 0.9 to 5.4 KB).
func benchRecords(b testing.TB) (waf string, trail []string) {
	w, err := os.ReadFile(filepath.Join(corpus, "otel-contrib/extension/encoding/awslogsencodingextension/internal/unmarshaler/waf/testdata/valid_log.json"))
	if err != nil {
		b.Skipf("the shared corpus is not beside the project (%v)", err)
	}
	files, _ := filepath.Glob(filepath.Join(corpus, "stratus-red-team/docs/detonation-logs/*.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		var recs []json.RawMessage
		if json.Unmarshal(data, &recs) != nil {
			continue
		}
		for _, r := range recs {
			var v any
			if json.Unmarshal(r, &v) == nil {
				compact, _ := json.Marshal(v)
				trail = append(trail, string(compact))
			}
		}
	}
	if len(trail) == 0 {
		b.Skip("no CloudTrail captures in the shared corpus")
	}
	return strings.TrimSpace(string(w)), trail
}

// BenchmarkRawPathSQL: what a raw.<path> term costs DuckDB per record, on
// 40,000 real records of each kind, with one thread: paths without a list
// (reached, missing, missing with their last key elsewhere in the
// record), presence, and paths through lists.
func BenchmarkRawPathSQL(b *testing.B) {
	waf, trail := benchRecords(b)
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		b.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{"SET threads = 1", "CREATE TABLE waf (raw VARCHAR)", "CREATE TABLE trail (raw VARCHAR)"} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	const rows = 40000
	fill := func(table string, recs []string) {
		var vals []string
		for i := range rows {
			vals = append(vals, quoteString(recs[i%len(recs)]))
			if len(vals) == 1000 {
				if _, err := db.Exec("INSERT INTO " + table + " VALUES (" + strings.Join(vals, "), (") + ")"); err != nil {
					b.Fatal(err)
				}
				vals = vals[:0]
			}
		}
	}
	fill("waf", []string{waf})
	fill("trail", trail)
	for _, t := range []struct{ name, table, q string }{
		{"waf/reached", "waf", "raw.httpRequest.country:NL"},
		{"waf/reached_fold", "waf", "raw.httpRequest.uri:~*favicon*"},
		{"waf/regex", "waf", "raw.httpRequest.country:/^N/"},
		{"waf/missing", "waf", "raw.httpRequest.cookie:NL"},
		{"waf/missing_key_elsewhere", "waf", "raw.httpRequest.nothing.name:~*host*"},
		{"waf/has_reached", "waf", "raw.httpRequest.host:*"},
		{"waf/has_missing", "waf", "raw.requestParameters.bucketName:*"},
		{"waf/list_labels", "waf", "raw.labels.name:~*country*"},
		{"waf/list_headers", "waf", "raw.httpRequest.headers.value:~*firefox*"},
		{"trail/reached", "trail", "raw.userIdentity.type:~iamuser"},
		{"trail/missing", "trail", "raw.requestParameters.bucketName:~*secret*"},
		{"trail/has_missing", "trail", "raw.additionalEventData.MFAUsed:*"},
		{"trail/list_resources", "trail", "raw.resources.ARN:~*arn*"},
	} {
		ast, err := query.Parse(t.q)
		if err != nil {
			b.Fatal(err)
		}
		e, err := query.Bind(ast, interflow.Events(), base)
		if err != nil {
			b.Fatal(err)
		}
		var cp compiled
		var w strings.Builder
		cp.sql(&w, e, interflow.Events())
		stmt := "SELECT count(*) FROM " + t.table + " WHERE " + w.String()
		b.Run(t.name, func(b *testing.B) {
			var n int64
			cpu0 := cpuTime()
			for range b.N {
				if err := db.QueryRow(stmt, cp.args...).Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time, not only wall time: DuckDB runs on one thread, and
			// other work on the machine inflates wall time, not this.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/rows, "cpu-ns/record")
			b.ReportMetric(float64(n), "matches")
		})
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
