package awspolicy

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trawlhq/trawl/internal/connector"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGoldens: the policies for every prefix form AWS uses are valid JSON
// and exactly the reviewed files in testdata/.
func TestGoldens(t *testing.T) {
	cases := []struct {
		name string
		c    connector.Connector
		opt  Options
	}{
		{"cloudtrail-account", connector.Connector{SubType: connector.CloudTrail, Bucket: "trail", Prefix: "AWSLogs/123456789012/CloudTrail/us-east-1", Credentials: connector.CredKeys}, Options{}},
		{"cloudtrail-org", connector.Connector{SubType: connector.CloudTrail, Bucket: "org-trail", Prefix: "AWSLogs/o-abc123defg/123456789012/CloudTrail", Credentials: connector.CredKeys}, Options{KMSKeyARN: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
		{"cloudtrail-control-tower", connector.Connector{SubType: connector.CloudTrail, Bucket: "aws-controltower-logs", Prefix: "o-abc123defg/AWSLogs/o-abc123defg/*/CloudTrail", Credentials: connector.CredKeys}, Options{}},
		{"vpcflow-wildcard", connector.Connector{SubType: connector.VPCFlow, Bucket: "flows", Prefix: "AWSLogs/*/vpcflowlogs", Credentials: connector.CredKeys}, Options{}},
		{"waf-date-variables", connector.Connector{SubType: connector.WAF, Bucket: "waf", Prefix: "waf-logs///YYYY/////mm/////dd/////HH/////MM//", Credentials: connector.CredKeys}, Options{}},
		{"custom-one-digit-vars", connector.Connector{SubType: connector.CloudTrail, Bucket: "logs", Prefix: "logs/year=//YYYY///month=//m///day=//d//", Credentials: connector.CredKeys}, Options{}},
		{"whole-bucket", connector.Connector{SubType: connector.CloudTrail, Bucket: "everything", Prefix: "", Credentials: connector.CredKeys}, Options{}},
		{"role", connector.Connector{SubType: connector.CloudTrail, Bucket: "trail", Prefix: "AWSLogs/123456789012/CloudTrail", Credentials: connector.CredRole,
			RoleARN: "arn:aws:iam::123456789012:role/TrawlLogReader", ExternalID: "trawl-0123456789abcdef0123456789abcdef"}, Options{Principal: "arn:aws:iam::111122223333:role/trawl"}},
		{"role-no-principal", connector.Connector{SubType: connector.CloudTrail, Bucket: "trail", Prefix: "AWSLogs/123456789012/CloudTrail", Credentials: connector.CredRole,
			RoleARN: "arn:aws:iam::123456789012:role/TrawlLogReader", ExternalID: "customer-chosen-id"}, Options{}},
		{"r53resolver-wildcard", connector.Connector{SubType: connector.R53Resolver, Bucket: "dns-logs", Prefix: "AWSLogs/*/vpcdnsquerylogs", Credentials: connector.CredKeys}, Options{}},
		// AWS's documented layout, with the optional prefix an ALB's access log setting takes.
		{"alb-prefix", connector.Connector{SubType: connector.ALB, Bucket: "lb-logs", Prefix: "my-app/AWSLogs/123456789012/elasticloadbalancing", Credentials: connector.CredKeys}, Options{}},
		// A server access log target prefix (flat or date-partitioned keys below it).
		{"s3access-target-prefix", connector.Connector{SubType: connector.S3Access, Bucket: "access-logs", Prefix: "s3-access-logs", Credentials: connector.CredKeys}, Options{}},
		// GuardDuty's export layout under the optional "Log file prefix", with
		// the KMS key GuardDuty must encrypt exports with: reading them
		// needs kms:Decrypt on it.
		{"guardduty-kms", connector.Connector{SubType: connector.GuardDuty, Bucket: "security-findings", Prefix: "guardduty/AWSLogs/123456789012/GuardDuty", Credentials: connector.CredKeys},
			Options{KMSKeyARN: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
		// AWS's documented queue URL form; the ARN is AWS's documented one.
		{"queue", connector.Connector{SubType: connector.CloudTrail, Bucket: "trail", Prefix: "AWSLogs/123456789012/CloudTrail", Credentials: connector.CredKeys,
			QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/trawl-cloudtrail"}, Options{QueueKMSKeyARN: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := For(&c.c, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]any
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("not valid JSON: %v", err)
			}
			for _, st := range p.Permissions.Statement {
				lists := [][]string{st.Condition["StringLike"]["s3:prefix"]}
				if r, ok := st.Resource.([]string); ok {
					lists = append(lists, r)
				}
				for _, l := range lists {
					seen := map[string]bool{}
					for _, v := range l {
						if seen[v] {
							t.Errorf("%s lists %s twice", st.Sid, v)
						}
						seen[v] = true
					}
				}
			}
			path := filepath.Join("testdata", c.name+".json")
			if *update {
				os.WriteFile(path, append(got, '\n'), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if strings.TrimSpace(string(want)) != string(got) {
				t.Errorf("policy differs from %s:\n%s", path, got)
			}
		})
	}
}

// TestRecommendationNamesStatement: the advice for each denied operation
// carries that statement, as the generator writes it.
func TestRecommendationNamesStatement(t *testing.T) {
	c := connector.Connector{SubType: connector.CloudTrail, Bucket: "b", Prefix: "AWSLogs/123456789012/CloudTrail", Credentials: connector.CredKeys}
	p, err := For(&c, Options{KMSKeyARN: "arn:aws:kms:us-east-1:123456789012:key/k"})
	if err != nil {
		t.Fatal(err)
	}
	for op, want := range map[string]string{"list": `"s3:ListBucket"`, "read": `"s3:GetObject"`, "decrypt": `"kms:Decrypt"`} {
		r := p.Recommendation(op)
		if !strings.Contains(r, want) || !strings.Contains(r, `"Sid":"Trawl`) {
			t.Errorf("%s: %s", op, r)
		}
	}
	if !strings.Contains(p.Recommendation("decrypt"), "arn:aws:kms:us-east-1:123456789012:key/k") {
		t.Error("kms advice does not name the key")
	}
}

// TestCheckPrincipal: a wildcard principal would let any AWS account
// assume the role, so it is refused; ARNs and account IDs pass.
func TestCheckPrincipal(t *testing.T) {
	for _, p := range []string{"*", " * ", "arn:aws:iam::*:root", "arn:aws:iam::111122223333:role/*", "arn:aws:iam::11112222333?:root", "anyone", "arn:aws:s3:::bucket"} {
		if err := CheckPrincipal(p); err == nil {
			t.Errorf("principal %q accepted", p)
		}
	}
	for _, p := range []string{"", "111122223333", "arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:role/trawl", "arn:aws-us-gov:iam::111122223333:user/path/trawl", "arn:aws:sts::111122223333:assumed-role/r/s"} {
		if err := CheckPrincipal(p); err != nil {
			t.Errorf("principal %q refused: %v", p, err)
		}
	}
}
