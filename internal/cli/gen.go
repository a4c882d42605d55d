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

const demoBucket = "demo-cloudtrail-logs"

func demoConnector(src string) connector.Connector {
	return connector.Connector{
		Name: "demo-cloudtrail", Tenant: "demo", SubType: connector.CloudTrail, Bucket: demoBucket,
		Prefix: "AWSLogs/o-demo123456", Endpoint: "file://" + src, FileType: connector.FileGzip,
		Start: time.Now().Add(-30 * 24 * time.Hour),
	}
}

// writeDemoBucket writes two accounts of an organization trail over the last
// 24 hours, with attack-looking sequences, plus digest files.
func writeDemoBucket(root, bucket string, now time.Time) (int, error) {
	spec := gen.CloudTrailSpec{Seed: 42, OrgID: "o-demo123456", Accounts: []string{"111122223333", "444455556666"},
		Regions: []string{"us-east-1", "eu-west-1"}, Start: now.Add(-23 * time.Hour), Span: 22 * time.Hour,
		Objects: 48, RecordsPerObj: 60, Attacks: true}
	objs := gen.CloudTrail(spec)
	for _, a := range spec.Accounts {
		for _, r := range spec.Regions {
			objs = append(objs, gen.Digest("", spec.OrgID, a, r, spec.Start))
		}
	}
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
