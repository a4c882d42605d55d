package integration

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

// TestHostileTenantZonedAddresses: a tenant token gives the metadata,
// link-local and NAT64 addresses with an IPv6 zone (which once slipped
// past the guard, since no prefix contains a zoned address) as a
// connector's endpoint, proxy and STS endpoint and as its webhook,
// through a running server's HTTP API; every one is refused.
func TestHostileTenantZonedAddresses(t *testing.T) {
	srv := s3server.Start(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.Endpoint, "http://"))
	data := t.TempDir()
	s := serveAPI(t, data, "--no-schedule")
	tok := s.token("evil")
	hosts := []string{"[fd00:ec2::254%25lo]", "[fe80::a9fe:a9fe%25lo]", "[64:ff9b::a9fe:a9fe%25lo]",
		"[::ffff:169.254.169.254%25eth0]", "[fe80::1%25lo]", "[64:ff9b::7f00:1%25lo]", "[::a9fe:a9fe%251]",
		// Found trying the server as a hostile tenant: Azure's and Oracle
		// Cloud's metadata addresses, multicast, Teredo.
		"168.63.129.16", "192.0.0.192", "224.0.0.1", "[ff02::1]", "[2001::a9fe:a9fe]"}
	body := func(name string, over map[string]any) map[string]any {
		b := map[string]any{"name": name, "tenant": "evil", "sub_type": "cloudtrail", "bucket": "zoned-bucket", "prefix": "AWSLogs/" + acct + "/CloudTrail",
			"access_key_id": srv.AccessKey, "secret_access_key": srv.SecretKey, "endpoint": "http://127.0.0.1:" + port, "path_style": true,
			"start": time.Now().Add(-72 * time.Hour).Format(time.RFC3339)}
		for k, v := range over {
			b[k] = v
		}
		return b
	}
	for i, h := range hosts {
		cases := []struct {
			field string
			over  map[string]any
		}{
			{"endpoint", map[string]any{"endpoint": "http://" + h + "/latest/meta-data/"}},
			{"proxy_uri", map[string]any{"proxy_uri": "http://" + h + ":3128"}},
			{"sts_endpoint", map[string]any{"credentials": "role", "role_arn": "arn:aws:iam::123456789012:role/R", "sts_endpoint": "http://" + h + "/"}},
		}
		for j, c := range cases {
			code, r := s.call(tok, "POST", "/api/v1/connectors", body(fmt.Sprintf("zone-%d-%d", i, j), c.over))
			if msg := fmt.Sprint(r); code != 400 || !strings.Contains(msg, c.field) || !strings.Contains(msg, "refused by the network guard") {
				t.Errorf("%s %s: %d %v, want 400 naming %s as refused", c.field, h, code, r, c.field)
			}
		}
		code, r := s.call(tok, "PUT", "/api/v1/webhook", map[string]any{"tenant": "evil", "url": "http://" + h + "/latest/meta-data/"})
		if code != 400 || !strings.Contains(fmt.Sprint(r), "refused by the network guard") {
			t.Errorf("webhook %s: %d %v, want 400 refused", h, code, r)
		}
	}
	// Nothing was saved.
	if _, r := s.call(tok, "GET", "/api/v1/connectors", nil); len(r["connectors"].([]any)) != 0 {
		t.Errorf("connectors with zoned addresses were saved: %v", r)
	}
	if _, r := s.call(tok, "GET", "/api/v1/webhook?tenant=evil", nil); r["url"] != "" && r["url"] != nil {
		t.Errorf("a webhook with a zoned address was saved: %v", r)
	}
	// The guard still lets a zoned loopback address through (it refuses
	// only what it refuses without the zone): the check is not "any zone".
	if code, r := s.call(tok, "POST", "/api/v1/connectors", body("zoned-loopback", map[string]any{"endpoint": "http://[::1%25lo]:" + port})); code != 201 {
		t.Errorf("zoned loopback endpoint: %d %v", code, r)
	}
}
