package integration

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestRetentionDropsOldestDay: with records on three days (today and the
// two before) and trawl serve --retention 2d, the oldest day's records
// leave trawl search, the table's current snapshot (icebird, a delete
// snapshot) and, once the snapshot before it expires, the disk; the other
// days are intact, and /metrics names the oldest day kept.
func TestRetentionDropsOldestDay(t *testing.T) {
	t.Setenv("TRAWL_MAINTAIN_EVERY", "300ms")
	t.Setenv("TRAWL_SNAPSHOT_RETENTION", "2s")
	data := t.TempDir()
	lake := filepath.Join(data, "lake")
	srv := s3server.Start(t)
	bucket(t, srv, "kept", nil)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	var days []string
	var recs []map[string]any
	want := map[string]int{}
	for back, n := range []int{4, 2, 3} { // today, -1d, -2d
		day := today.AddDate(0, 0, -back)
		days = append(days, day.Format(time.DateOnly))
		want[day.Format(time.DateOnly)] = n
		for i := range n {
			recs = append(recs, ctEvent("iam.amazonaws.com", fmt.Sprintf("Get%d", back*10+i), day.Add(time.Duration(i+1)*time.Second)))
		}
	}
	oldest := days[2]
	putEvents(t, srv, "kept", recs...)

	// Stopped below, or by the cleanup if the test ends first (a skip or
	// a failure): a serve left running holds the test binary's output open.
	stop := sync.OnceFunc(startServe(t, data))
	t.Cleanup(stop)
	addConnector(t, srv, data, "trail", "kept", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, data, "collect", "--once", "trail")
	if got := searchDays(t, data, "acme", days); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("before retention, trawl search counts %v, want %v", got, want)
	}
	rd := newIcebergReader(t, lake)
	waitFor(t, 30*time.Second, "the snapshot of the three days", func() bool {
		got, err := rd.read(t, "acme")
		return err == nil && fmt.Sprint(got["acme"].Days) == fmt.Sprint(want)
	})
	dayDir := filepath.Join(lake, "index=aws_events", "tenant=acme", "day="+oldest)
	if files, _ := filepath.Glob(filepath.Join(dayDir, "*.parquet")); len(files) == 0 {
		t.Fatalf("before retention: no segment in %s", dayDir)
	}
	t.Logf("before: search and icebird count %v", want)
	stop()

	t.Cleanup(startServe(t, data, "--retention", "2d"))
	delete(want, oldest)
	waitFor(t, 30*time.Second, "the oldest day dropped from search", func() bool {
		return fmt.Sprint(searchDays(t, data, "acme", days)) == fmt.Sprint(want)
	})
	waitFor(t, 30*time.Second, "the delete snapshot", func() bool {
		got, err := rd.read(t, "acme")
		return err == nil && fmt.Sprint(got["acme"].Days) == fmt.Sprint(want)
	})
	got, _ := rd.read(t, "acme")
	if ops := got["acme"].Operations; len(ops) == 0 || ops[len(ops)-1] != "delete" || got["acme"].Rows != 6 {
		t.Fatalf("after retention, icebird reads %d rows, snapshots %v", got["acme"].Rows, ops)
	}
	waitFor(t, 30*time.Second, "the dropped day's files deleted after expiry", func() bool {
		files, _ := filepath.Glob(filepath.Join(dayDir, "*.parquet"))
		return len(files) == 0
	})
	for _, d := range days[:2] {
		if files, _ := filepath.Glob(filepath.Join(lake, "index=aws_events", "tenant=acme", "day="+d, "*.parquet")); len(files) == 0 {
			t.Fatalf("day %s kept no file", d)
		}
	}
	t.Logf("after: search and icebird count %v, snapshots %v, no file left in %s", want, got["acme"].Operations, dayDir)

	if out := mustTrawl(t, data, "retention", "show"); !strings.Contains(out, "(default)") || !strings.Contains(out, "2d") {
		t.Fatalf("trawl retention show: %s", out)
	}
	s := servedAt(t, data)
	req, _ := http.NewRequest("GET", s.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	line := fmt.Sprintf(`trawl_oldest_day_kept{tenant="acme"} %d`, today.AddDate(0, 0, -1).Unix())
	if !strings.Contains(string(body), line) {
		t.Fatalf("/metrics lacks %s", line)
	}
}

// TestRetentionAPIScope: a tenant's token sets only its own retention,
// and a request that names a tenant in the URL is refused before anything
// is stored (it used to store the body's change, then answer 404 for the
// URL's tenant); root cannot set a retention for a tenant that does not
// exist (ACME for acme applied to nothing).
func TestRetentionAPIScope(t *testing.T) {
	data := t.TempDir()
	acme := strings.TrimSpace(mustTrawl(t, data, "token", "create", "--tenant", "acme", "--name", "a"))
	beta := strings.TrimSpace(mustTrawl(t, data, "token", "create", "--tenant", "beta", "--name", "b"))
	t.Cleanup(startServe(t, data))
	s := servedAt(t, data)
	settings := func(tok string) string {
		t.Helper()
		code, body := s.call(tok, "GET", "/api/v1/retention", nil)
		if code != 200 {
			t.Fatalf("GET retention: %d %v", code, body)
		}
		return fmt.Sprint(body["settings"])
	}
	if code, body := s.call(beta, "PUT", "/api/v1/retention?tenant=acme", map[string]string{"retention": "2d"}); code != 400 {
		t.Errorf("beta's PUT with ?tenant=acme: %d %v", code, body)
	}
	if got := settings(s.root); got != "[]" {
		t.Fatalf("a refused PUT stored %s", got)
	}
	if code, body := s.call(beta, "PUT", "/api/v1/retention", map[string]string{"tenant": "acme", "retention": "2d"}); code != 404 {
		t.Errorf("beta setting acme's retention: %d %v", code, body)
	}
	if code, body := s.call(beta, "PUT", "/api/v1/retention", map[string]string{"retention": "2d"}); code != 200 || !strings.Contains(fmt.Sprint(body["settings"]), "tenant:beta") {
		t.Errorf("beta setting its own retention: %d %v", code, body)
	}
	if code, body := s.call(s.root, "PUT", "/api/v1/retention", map[string]string{"tenant": "ACME", "retention": "5d"}); code != 400 || !strings.Contains(fmt.Sprint(body), "ACME") {
		t.Errorf("root setting a tenant that does not exist: %d %v", code, body)
	}
	if code, body := s.call(s.root, "PUT", "/api/v1/retention", map[string]string{"tenant": "acme", "retention": "5d"}); code != 200 {
		t.Errorf("root setting acme's retention: %d %v", code, body)
	}
	if got := settings(beta); strings.Contains(got, "acme") || !strings.Contains(got, "tenant:beta") {
		t.Errorf("beta sees %s", got)
	}
	if got := settings(acme); strings.Contains(got, "beta") || !strings.Contains(got, "days:5") {
		t.Errorf("acme sees %s", got)
	}
}
