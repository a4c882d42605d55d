package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/gen"
	s3src "github.com/trawlhq/trawl/internal/source/s3"
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

// cmdGen writes a ground-truth bucket: CloudTrail, VPC flow and WAF
// objects laid out as AWS writes them (optionally with the bad cases Trawl
// must quarantine) into a folder or an S3 bucket, and a manifest of exactly
// what was written. The same seed always writes the same bytes.
func cmdGen(ctx context.Context, g *globals, args []string) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		args = args[1:] // "trawl gen cloudtrail ..." from earlier versions
	}
	fs := newFlags(g, "gen")
	out := fs.String("out", "", "folder to write <bucket>/<key> into")
	endpoint := fs.String("endpoint", "", "S3 endpoint to upload to instead (path-style)")
	akid := fs.String("access-key-id", "", "access key ID for --endpoint")
	secretFile := fs.String("secret-access-key-file", "", "file holding the secret access key for --endpoint")
	bucket := fs.String("bucket", "trawl-gen", "bucket")
	account := fs.String("account", "111122223333", "account ID")
	region := fs.String("region", "us-east-1", "region")
	objects := fs.Int("objects", 10, "objects per sub type")
	records := fs.Int("records", 100, "records per object")
	pad := fs.Int("pad", 0, "extra bytes per CloudTrail record")
	seed := fs.Uint64("seed", 1, "seed")
	bad := fs.Bool("bad", false, "add a corrupt object, a truncated one and a bad line")
	manifest := fs.String("manifest", "", "write the manifest (JSON) here (default: stdout)")
	if _, err := parse(g, fs, args); err != nil {
		return err
	}
	if (*out == "") == (*endpoint == "") {
		return usageErr("gen: give --out DIR or --endpoint URL")
	}
	now := time.Now().UTC()
	// Records follow their object's time one second apart: start early
	// enough that every record lies in the past.
	start := now.Add(-2*time.Hour - time.Duration(*records)*time.Second)
	objs, m := gen.Mixed(gen.MixedSpec{Seed: *seed, Account: *account, Region: *region, Start: start, Span: 90 * time.Minute,
		Objects: *objects, RecordsPerObj: *records, PadBytes: *pad, Bad: *bad})
	if *out != "" {
		if _, err := writeObjects(*out, *bucket, objs); err != nil {
			return err
		}
	} else {
		secret, err := os.ReadFile(*secretFile)
		if err != nil {
			return fmt.Errorf("gen: read --secret-access-key-file: %w", err)
		}
		b, err := s3src.New(ctx, s3src.Config{Bucket: *bucket, Endpoint: *endpoint, PathStyle: true, AccessKeyID: *akid, SecretAccessKey: strings.TrimSpace(string(secret))})
		if err != nil {
			return err
		}
		if err := b.CreateBucket(ctx); err != nil {
			return err
		}
		for _, o := range objs {
			if err := b.Put(ctx, o.Key, bytes.NewReader(o.Body), int64(len(o.Body))); err != nil {
				return err
			}
		}
	}
	enc, _ := json.MarshalIndent(m, "", "  ")
	if *manifest != "" {
		return os.WriteFile(*manifest, append(enc, '\n'), 0o644)
	}
	_, err := fmt.Fprintln(g.stdout, string(enc))
	return err
}
