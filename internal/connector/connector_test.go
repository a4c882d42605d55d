package connector

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func valid() Connector {
	c := Connector{Name: "prod-trail", Tenant: "acme", SubType: CloudTrail, Bucket: "acme-cloudtrail-logs",
		Prefix: "AWSLogs/123456789012/CloudTrail/us-east-1", AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
		SecretAccessKey: NewSecret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")}
	c.ApplyDefaults(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), "node-1")
	return c
}

func problems(t *testing.T, c Connector) map[string]string {
	t.Helper()
	err := c.Validate()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("not a ValidationError: %v", err)
	}
	m := map[string]string{}
	for _, p := range ve.Problems {
		m[p.Field] = p.Message
	}
	return m
}

func TestValidDefaults(t *testing.T) {
	c := valid()
	if p := problems(t, c); p != nil {
		t.Fatalf("valid connector rejected: %v", p)
	}
	if c.FileType != FileGzip || c.Category != CategoryPaaS || c.Type != TypeCloudTrail || c.Function != FunctionCollect || c.RunOn != "node-1" {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.Interval.D() != 5*time.Minute || !c.Start.Equal(time.Date(2024, 4, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("interval %v start %v", c.Interval.D(), c.Start)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	c := valid()
	c.Name = "prod-trail-é"
	c.Tenant = ""
	c.SubType = "config"
	c.Bucket = "Bad_Bucket"
	c.Prefix = "AWSLogs/123456789012/"
	c.Region = "moon-1"
	c.ProxyURI = "ftp://proxy"
	c.Endpoint = "not a url"
	p := problems(t, c)
	for _, f := range []string{"name", "tenant", "sub_type", "bucket", "prefix", "region", "proxy_uri", "endpoint"} {
		if p[f] == "" {
			t.Errorf("no problem reported for %s; got %v", f, p)
		}
	}
}

func TestFileTypeBySubType(t *testing.T) {
	for _, tc := range []struct {
		st SubType
		ft string
		ok bool
	}{{CloudTrail, "gzip", true}, {CloudTrail, "text", false}, {VPCFlow, "text", false}, {WAF, "text", true}, {WAF, "gzip", true}, {WAF, "zip", false},
		{ALB, "gzip", true}, {ALB, "text", false}, {S3Access, "text", true}, {S3Access, "gzip", true}, {S3Access, "zip", false},
		{GuardDuty, "gzip", true}, {GuardDuty, "text", false}} {
		c := valid()
		c.SubType, c.FileType = tc.st, tc.ft
		c.Prefix = "AWSLogs/123456789012/x"
		_, bad := problems(t, c)["file_type"]
		if bad == tc.ok {
			t.Errorf("%s/%s: ok=%v, problems %v", tc.st, tc.ft, !bad, problems(t, c))
		}
	}
}

func TestWildcardOnlyForCloudTrailAndVPC(t *testing.T) {
	for _, st := range []SubType{CloudTrail, VPCFlow, WAF} {
		c := valid()
		c.SubType = st
		c.Prefix = "AWSLogs/o-abc123defg/*/CloudTrail"
		_, bad := problems(t, c)["prefix"]
		if bad != (st == WAF) {
			t.Errorf("%s with *: rejected=%v", st, bad)
		}
	}
}

func TestBucketNames(t *testing.T) {
	good := []string{"abc", "my.logs-2024", "a1b2c3"}
	bad := []string{"ab", strings.Repeat("a", 64), "My-Bucket", "my_bucket", "-abc", "abc-", "a..b", "192.168.1.1", "xn--abc", "logs-s3alias", "amzn-s3-demo-x"}
	for _, b := range good {
		if m := BucketNameProblem(b); m != "" {
			t.Errorf("%q rejected: %s", b, m)
		}
	}
	for _, b := range bad {
		if BucketNameProblem(b) == "" {
			t.Errorf("%q accepted", b)
		}
	}
}

func TestImmutableGeneralFields(t *testing.T) {
	old := valid()
	upd := old
	upd.Bucket = "other-bucket"
	if err := CheckImmutable(&old, &upd); err != nil {
		t.Fatalf("editing the bucket must be allowed: %v", err)
	}
	upd.Name, upd.Tenant, upd.RunOn = "renamed", "other", "node-2"
	err := CheckImmutable(&old, &upd)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 3 {
		t.Fatalf("want 3 problems, got %v", err)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	c := valid()
	const plain = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	b, _ := json.Marshal(c)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", c, c, c, c.SecretAccessKey), string(b)} {
		if strings.Contains(s, plain) {
			t.Fatalf("secret leaked in %q", s)
		}
	}
	if !strings.Contains(string(b), Masked) {
		t.Error("secret should be shown masked")
	}
	var back Connector
	if err := json.Unmarshal([]byte(`{"secret_access_key":"`+plain+`"}`), &back); err != nil || back.SecretAccessKey.Reveal() != plain {
		t.Errorf("secret must be accepted on input: %v", err)
	}
}

func TestAccessKeyPair(t *testing.T) {
	c := valid()
	c.SecretAccessKey = Secret{}
	if problems(t, c)["secret_access_key"] == "" {
		t.Error("access key without secret must be rejected")
	}
	c = valid()
	c.Endpoint = "file:///srv/exports"
	c.AccessKeyID, c.SecretAccessKey = "", Secret{}
	if p := problems(t, c); p != nil {
		t.Errorf("local folder connector needs no keys: %v", p)
	}
}

// TestRoleCredentials: a role needs a role ARN; keys are optional but
// whole; role fields are refused with other kinds; all problems at once.
func TestRoleCredentials(t *testing.T) {
	base := func() Connector {
		c := Connector{Name: "r", Tenant: "acme", SubType: CloudTrail, Bucket: "logs", Prefix: "AWSLogs/123456789012/CloudTrail",
			RoleARN: "arn:aws:iam::123456789012:role/TrawlLogReader"}
		c.ApplyDefaults(time.Now(), "n1")
		return c
	}
	c := base()
	if c.Credentials != CredRole {
		t.Fatalf("a role ARN defaults the kind to role, got %q", c.Credentials)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("role without keys: %v", err)
	}
	cases := []struct {
		edit  func(*Connector)
		field string
	}{
		{func(c *Connector) { c.RoleARN = "" }, "role_arn"},
		{func(c *Connector) { c.RoleARN = "arn:aws:iam::12345:role/x" }, "role_arn"},
		{func(c *Connector) { c.RoleARN = "arn:aws:s3:::bucket" }, "role_arn"},
		{func(c *Connector) { c.ExternalID = "a b" }, "external_id"},
		{func(c *Connector) { c.ExternalID = strings.Repeat("x", 1225) }, "external_id"},
		{func(c *Connector) { c.AccessKeyID = "AKIAIOSFODNN7EXAMPLE" }, "secret_access_key"},
		{func(c *Connector) { c.SecretAccessKey = NewSecret("s") }, "access_key_id"},
		{func(c *Connector) { c.STSEndpoint = "ftp://sts" }, "sts_endpoint"},
		{func(c *Connector) { c.Credentials = CredAmbient }, "role_arn"},
	}
	for _, tc := range cases {
		c := base()
		tc.edit(&c)
		err := c.Validate()
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("want a problem with %s, got %v", tc.field, err)
		}
	}
}

// TestRunOnAnyNode: "*" (any node of a shared catalog) is a valid run-on
// node; other punctuation is not.
func TestRunOnAnyNode(t *testing.T) {
	c := valid()
	c.RunOn = AnyNode
	if p := problems(t, c); p != nil {
		t.Fatalf("run_on * rejected: %v", p)
	}
	c = valid()
	c.RunOn = "node a"
	if p := problems(t, c); p["run_on"] == "" {
		t.Fatalf("run_on %q accepted", c.RunOn)
	}
}

// TestAccessKeyIDForm: AWS's form (16 to 128 letters, digits or _) without
// an endpoint; an S3-compatible store's own (short, or with -.+@) with one.
func TestAccessKeyIDForm(t *testing.T) {
	for _, tc := range []struct {
		key, endpoint string
		ok            bool
	}{
		{"AKIAIOSFODNN7EXAMPLE", "", true},
		{"minio", "", false},
		{"AKIA-IOSFODNN7EXAMPLE", "", false},
		{"minio", "http://127.0.0.1:9000", true},
		{"ab", "https://s3.example.com", true},
		{"svc.reader@ceph", "https://s3.example.com", true},
		{"has space", "https://s3.example.com", false},
		{"a/b", "https://s3.example.com", false},
		{strings.Repeat("A", 129), "https://s3.example.com", false},
	} {
		c := valid()
		c.AccessKeyID, c.Endpoint = tc.key, tc.endpoint
		err := c.Validate()
		bad := err != nil && strings.Contains(err.Error(), "access_key_id")
		if bad == tc.ok {
			t.Errorf("key %q, endpoint %q: %v (want ok %v)", tc.key, tc.endpoint, err, tc.ok)
		}
	}
}

// TestTenantNames: a tenant is letters, digits, '.', '-' and '_', not
// starting with '.', as its message says (from an outside try: "..", a
// folder's parent and no Iceberg namespace a client can name, was taken,
// while the message said no '.' at all).
func TestTenantNames(t *testing.T) {
	for tenant, ok := range map[string]bool{"acme": true, "acme-eu_1": true, "a.b": true, ".": false, "..": false, ".hidden": false, "a/b": false, "": false} {
		c := valid()
		c.Tenant = tenant
		msg, bad := problems(t, c)["tenant"]
		if bad == ok {
			t.Errorf("tenant %q: problem %q, want accepted %v", tenant, msg, ok)
		}
		if bad && tenant != "" && !strings.Contains(msg, "'.'") {
			t.Errorf("tenant %q: %q does not say what a tenant may hold", tenant, msg)
		}
	}
}

func TestSubTypeChoices(t *testing.T) {
	if got := SubTypeChoices(); got != "cloudtrail, vpcflow, waf, r53resolver, alb, s3access or guardduty" {
		t.Errorf("SubTypeChoices() = %q", got)
	}
	c := valid()
	c.SubType, c.Prefix = ALB, "AWSLogs/123456789012/elasticloadbalancing"
	if p := problems(t, c); len(p) != 0 {
		t.Errorf("an alb connector: %v", p)
	}
}

// TestS3AccessDefaults: an s3access connector's file type defaults to
// text (S3 delivers server access logs uncompressed), the others' to gzip;
// a target prefix, flat or date-partitioned, is a valid prefix.
func TestS3AccessDefaults(t *testing.T) {
	for st, ft := range map[SubType]string{S3Access: FileText, CloudTrail: FileGzip, WAF: FileGzip} {
		c := Connector{SubType: st}
		c.ApplyDefaults(time.Now(), "n")
		if c.FileType != ft {
			t.Errorf("%s: file type %q, want %q", st, c.FileType, ft)
		}
	}
	for _, p := range []string{"s3-access-logs", "", "logs/123456789012/us-east-1/my-bucket", "logs/*"} {
		c := valid()
		c.SubType, c.FileType, c.Prefix = S3Access, FileText, p
		if pr := problems(t, c); len(pr) != 0 {
			t.Errorf("an s3access connector on %q: %v", p, pr)
		}
	}
}
