package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/audit"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// getCounter is a reverse proxy to an S3 server that counts the GETs of
// each path, to see which objects a run reads.
type getCounter struct {
	mu   sync.Mutex
	gets map[string]int
}

func countGets(t *testing.T, target string) (*getCounter, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	gc := &getCounter{gets: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	px := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			gc.mu.Lock()
			gc.gets[r.URL.Path]++
			gc.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(px.Close)
	return gc, px.URL
}

// of counts the GETs of paths that contain part.
func (g *getCounter) of(part string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for p, c := range g.gets {
		if strings.Contains(p, part) {
			n += c
		}
	}
	return n
}

// fakeLogs are log files a digest lists but the bucket never gets: each
// with its own content, so the digest's hashes are all different (and do
// not compress away).
func fakeLogs(hour time.Time, n int) []gen.Object {
	out := make([]gen.Object, n)
	at := hour.Add(10 * time.Minute)
	for i := range out {
		out[i] = gen.Object{Key: fmt.Sprintf("AWSLogs/%s/CloudTrail/us-east-1/%s/%s_CloudTrail_us-east-1_%sZ_never%05d.json.gz",
			acct, at.Format("2006/01/02"), acct, at.Format("20060102T1504"), i), Body: gz([]byte(fmt.Sprintf(`{"Records":[{"n":%d}]}`, i)))}
	}
	return out
}

// TestDigestAuditBounded: a tenant's bucket holds a valid, signed digest
// listing 3,000 log files and one listing 250 that never arrived. With the
// operator's limits (--digest-max-files 1000 here, and the size limits),
// the large digest's hour is unverifiable with a reason naming the digest
// and the limit, and later runs do not read it again; the 250 missing keys
// are stored and answered as 100 and a count of the rest; the audit API
// answers bounded pages that the CLI follows.
func TestDigestAuditBounded(t *testing.T) {
	srv := s3server.Start(t)
	data := t.TempDir()
	hour0 := time.Now().UTC().Add(-6 * time.Hour).Truncate(time.Hour)
	logs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 21, Accounts: []string{acct}, Regions: []string{"us-east-1"}, Start: hour0,
		Span: 4 * time.Hour, Objects: 8, RecordsPerObj: 3})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	missingHour, bigHour := hour0.Add(time.Hour), hour0.Add(2*time.Hour)
	listed := append(append(append([]gen.Object{}, logs...), fakeLogs(missingHour, 250)...), fakeLogs(bigHour, 3000)...)
	digests, err := gen.SignedDigests("bounded", listed, key)
	if err != nil {
		t.Fatal(err)
	}
	var bigKey, firstKey string
	for _, d := range digests {
		if strings.Contains(d.Key, bigHour.Add(time.Hour).Format("20060102T150405Z")) {
			bigKey = d.Key
		}
		if strings.Contains(d.Key, hour0.Add(time.Hour).Format("20060102T150405Z")) {
			firstKey = d.Key
		}
	}
	if bigKey == "" || firstKey == "" {
		t.Fatalf("no digest for hour %s or %s among %d", bigHour, hour0, len(digests))
	}
	// The first hour's folder also holds 12 more digests of that hour
	// (copies under other trail names): more than any hour has.
	for i := range 12 {
		digests = append(digests, gen.Object{Key: strings.Replace(firstKey, "_trawl-gen_", fmt.Sprintf("_planted%02d_", i), 1), Body: digests[0].Body})
	}
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	os.WriteFile(keysFile, audit.KeysJSON(map[string]*rsa.PublicKey{gen.Fingerprint(&key.PublicKey): &key.PublicKey}, hour0.Add(-24*time.Hour), hour0.Add(48*time.Hour)), 0o600)
	bucket(t, srv, "bounded", append(append([]gen.Object{}, logs...), digests...))
	gets, endpoint := countGets(t, srv.Endpoint)
	addConnector(t, srv, data, "trail", "bounded", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, data, "connector", "edit", "trail", "--endpoint", endpoint)
	limits := []string{"--public-keys", keysFile, "--digest-max-files", "1000"}

	// The first run audits after collecting: it reads the large digest
	// once, up to the limit, and concludes.
	mustTrawl(t, data, append([]string{"collect", "--once"}, limits...)...)
	if n := gets.of(bigKey); n != 1 {
		t.Fatalf("the first run read the large digest %d times, want once", n)
	}
	if n := gets.of("_planted"); n != 0 {
		t.Errorf("the first run read %d of the 13 digests of one hour, want none", n)
	}
	// Later runs do not read it again (the hour before it, with files
	// missing, is audited again each run, so the period includes it).
	mustTrawl(t, data, append([]string{"collect", "--once"}, limits...)...)
	mustTrawl(t, data, append([]string{"collect", "--once"}, limits...)...)
	if n := gets.of(bigKey); n != 1 {
		t.Errorf("three runs read the large digest %d times: a digest over the limits is read again at every run", n)
	}

	rows, code := auditJSON(t, data, nil, append([]string{"--from", "-24h"}, limits...)...)
	if code != 1 {
		t.Errorf("audit exit %d with 250 files missing, want 1", code)
	}
	byHour := map[time.Time]auditRow{}
	for _, r := range rows {
		byHour[r.Hour] = r
	}
	if r := byHour[bigHour]; r.Status != "unverifiable" || !strings.Contains(r.Reason, bigKey) || !strings.Contains(r.Reason, "more than 1000 log files (--digest-max-files)") {
		t.Errorf("the large digest's hour: %s %q, want unverifiable naming %s and the limit", r.Status, r.Reason, bigKey)
	}
	if r := byHour[bigHour.Add(time.Hour)]; r.Status != "unverifiable" || !strings.Contains(r.Reason, "over the audit's limits") {
		t.Errorf("the hour after it (its chain link): %s %q", r.Status, r.Reason)
	}
	if r := byHour[hour0]; r.Status != "unverifiable" || !strings.Contains(r.Reason, "one of 13 digests that end in the hour") || !strings.Contains(r.Reason, "more than 4") {
		t.Errorf("the hour with 13 digests: %s %q, want unverifiable naming the limit of 4", r.Status, r.Reason)
	}
	if r := byHour[missingHour]; r.Status != "missing" || len(r.Missing) != 100 || r.MissingMore != 150 {
		t.Errorf("the hour with 250 files missing: %s, %d keys and %d more, want missing with 100 keys and 150 more", r.Status, len(r.Missing), r.MissingMore)
	}
	// The size limits, each on its own.
	for _, c := range []struct{ flag, value, says string }{
		{"--digest-max-decompressed", "200000", "larger than 200000 bytes uncompressed (--digest-max-decompressed)"},
		{"--digest-max-size", "40000", "larger than 40000 bytes compressed (--digest-max-size)"},
	} {
		rows, _ := auditJSON(t, data, nil, "--from", "-24h", "--public-keys", keysFile, c.flag, c.value)
		found := false
		for _, r := range rows {
			if r.Hour.Equal(bigHour) {
				found = r.Status == "unverifiable" && strings.Contains(r.Reason, bigKey) && strings.Contains(r.Reason, c.says)
				if !found {
					t.Errorf("%s %s: the large digest's hour is %s %q, want unverifiable saying %q", c.flag, c.value, r.Status, r.Reason, c.says)
				}
			}
		}
		if !found && !t.Failed() {
			t.Errorf("%s %s: no result for the large digest's hour", c.flag, c.value)
		}
	}

	// Through the API: pages of a bounded size, which the CLI follows.
	s := serveAPI(t, data, append([]string{"--no-schedule"}, limits...)...)
	id := connectorID(t, data, "trail")
	get := func(q string) (int, map[string]any, int) {
		req, _ := http.NewRequest("GET", s.base+"/api/v1/connectors/"+id+"/audit?"+q, nil)
		req.Header.Set("Authorization", "Bearer "+s.root)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(raw, &m)
		return resp.StatusCode, m, len(raw)
	}
	code, whole, size := get("from=-24h")
	if all, _ := whole["results"].([]any); code != 200 || len(all) != len(rows) || size > 64<<10 {
		t.Errorf("GET audit: %d, %d results (want %d), %d bytes (want at most 64 KB)", code, len(all), len(rows), size)
	}
	var paged []any
	cursor := ""
	for n := 0; n < 20; n++ {
		q := "from=-24h&limit=2"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		code, page, _ := get(q)
		res, _ := page["results"].([]any)
		if code != 200 || len(res) > 2 {
			t.Fatalf("page %d: %d %v", n, code, page)
		}
		paged = append(paged, res...)
		if cursor, _ = page["next"].(string); cursor == "" {
			break
		}
	}
	if len(paged) != len(rows) {
		t.Errorf("pages of 2 gave %d results, want %d", len(paged), len(rows))
	}
	for _, q := range []string{"limit=0", "limit=5000", "cursor=garbage"} {
		if code, r, _ := get("from=-24h&" + q); code != 400 {
			t.Errorf("%s: %d %v, want 400", q, code, r)
		}
	}
	// The CLI through the server follows the pages of a POST (the audit
	// run again there, with the server's limits).
	through, _ := auditJSON(t, data, nil, "--from", "-24h")
	if len(through) != len(rows) {
		t.Errorf("trawl audit through the server: %d hours, want %d", len(through), len(rows))
	}
}
