package api

import (
	"fmt"
	"strings"
	"testing"
)

// TestRetentionSetByRoot: a retention root set for a tenant (the whole
// tenant, or one of its indexes) is root's: the tenant's token can
// neither inherit it away nor change it (403, saying root set it and who
// can change it) and cannot lengthen it through an index setting; the
// tenant still sets and inherits the indexes root did not set; root
// changes and removes any setting, and a setting root changes becomes
// root's. Every setting says who set it (set_by).
func TestRetentionSetByRoot(t *testing.T) {
	s := newTestServer(t)
	acme, beta := s.token("acme"), s.token("beta")
	put := func(tok string, body map[string]string) (int, map[string]any) {
		t.Helper()
		return s.call(tok, "PUT", "/api/v1/retention", body)
	}
	settings := func(tok string) string {
		t.Helper()
		code, body := s.call(tok, "GET", "/api/v1/retention", nil)
		if code != 200 {
			t.Fatalf("GET retention: %d %v", code, body)
		}
		return fmt.Sprint(body["settings"])
	}
	forbidden := func(step string, code int, body map[string]any, target string) {
		t.Helper()
		e, _ := body["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if code != 403 || !strings.Contains(msg, target+" was set by root") || !strings.Contains(msg, "root (the Trawl administrator) can") {
			t.Errorf("%s: %d %v; want 403 saying root set %s and root can change it", step, code, body, target)
		}
	}

	if code, body := put(s.root, map[string]string{"tenant": "acme", "retention": "5d"}); code != 200 {
		t.Fatalf("root sets acme's retention: %d %v", code, body)
	} else if !strings.Contains(fmt.Sprint(body["settings"]), "set_by:root") {
		t.Errorf("root's setting does not say root set it: %v", body)
	}
	code, body := put(acme, map[string]string{"retention": "inherit"})
	forbidden("acme inherits root's setting away", code, body, "acme")
	code, body = put(acme, map[string]string{"retention": "3d"})
	forbidden("acme shortens root's setting", code, body, "acme")
	code, body = put(acme, map[string]string{"tenant": "acme", "retention": "forever"})
	forbidden("acme lengthens root's setting", code, body, "acme")
	if got := settings(acme); got != "[map[days:5 retention:5d set_by:root tenant:acme]]" {
		t.Fatalf("after acme's refused changes: %s", got)
	}

	// An index root did not set is the tenant's, within root's 5d.
	if code, body := put(acme, map[string]string{"index": "traffic", "retention": "3d"}); code != 200 {
		t.Errorf("acme sets its traffic retention: %d %v", code, body)
	}
	if code, body := put(acme, map[string]string{"index": "aws_events", "retention": "10d"}); code != 400 || !strings.Contains(fmt.Sprint(body), "5d root set for acme") {
		t.Errorf("acme sets aws_events longer than root's 5d for acme: %d %v", code, body)
	}
	if got := settings(acme); !strings.Contains(got, "index:traffic retention:3d set_by:tenant") {
		t.Errorf("acme's traffic setting: %s", got)
	}
	if code, body := put(acme, map[string]string{"index": "traffic", "retention": "inherit"}); code != 200 || strings.Contains(fmt.Sprint(body["settings"]), "traffic") {
		t.Errorf("acme inherits its own traffic setting: %d %v", code, body)
	}

	// Root's index setting is root's too; root removes its own.
	if code, body := put(s.root, map[string]string{"tenant": "acme", "index": "aws_events", "retention": "2d"}); code != 200 {
		t.Fatalf("root sets acme/aws_events: %d %v", code, body)
	}
	code, body = put(acme, map[string]string{"index": "aws_events", "retention": "1d"})
	forbidden("acme changes root's aws_events setting", code, body, "acme/aws_events")
	code, body = put(acme, map[string]string{"index": "aws_events", "retention": "inherit"})
	forbidden("acme inherits root's aws_events setting away", code, body, "acme/aws_events")
	if code, body := put(s.root, map[string]string{"tenant": "acme", "index": "aws_events", "retention": "inherit"}); code != 200 || strings.Contains(fmt.Sprint(body["settings"]), "aws_events") {
		t.Errorf("root inherits its acme/aws_events setting away: %d %v", code, body)
	}

	// A tenant's own setting stays its own until root changes it.
	if code, body := put(beta, map[string]string{"retention": "4d"}); code != 200 || !strings.Contains(fmt.Sprint(body["settings"]), "set_by:tenant") {
		t.Errorf("beta sets its retention: %d %v", code, body)
	}
	if code, body := put(beta, map[string]string{"retention": "3d"}); code != 200 {
		t.Errorf("beta changes its own retention: %d %v", code, body)
	}
	if code, body := put(s.root, map[string]string{"tenant": "beta", "retention": "6d"}); code != 200 {
		t.Errorf("root changes beta's retention: %d %v", code, body)
	}
	code, body = put(beta, map[string]string{"retention": "inherit"})
	forbidden("beta inherits away what root changed", code, body, "beta")
	if got := settings(s.root); got != "[map[days:5 retention:5d set_by:root tenant:acme] map[days:6 retention:6d set_by:root tenant:beta]]" {
		t.Errorf("root sees %s", got)
	}
}
