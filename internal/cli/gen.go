package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/gen"
)

// demoConnectors are the demo's three connectors, one per sub type, each
// reading a bucket folder under src.
func demoConnectors(src string) []connector.Connector {
	start := time.Now().Add(-30 * 24 * time.Hour)
	return []connector.Connector{
		{Name: "demo-cloudtrail", Tenant: "demo", SubType: connector.CloudTrail, Bucket: "demo-cloudtrail-logs",
			Prefix: "AWSLogs/o-demo123456", Endpoint: "file://" + src, Start: start},
		{Name: "demo-vpcflow", Tenant: "demo", SubType: connector.VPCFlow, Bucket: "demo-vpcflow-logs",
			Prefix: "AWSLogs/111122223333/vpcflowlogs", Endpoint: "file://" + src, Start: start},
		{Name: "demo-waf", Tenant: "demo", SubType: connector.WAF, Bucket: "demo-waf-logs",
			Prefix: "AWSLogs/111122223333/WAFLogs", Endpoint: "file://" + src, Start: start},
	}
}

// writeDemoBuckets writes, over the last day: two accounts of an
// organization trail with attack-looking sequences and digest files, VPC
// flow logs with rejected scans, and WAF logs with blocked injections.
func writeDemoBuckets(root string, now time.Time) (int, error) {
	spec := gen.CloudTrailSpec{Seed: 42, OrgID: "o-demo123456", Accounts: []string{"111122223333", "444455556666"},
		Regions: []string{"us-east-1", "eu-west-1"}, Start: now.Add(-23 * time.Hour), Span: 22 * time.Hour,
		Objects: 48, RecordsPerObj: 60, Attacks: true}
	n, err := writeObjects(root, "demo-cloudtrail-logs", gen.CloudTrail(spec))
	if err != nil {
		return 0, err
	}
	var digests []gen.Object
	for _, a := range spec.Accounts {
		for _, r := range spec.Regions {
			digests = append(digests, gen.Digest("", spec.OrgID, a, r, spec.Start))
		}
	}
	if _, err := writeObjects(root, "demo-cloudtrail-logs", digests); err != nil {
		return 0, err
	}
	var flows, wafs []gen.Object
	for _, f := range gen.VPCFlow(gen.FlowSpec{Seed: 42, Account: "111122223333", Region: "us-east-1", Start: spec.Start, Span: spec.Span, Objects: 96, RecordsPerObj: 100}) {
		flows = append(flows, f.Object)
	}
	for _, w := range gen.WAF(gen.WAFSpec{Seed: 42, Account: "111122223333", Region: "us-east-1", WebACL: "shop-acl", Start: spec.Start, Span: spec.Span, Objects: 48, RecordsPerObj: 50}) {
		wafs = append(wafs, w.Object)
	}
	for bucket, objs := range map[string][]gen.Object{"demo-vpcflow-logs": flows, "demo-waf-logs": wafs} {
		m, err := writeObjects(root, bucket, objs)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

func writeObjects(root, bucket string, objs []gen.Object) (int, error) {
	n := 0
	for _, o := range objs {
		p := filepath.Join(root, bucket, filepath.FromSlash(o.Key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return 0, err
		}
		if err := os.WriteFile(p, o.Body, 0o644); err != nil {
			return 0, err
		}
		n += o.Records
	}
	return n, nil
}

func cmdGen(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 || args[0] != "cloudtrail" {
		return usageErr("gen cloudtrail --out DIR [--bucket B] [--accounts A,B] [--regions R,S] [--objects N] [--records N] [--seed N]")
	}
	fs := newFlags(g, "gen cloudtrail")
	out := fs.String("out", "", "folder to write <bucket>/<key> into")
	bucket := fs.String("bucket", "trail-bucket", "bucket folder name")
	accounts := fs.String("accounts", "111122223333", "comma-separated account IDs")
	regions := fs.String("regions", "us-east-1", "comma-separated regions")
	objects := fs.Int("objects", 10, "objects per account and region")
	records := fs.Int("records", 100, "records per object")
	seed := fs.Uint64("seed", 1, "seed")
	org := fs.String("org", "", "organization ID, e.g. o-abc123defg")
	if _, err := parse(g, fs, args[1:]); err != nil {
		return err
	}
	if *out == "" {
		return usageErr("gen: --out is required")
	}
	spec := gen.CloudTrailSpec{Seed: *seed, OrgID: *org, Accounts: strings.Split(*accounts, ","), Regions: strings.Split(*regions, ","),
		Start: time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour), Span: 23 * time.Hour, Objects: *objects, RecordsPerObj: *records, Attacks: true}
	n := 0
	for _, o := range gen.CloudTrail(spec) {
		p := filepath.Join(*out, *bucket, filepath.FromSlash(o.Key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, o.Body, 0o644); err != nil {
			return err
		}
		n += o.Records
	}
	fmt.Fprintf(g.stdout, "wrote %d records\n", n)
	return nil
}
