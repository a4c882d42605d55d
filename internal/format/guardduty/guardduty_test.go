package guardduty

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trawlhq/trawl/internal/format/formattest"
	"github.com/trawlhq/trawl/internal/interflow"
)

func decode(t testing.TB, r io.Reader) formattest.Result {
	t.Helper()
	res, err := formattest.Run(r, interflow.Events(), Class, "paas", func(r io.Reader) formattest.Decoder { return NewDecoder(r) })
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func file(t *testing.T, name string) formattest.Result {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, bytes.NewReader(b))
}

// The testdata, and where each file comes from:
//
//   - aws_cli_example.jsonl: the finding of AWS's documented example of
//     `aws guardduty get-findings` (aws/aws-cli,
//     awscli/examples/guardduty/get-findings.rst at commit
//     e5582e004eccda845643a55f40b71141c27b99fe, Apache-2.0; the AWS CLI
//     Command Reference shows it), values verbatim, the member names as
//     GuardDuty writes them in exports and on the wire: the CLI prints
//     the API's members in PascalCase (AccountId), the API (GuardDuty API
//     Reference, "Finding") and the S3 export name them in camelCase
//     (accountId). Written on one line, as the export writes a finding.
//   - aws_samples.jsonl: AWS's three sample finding events of
//     aws-samples/amazon-guardduty-automated-response-sample (events/
//     guardduty_ec2_event.json, guardduty_iam_event.json,
//     guardduty_s3_event.json at commit
//     5a8051035c4dbe3f1ae81a8b2406b026eedec51a, MIT-0): findings as
//     GuardDuty's CreateSampleFindings makes them ("GeneratedFinding..."
//     values, sample true), verbatim but each on one line. They show
//     what real exports hold beside the documented members: launchTime
//     as epoch milliseconds, asn as a number and as a string, null
//     values, instanceDetails beside accessKeyDetails.
//   - constructed.jsonl: findings written for these tests from the API
//     Reference's shapes (PortProbeAction, NetworkConnectionAction,
//     DnsRequestAction, KubernetesApiCallAction, EksClusterDetails), with
//     documentation addresses (RFC 5737, RFC 3849): a port probe and the
//     same finding exported again later, inbound and outbound connections
//     (the outbound one to an IPv6 address), a DNS request, a Kubernetes
//     API call on an EKS cluster, a Critical attack sequence, and a
//     severity written as a string.
//   - bad_lines.jsonl: one good finding, then lines each damaged one way,
//     then another good finding.

// TestGolden: every input decodes to its golden (go test -update rewrites
// them), gzip or not.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.jsonl")
	if len(files) < 4 {
		t.Fatalf("testdata missing")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, _ := os.ReadFile(f)
			res := decode(t, bytes.NewReader(b))
			formattest.Golden(t, strings.TrimSuffix(f, ".jsonl")+".golden", res)
			if res2 := decode(t, bytes.NewReader(gz(b))); len(res2.Records) != len(res.Records) || len(res2.RecordErrors) != len(res.RecordErrors) {
				t.Error("gzip and text decode differently")
			}
		})
	}
}

// check compares the fields of a record with want (nil: absent).
func check(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g := got[k]
		if l, ok := w.([]string); ok {
			gl, _ := g.([]string)
			if strings.Join(gl, ",") != strings.Join(l, ",") {
				t.Errorf("%s: %s = %v, want %v", what, k, g, w)
			}
			continue
		}
		if g != w {
			t.Errorf("%s: %s = %v (%T), want %v (%T)", what, k, g, g, w, w)
		}
	}
}

// TestAWSCLIExample checks every field of AWS's documented finding.
func TestAWSCLIExample(t *testing.T) {
	res := file(t, "aws_cli_example.jsonl")
	if len(res.Records) != 1 || len(res.RecordErrors) != 0 {
		t.Fatalf("%d records, errors %v", len(res.Records), res.RecordErrors)
	}
	check(t, "the CLI example", res.Records[0], map[string]any{
		"msg_class": Class, "msg_origin.category": "paas", "index": "aws_events",
		"timestamp": "2020-05-26T22:55:21.703Z", "finding.created_at": "2020-05-26T22:21:48.385Z",
		"finding.first_seen": "2020-05-26T22:02:24Z", "finding.last_seen": "2020-05-26T22:33:55Z",
		"finding.id": "1ab92989eaf0e742df4a014d5example", "finding.type": "Recon:IAMUser/UserPermissions",
		"finding.severity": 5.0, "finding.severity_label": "Medium",
		"finding.title":       "Unusual user permission reconnaissance activity by testuser.",
		"finding.description": "APIs commonly used to discover the users, groups, policies and permissions in an account, was invoked by IAM principal testuser under unusual circumstances. Such activity is not typically seen from this principal.",
		"cloud.account_id":    "111122223333", "cloud.region": "us-east-1", "cloud.partition": "aws", "event_version": "2.0",
		"resource.type": "AccessKey", "user.name": "testuser", "user.type": "IAMUser", "user.access_key_id": "ASIASZ4SI7REEEXAMPLE",
		"finding.count": int64(5), "finding.archived": false, "finding.resource_role": "TARGET", "finding.action_type": "AWS_API_CALL",
		"event_name": "ListPolicyVersions", "event_source": "iam.amazonaws.com", "srcip": "52.94.36.7", "finding.remote_ip": "52.94.36.7",
		"finding.remote_country": "United Kingdom", "finding.remote_org": "Amazon.com",
		"finding.sample": nil, "dstip": nil, "error_code": nil, "instance_id": nil,
	})
}

// TestAWSSamples checks AWS's sample findings: a network connection from
// an instance, API calls against an access key and an S3 bucket.
func TestAWSSamples(t *testing.T) {
	res := file(t, "aws_samples.jsonl")
	if len(res.Records) != 3 || len(res.RecordErrors) != 0 {
		t.Fatalf("%d records, errors %v", len(res.Records), res.RecordErrors)
	}
	check(t, "EC2", res.Records[0], map[string]any{
		"finding.type": "Canary:EC2/Stateless.IntegTest", "finding.severity": 5.0, "finding.severity_label": "Medium",
		"timestamp": "2017-10-31T23:16:23.824Z", "resource.type": "Instance", "instance_id": "i-05746eb48123455e0", "vpc_id": "vpc-34865123",
		"finding.action_type": "NETWORK_CONNECTION", "finding.connection_direction": "OUTBOUND", "finding.protocol": "TCP", "finding.blocked": false,
		"finding.remote_ip": "0.0.0.0", "finding.remote_port": int64(22), "finding.local_port": int64(2000), "finding.local_ip": nil,
		"finding.remote_country": "United States", "finding.remote_org": "GeneratedFindingORG",
		// OUTBOUND: the instance is the source; it names no local address.
		"srcip": nil, "srcport": int64(2000), "dstip": "0.0.0.0", "dstport": int64(22), "finding.count": int64(1), "finding.sample": nil,
	})
	check(t, "IAM", res.Records[1], map[string]any{
		"finding.type": "Recon:IAMUser/MaliciousIPCaller.Custom", "resource.type": "AccessKey", "user.name": "GeneratedFindingUserName",
		"user.access_key_id": "GeneratedFindingAccessKeyId", "instance_id": "i-99999999", "vpc_id": "GeneratedFindingVPCId",
		"event_name": "GeneratedFindingAPIName", "event_source": "GeneratedFindingAPIServiceName", "error_code": "AccessDenied",
		"srcip": "198.51.100.0", "finding.sample": true, "finding.archived": true, "timestamp": "2022-01-13T00:00:47.427Z",
	})
	check(t, "S3", res.Records[2], map[string]any{
		"finding.type": "PenTest:S3/ParrotLinux", "resource.type": "S3Bucket", "resource.s3_buckets": []string{"bucketName"},
		"srcip": "198.51.100.0", "finding.sample": true, "finding.title": "API GeneratedFindingAPIName was invoked from a remote host potentially running Parrot Security Linux.",
	})
}

// TestConstructed checks each action's fields: who is the source and the
// destination, the DNS domain, the Kubernetes call, and that the same
// finding exported twice is two records, told apart by their times and
// counts.
func TestConstructed(t *testing.T) {
	res := file(t, "constructed.jsonl")
	if len(res.Records) != 7 || len(res.RecordErrors) != 0 {
		t.Fatalf("%d records, errors %v", len(res.Records), res.RecordErrors)
	}
	r := res.Records
	check(t, "port probe", r[0], map[string]any{
		"finding.action_type": "PORT_PROBE", "finding.severity": 2.0, "finding.severity_label": "Low", "srcip": "198.51.100.7",
		"dstip": "10.0.0.23", "dstport": int64(22), "finding.local_port": int64(22), "finding.remote_ip": "198.51.100.7", "finding.blocked": false,
		"instance_id": "i-0a1b2c3d4e5f67890", "vpc_id": "vpc-0a1b2c3d4e5f67890", "finding.count": int64(3), "timestamp": "2024-05-01T10:05:12.345Z",
	})
	check(t, "the port probe exported again", r[1], map[string]any{
		"finding.id": r[0]["finding.id"], "finding.count": int64(7), "timestamp": "2024-05-01T16:05:00Z",
		"finding.created_at": r[0]["finding.created_at"], "finding.last_seen": "2024-05-01T15:59:30Z",
	})
	if r[0]["id"] == r[1]["id"] {
		t.Error("two exports of one finding share a record id")
	}
	check(t, "inbound", r[2], map[string]any{
		"finding.severity": 2.0, "finding.connection_direction": "INBOUND", "srcip": "203.0.113.50", "srcport": int64(43512),
		"dstip": "10.0.0.23", "dstport": int64(22), "finding.remote_port": int64(43512), "finding.local_port": int64(22),
	})
	check(t, "outbound", r[3], map[string]any{
		"finding.severity": 8.0, "finding.severity_label": "High", "finding.resource_role": "ACTOR", "finding.connection_direction": "OUTBOUND",
		"srcip": "10.0.0.23", "srcport": int64(49152), "dstip": "2001:db8::10", "dstport": int64(443), "finding.remote_ip": "2001:db8::10",
		"finding.remote_org": "C2 Hosting", "finding.type": "Backdoor:EC2/C&CActivity.B",
	})
	check(t, "DNS", r[4], map[string]any{
		"finding.action_type": "DNS_REQUEST", "dns.question.name": "pool.minexample.com", "finding.protocol": "UDP", "finding.blocked": false,
		"finding.type": "CryptoCurrency:EC2/BitcoinTool.B!DNS", "srcip": nil,
	})
	check(t, "Kubernetes", r[5], map[string]any{
		"resource.type": "EKSCluster", "resource.eks_cluster": "prod-cluster", "vpc_id": "vpc-0eks1234567890abc",
		"user.name": "system:serviceaccount:default:builder", "finding.action_type": "KUBERNETES_API_CALL",
		"http.uri": "/api/v1/namespaces/default/pods", "http.response_code": int64(201), "user_agent": "kubectl/v1.29.0 (linux/amd64) kubernetes/abcdef0",
		"srcip": "198.51.100.77",
	})
	check(t, "attack sequence", r[6], map[string]any{
		"finding.severity": 9.2, "finding.severity_label": "Critical", "user.name": "alice", "event_name": "DeleteTrail",
		"event_source": "cloudtrail.amazonaws.com", "error_code": "AccessDenied", "user_agent": "aws-cli/2.15.0", "srcip": "192.0.2.66",
	})
}

// TestBadLines: each damaged line is quarantined alone, with a reason
// naming the field, and the findings around them are read.
func TestBadLines(t *testing.T) {
	res := file(t, "bad_lines.jsonl")
	if len(res.Records) != 2 || res.ObjectError != "" {
		t.Fatalf("%d records, object error %q", len(res.Records), res.ObjectError)
	}
	want := []string{"not valid JSON", "not a JSON object", "id is missing", "the AWS CLI's output form", "type is missing", "severity is missing",
		`severity "high" is not a number`, "severity 11 is outside", "updatedAt is missing", `updatedAt "yesterday" is not an RFC 3339 time`,
		`createdAt "2024-13-45T10:00:00Z" is not an RFC 3339 time`, `service.eventFirstSeen "1714557600" is not an RFC 3339 time`, "not valid JSON"}
	if len(res.RecordErrors) != len(want) {
		t.Fatalf("%d record errors, want %d: %v", len(res.RecordErrors), len(want), res.RecordErrors)
	}
	for i, w := range want {
		if !strings.Contains(res.RecordErrors[i].Reason, w) {
			t.Errorf("error %d (position %d): %q, want it to say %q", i, res.RecordErrors[i].Position, res.RecordErrors[i].Reason, w)
		}
	}
}

// TestTruncatedGzip: an object cut short keeps the findings before the
// cut and quarantines the rest as an object error.
func TestTruncatedGzip(t *testing.T) {
	b, _ := os.ReadFile("testdata/constructed.jsonl")
	z := gz(bytes.Repeat(b, 40))
	res := decode(t, bytes.NewReader(z[:len(z)/2]))
	if !strings.Contains(res.ObjectError, "truncated gzip stream") {
		t.Fatalf("object error %q", res.ObjectError)
	}
	if len(res.Records) == 0 || len(res.Records) >= 280 || len(res.RecordErrors) != 0 {
		t.Errorf("%d records before the cut, %d record errors", len(res.Records), len(res.RecordErrors))
	}
	formattest.Golden(t, "testdata/truncated_gzip.golden", struct {
		Records     int    `json:"records"`
		Errors      int    `json:"record_errors"`
		ObjectError string `json:"object_error"`
	}{len(res.Records), len(res.RecordErrors), res.ObjectError})
}

// TestTruncatedLine: an object whose last line is cut (no line end, the
// JSON unfinished) quarantines that line alone.
func TestTruncatedLine(t *testing.T) {
	b, _ := os.ReadFile("testdata/constructed.jsonl")
	res := decode(t, bytes.NewReader(b[:len(b)-40]))
	if len(res.Records) != 6 || len(res.RecordErrors) != 1 || res.RecordErrors[0].Position != 6 || !strings.Contains(res.RecordErrors[0].Reason, "not valid JSON") {
		t.Errorf("%d records, errors %v: want 6 and the last line quarantined", len(res.Records), res.RecordErrors)
	}
}

// TestLongLine: a line longer than MaxLine is quarantined alone, not
// buffered, and the next finding is read.
func TestLongLine(t *testing.T) {
	good := `{"id":"x1","type":"Recon:EC2/Portscan","severity":5,"updatedAt":"2024-05-01T10:00:00Z"}` + "\n"
	long := `{"id":"x2","type":"Recon:EC2/Portscan","severity":5,"updatedAt":"2024-05-01T10:00:00Z","description":"` + strings.Repeat("y", MaxLine) + `"}` + "\n"
	res := decode(t, strings.NewReader(good+long+good))
	if len(res.Records) != 2 || len(res.RecordErrors) != 1 || !strings.Contains(res.RecordErrors[0].Reason, "longer than 1024 KiB") {
		t.Errorf("%d records, errors %v", len(res.Records), res.RecordErrors)
	}
}

// TestSeverityLabel: AWS's ranges, at their edges.
func TestSeverityLabel(t *testing.T) {
	for s, want := range map[float64]string{0: "Low", 0.1: "Low", 1: "Low", 3.9: "Low", 3.99: "Low", 4: "Medium", 6.9: "Medium", 7: "High", 8.9: "High", 9: "Critical", 10: "Critical"} {
		if got := SeverityLabel(s); got != want {
			t.Errorf("SeverityLabel(%v) = %s, want %s", s, got, want)
		}
	}
}

func TestSkipReason(t *testing.T) {
	if SkipReason("AWSLogs/123456789012/GuardDuty/us-east-1/2024/05/01/") == "" {
		t.Error("a folder marker is read")
	}
	if r := SkipReason("AWSLogs/123456789012/GuardDuty/us-east-1/2024/05/01/4bd5d7a1-6a3c-3b8e-9c2b-0f4e5d6c7b8a.jsonl.gz"); r != "" {
		t.Errorf("an export object is skipped: %s", r)
	}
}
