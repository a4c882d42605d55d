package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestTenantTextCannotDriveTheOperatorsTerminal: a tenant's rule title
// and a logged userName holding terminal escapes (clear screen, set the
// title) and a line break reach the operator's `trawl rules list`,
// `trawl alerts` and `trawl search` as visible escapes, never raw, and
// forge no row; JSON keeps the values exact.
func TestTenantTextCannotDriveTheOperatorsTerminal(t *testing.T) {
	const evil = "T\x1b[2J\x1b]0;PWN\a\nfake-row"
	srv := s3server.Start(t)
	bucket(t, srv, "escapes", nil)
	data := t.TempDir()
	addConnector(t, srv, data, "trail", "escapes", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	s := serveAPI(t, data, "--no-schedule")
	tok := s.token("acme")
	rule := "title: \"" + strings.NewReplacer("\x1b", `\e`, "\a", `\a`, "\n", `\n`).Replace(evil) + "\"\nid: acme-escapes\nlevel: high\n" +
		"logsource: {product: aws, service: cloudtrail}\ndetection:\n  s:\n    eventName: StopLogging\n  condition: s\n"
	if code, r := s.call(tok, "POST", "/api/v1/rules", map[string]any{"tenant": "acme", "yaml": rule}); code != 201 {
		t.Fatalf("the tenant's rule: %d %v", code, r)
	}
	ev := ctEvent("cloudtrail.amazonaws.com", "StopLogging", time.Now())
	ev["userIdentity"] = map[string]any{"type": "IAMUser", "userName": evil, "accountId": acct}
	putEvents(t, srv, "escapes", ev)
	mustTrawl(t, data, "collect", "--once", "trail")
	mustTrawl(t, data, "alerts", "--evaluate")
	outs := map[string]string{
		"rules list": mustTrawl(t, data, "rules", "list", "--tenant", "acme"),
		"alerts":     mustTrawl(t, data, "alerts", "--since", "-1h"),
		"search":     mustTrawl(t, data, "search", "--from", "-1h", "event_name:StopLogging"),
	}
	for cmd, out := range outs {
		if strings.ContainsAny(out, "\x1b\a") || strings.Contains(out, "\nfake-row") {
			t.Errorf("trawl %s printed the tenant's text raw:\n%q", cmd, out)
		}
		if !strings.Contains(out, `\x1b[2J`) {
			t.Errorf("trawl %s does not show the escape as text:\n%q", cmd, out)
		}
	}
	if js := mustTrawl(t, data, "search", "--from", "-1h", "--format", "json", "event_name:StopLogging"); !strings.Contains(js, `\u001b[2J`) {
		t.Errorf("JSON does not keep the value exactly: %s", js)
	}
}

// TestUnknownIndexAndDigestFlagsThroughAServer: an unknown index is the
// caller's mistake (400 naming the field, not a 500 logged as the
// server's), and the digest audit's limits, a server's settings, are
// refused when given to a command that runs through a server.
func TestUnknownIndexAndDigestFlagsThroughAServer(t *testing.T) {
	data := t.TempDir()
	s := serveAPI(t, data, "--no-schedule")
	tok := s.token("acme")
	for _, path := range []string{"/api/v1/search?index=bogus", "/api/v1/count?index=bogus", "/api/v1/histogram?index=bogus", "/api/v1/export?index=bogus&format=ndjson"} {
		code, r := s.call(tok, "GET", path, nil)
		e, _ := r["error"].(map[string]any)
		if code != 400 || e["field"] != "index" || !strings.Contains(fmt.Sprint(e["message"]), "aws_events") {
			t.Errorf("GET %s: %d %v, want 400 naming the index field and the indices", path, code, r)
		}
	}
	if code, r := s.call(tok, "GET", "/api/v1/alerts?tenant=other", nil); code != 404 {
		t.Errorf("a tenant asking for another tenant's alerts: %d %v, want 404 as for its other objects", code, r)
	}
	if code, _ := s.call(tok, "GET", "/api/v1/alerts?tenant=acme", nil); code != 200 {
		t.Errorf("a tenant asking for its own alerts by name: %d", code)
	}
	if r := trawl(t, data, nil, "search", "--index", "bogus", "x"); r.code != 1 || !strings.Contains(r.stderr, `unknown index "bogus"`) {
		t.Errorf("search --index bogus: exit %d %s", r.code, r.stderr)
	}
	if r := trawl(t, data, nil, "audit", "--digest-max-files", "1"); r.code != 2 || !strings.Contains(r.stderr, "--digest-max-files") || !strings.Contains(r.stderr, "trawl serve") {
		t.Errorf("audit --digest-max-files through a server: exit %d %s, want 2 saying it belongs to trawl serve", r.code, r.stderr)
	}
}
