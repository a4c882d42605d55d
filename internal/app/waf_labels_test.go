package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/gen"
)

// TestWAFRuleOnLabelNameAlerts: a tenant's Sigma rule on WAF's
// labels.name (a list of objects: the path goes through it) raises an
// alert over the records carrying the label, found by the detector's SQL
// at ingest, and a rule on a label no record carries raises none. Before
// paths went through lists the rule was accepted and never fired.
func TestWAFRuleOnLabelNameAlerts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-48 * time.Hour)
	src := t.TempDir()
	// 14 requests a second apart: the 1st and the 8th are blocked as SQL
	// injection and labelled so; the others have "labels":null.
	obj := gen.WAF(gen.WAFSpec{Seed: 3, Account: "123456789012", Region: "us-east-1", WebACL: "shop", Start: day.Add(10 * time.Hour), Span: time.Minute, Objects: 1, RecordsPerObj: 14})[0]
	if obj.Matches != 2 {
		t.Fatalf("the generated object has %d SQL injection records, want 2", obj.Matches)
	}
	p := filepath.Join(src, "waf", filepath.FromSlash(obj.Key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, obj.Body, 0o644); err != nil {
		t.Fatal(err)
	}
	clk := &fixedClock{t: day.Add(10*time.Hour + 30*time.Minute)}
	a, err := Open(ctx, Options{DataDir: t.TempDir(), MasterKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	root := RootScope("test")
	for id, label := range map[string]string{"acme-waf-sqli": "SQLi_QueryArguments", "acme-waf-xss": "CrossSiteScripting"} {
		rule := "title: WAF label " + label + "\nid: " + id + "\nlevel: high\nlogsource: {product: aws, service: waf}\n" +
			"detection:\n  sel:\n    labels.name|contains: '" + label + "'\n  condition: sel\n"
		if _, err := a.AddRule(ctx, root, "acme", []byte(rule)); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	c, err := a.CreateConnector(ctx, root, connector.Connector{Name: "waf", Tenant: "acme", SubType: connector.WAF, FileType: connector.FileGzip,
		Bucket: "waf", Prefix: "AWSLogs/123456789012/WAFLogs", Endpoint: "file://" + src, Start: day})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := a.RunConnector(ctx, root, c.ID, collect.Options{}); err != nil || res.Stats.Records != 14 {
		t.Fatalf("collect: %+v %v, want 14 records", res, err)
	}
	if _, err := a.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	var n int64
	as, err := a.Alerts(ctx, root, AlertFilter{RuleID: "acme-waf-sqli", Since: day})
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range as {
		n += al.Count
	}
	if len(as) == 0 || n != 2 {
		t.Errorf("the labels.name rule raised %d alerts over %d records, want alerts over the 2 labelled records", len(as), n)
	}
	if xss, err := a.Alerts(ctx, root, AlertFilter{RuleID: "acme-waf-xss", Since: day}); err != nil || len(xss) != 0 {
		t.Errorf("a rule on a label no record carries raised %d alerts (%v)", len(xss), err)
	}
}
