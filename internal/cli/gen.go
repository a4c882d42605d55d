package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/audit"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/source/local"
	s3src "github.com/trawlhq/trawl/internal/source/s3"
)

// demoConnectors are the demo's connectors, one per sub type, each
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
		{Name: "demo-dns", Tenant: "demo", SubType: connector.R53Resolver, Bucket: "demo-dns-logs",
			Prefix: "AWSLogs/111122223333/vpcdnsquerylogs", Endpoint: "file://" + src, Start: start},
		{Name: "demo-alb", Tenant: "demo", SubType: connector.ALB, Bucket: "demo-alb-logs",
			Prefix: "AWSLogs/111122223333/elasticloadbalancing", Endpoint: "file://" + src, Start: start},
		{Name: "demo-s3access", Tenant: "demo", SubType: connector.S3Access, Bucket: "demo-s3access-logs",
			Prefix: "s3-access-logs", Endpoint: "file://" + src, Start: start},
		{Name: "demo-guardduty", Tenant: "demo", SubType: connector.GuardDuty, Bucket: "demo-guardduty-findings",
			Prefix: "AWSLogs/111122223333/GuardDuty", Endpoint: "file://" + src, Start: start},
	}
}

// demoKeysFile holds the public key of the demo's signed digests, in the
// shape aws cloudtrail list-public-keys prints.
const demoKeysFile = "cloudtrail-public-keys.json"

// writeDemoBuckets writes, over the last day: two accounts of an
// organization trail with attack-looking sequences and signed digest
// files (the key in demoKeysFile), VPC flow logs with rejected scans (two
// of them port scans the built-in rule counts), WAF logs with blocked
// injections (two of them bursts the built-in rule counts), Route 53
// Resolver query logs with blocked queries, Application Load Balancer
// access logs with two content scans the built-in rule counts, S3 server
// access logs (flat, named by time) with two key probes the built-in rule
// counts, and GuardDuty findings with two High ones the built-in rule
// raises.
func writeDemoBuckets(root string, now time.Time) (int, error) {
	// On the hour, every demo lays its records out alike within the
	// five-minute windows the rules count in: a demo started at 10:02 and
	// one at 10:04 raise the same alerts (from now to the minute, an attack
	// sequence straddled a window's end in one and not in the other).
	now = now.UTC().Truncate(time.Hour)
	spec := gen.CloudTrailSpec{Seed: 42, OrgID: "o-demo123456", Accounts: []string{"111122223333", "444455556666"},
		Regions: []string{"us-east-1", "eu-west-1"}, Start: now.Add(-23 * time.Hour), Span: 22 * time.Hour,
		Objects: 48, RecordsPerObj: 60, Attacks: true}
	logs := gen.CloudTrail(spec)
	n, err := writeObjects(root, "demo-cloudtrail-logs", logs)
	if err != nil {
		return 0, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0, err
	}
	digests, err := gen.SignedDigests("demo-cloudtrail-logs", logs, key)
	if err != nil {
		return 0, err
	}
	if _, err := writeObjects(root, "demo-cloudtrail-logs", digests); err != nil {
		return 0, err
	}
	keys := map[string]*rsa.PublicKey{gen.Fingerprint(&key.PublicKey): &key.PublicKey}
	if err := os.WriteFile(filepath.Join(root, demoKeysFile), audit.KeysJSON(keys, now.Add(-48*time.Hour), now.Add(365*24*time.Hour)), 0o644); err != nil {
		return 0, err
	}
	var flows, wafs []gen.Object
	for _, f := range gen.VPCFlow(gen.FlowSpec{Seed: 42, Account: "111122223333", Region: "us-east-1", Start: spec.Start, Span: spec.Span, Objects: 96, RecordsPerObj: 100, Scans: 2}) {
		flows = append(flows, f.Object)
	}
	for _, w := range gen.WAF(gen.WAFSpec{Seed: 42, Account: "111122223333", Region: "us-east-1", WebACL: "shop-acl", Start: spec.Start, Span: spec.Span, Objects: 48, RecordsPerObj: 50, Bursts: 2}) {
		wafs = append(wafs, w.Object)
	}
	var dns []gen.Object
	for _, q := range gen.Resolver(gen.ResolverSpec{Seed: 42, Account: "111122223333", Region: "us-east-1", VPC: "vpc-0demo1234567890ab", Start: spec.Start, Span: spec.Span, Objects: 48, RecordsPerObj: 50, Blocks: 2}) {
		dns = append(dns, q.Object)
	}
	var albs []gen.Object
	for _, a := range gen.ALB(gen.ALBSpec{Seed: 42, Account: "111122223333", Region: "us-east-1", LB: "shop", Start: spec.Start, Span: spec.Span, Objects: 48, RecordsPerObj: 50, Scans: 2}) {
		albs = append(albs, a.Object)
	}
	var s3logs []gen.Object
	for _, a := range gen.S3Access(gen.S3AccessSpec{Seed: 42, Account: "111122223333", Region: "us-east-1", Bucket: "shop-assets", Prefix: "s3-access-logs/",
		Start: spec.Start, Span: spec.Span, Objects: 48, RecordsPerObj: 50, Probes: 2}) {
		s3logs = append(s3logs, a.Object)
	}
	var findings []gen.Object
	for _, g := range gen.GuardDuty(gen.GuardDutySpec{Seed: 42, Account: "111122223333", Region: "us-east-1", Start: spec.Start, Span: spec.Span, Objects: 24, RecordsPerObj: 10, Highs: 2}) {
		findings = append(findings, g.Object)
	}
	for bucket, objs := range map[string][]gen.Object{"demo-vpcflow-logs": flows, "demo-waf-logs": wafs, "demo-dns-logs": dns, "demo-alb-logs": albs,
		"demo-s3access-logs": s3logs, "demo-guardduty-findings": findings} {
		m, err := writeObjects(root, bucket, objs)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// signedDigests signs digests of objs with a new key, and writes its
// public key to keysOut.
func signedDigests(bucket string, objs []gen.Object, keysOut string, now time.Time) ([]gen.Object, string, error) {
	if keysOut == "" {
		return nil, "", usageErr("gen: --digests needs --public-keys-out FILE (the audit verifies with that key)")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, "", err
	}
	ds, err := gen.SignedDigests(bucket, objs, key)
	if err != nil {
		return nil, "", err
	}
	fp := gen.Fingerprint(&key.PublicKey)
	keys := map[string]*rsa.PublicKey{fp: &key.PublicKey}
	if err := os.WriteFile(keysOut, audit.KeysJSON(keys, now.Add(-48*time.Hour), now.Add(365*24*time.Hour)), 0o644); err != nil {
		return nil, "", fmt.Errorf("gen: --public-keys-out: %w", err)
	}
	return ds, fp, nil
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
		if o.Meta != nil {
			// A folder keeps S3 user metadata beside the object.
			meta, _ := json.Marshal(o.Meta)
			if err := os.WriteFile(p+local.MetadataSuffix, meta, 0o644); err != nil {
				return 0, err
			}
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
	digests := fs.Bool("digests", false, "also write signed CloudTrail digests (CloudTrail-Digest/), chained hour to hour")
	keysOut := fs.String("public-keys-out", "", "with --digests: write the signing key's public key here, as aws cloudtrail list-public-keys prints it")
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
	if *digests {
		ds, fp, err := signedDigests(*bucket, objs, *keysOut, now)
		if err != nil {
			return err
		}
		objs = append(objs, ds...)
		m.PublicKeyFingerprint = fp
	}
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
			if err := b.PutWithMetadata(ctx, o.Key, bytes.NewReader(o.Body), int64(len(o.Body)), o.Meta); err != nil {
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
