package detect

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/source"
)

// decode reads log text with the sub type's real decoder, as collection
// does, into records with their raw text.
func decode(t *testing.T, st connector.SubType, key, text string) []interflow.Values {
	t.Helper()
	f, _ := collect.FormatFor(st)
	d := f.NewDecoder(strings.NewReader(text), source.Object{Key: key, LastModified: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)})
	var out []interflow.Values
	for {
		raw, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		rec := interflow.New(f.Schema)
		if err := d.Normalize(raw, rec); err != nil {
			t.Fatalf("%s: normalize %s: %v", st, raw, err)
		}
		// The decoder's values may point into its buffer, which the next
		// record reuses: keep copies (as collection's batch does).
		kept := interflow.New(f.Schema)
		for i := range f.Schema.Fields {
			if v := rec.Value(i); v != nil {
				kept.Set(i, v)
			}
		}
		kept.Set(interflow.FRaw, string(raw))
		kept.SetString(interflow.FMsgClass, f.Class) // as collection stamps it
		out = append(out, kept)
	}
}

// ct wraps CloudTrail events as a log file.
func ct(events ...string) string { return `{"Records":[` + strings.Join(events, ",") + `]}` }

// ev is a CloudTrail event with the given fields (JSON members) added.
func ev(members string) string {
	// The event's own members come first: of repeated keys the first is read.
	return `{` + members + `,"eventVersion":"1.09","eventTime":"2024-05-01T10:00:00Z","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7",` +
		`"userAgent":"aws-cli/2.15.0","recipientAccountId":"123456789012","eventType":"AwsApiCall"}`
}

const user = `"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","userName":"alice"}`
const root = `"userIdentity":{"type":"Root","arn":"arn:aws:iam::123456789012:root","accountId":"123456789012"}`

func repeat(n int, f func(i int) string) []string {
	var out []string
	for i := range n {
		out = append(out, f(i))
	}
	return out
}

func flows(lines ...string) string {
	return "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n" + strings.Join(lines, "\n") + "\n"
}

func wafLog(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// albRec is an Application Load Balancer access log entry, in AWS's
// field order, of a GET answered status.
func albRec(client string, status, i int) string {
	return fmt.Sprintf(`https 2024-05-01T12:00:%02d.%06dZ app/shop/0123456789abcdef %s:%d 10.0.1.10:8080 0.001 0.002 0.000 %d %d 310 512 "GET https://shop.example.com:443/p%d HTTP/1.1" "Mozilla/5.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef "Root=1-66320000-%024x" "shop.example.com" "-" 1 2024-05-01T12:00:%02d.000000Z "forward" "-" "-" "10.0.1.10:8080" "%d" "-" "-" TID_%016x`,
		i%60, i, client, 40000+i, status, status, i, i, i%60, status, i)
}

const albKey = "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2024/05/01/123456789012_elasticloadbalancing_us-east-1_app.shop.0123456789abcdef_20240501T1205Z_10.0.0.1_abcdefgh.log.gz"

// s3Rec is an S3 server access log record, in AWS's field order, of a
// GET of key p<i> answered status with errCode ("-" for none).
func s3Rec(ip, requester string, status int, errCode string, i int) string {
	return fmt.Sprintf(`79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be shop-assets [01/May/2024:12:00:%02d +0000] %s %s 3E57427F3E%06d REST.GET.OBJECT p%d "GET /p%d HTTP/1.1" %d %s 243 - 9 - "-" "python-requests/2.31.0" - hostid%d= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader shop-assets.s3.us-east-1.amazonaws.com TLSv1.2 - -`,
		i%60, ip, requester, i, i, i, status, errCode, i)
}

const s3Key = "s3-access-logs/2024-05-01-12-05-00-0123456789ABCDEF"

// gdRec is a GuardDuty finding as the export writes it (one line), of a
// type and severity (a JSON number as written: 7, 7.0, 6.9).
func gdRec(typ, severity string, i int) string {
	return fmt.Sprintf(`{"schemaVersion":"2.0","accountId":"123456789012","region":"us-east-1","partition":"aws","id":"f%031x","type":%q,`+
		`"resource":{"resourceType":"Instance","instanceDetails":{"instanceId":"i-0a1b2c3d4e5f67890"}},`+
		`"service":{"serviceName":"guardduty","action":{"actionType":"NETWORK_CONNECTION","networkConnectionAction":{"connectionDirection":"OUTBOUND",`+
		`"remoteIpDetails":{"ipAddressV4":"203.0.113.%d"},"remotePortDetails":{"port":443},"protocol":"TCP","blocked":false}},"resourceRole":"ACTOR","count":1},`+
		`"severity":%s,"createdAt":"2024-05-01T12:00:%02dZ","updatedAt":"2024-05-01T12:00:%02dZ","title":"t","description":"d"}`,
		i, typ, i%250, severity, i%60, i%60)
}

const gdKey = "AWSLogs/123456789012/GuardDuty/us-east-1/2024/05/01/4bd5d7a1-6a3c-4b8e-9c2b-0f4e5d6c7b8a.jsonl.gz"

func wafRec(ip, action, rule string, i int) string {
	return fmt.Sprintf(`{"timestamp":%d,"formatVersion":1,"webaclId":"arn:aws:wafv2:us-east-1:123456789012:regional/webacl/w/1","terminatingRuleId":%q,"terminatingRuleType":"MANAGED_RULE_GROUP","action":%q,"httpSourceName":"ALB","httpSourceId":"alb","httpRequest":{"clientIp":%q,"country":"US","headers":[],"uri":"/q","args":"id=1","httpVersion":"HTTP/1.1","httpMethod":"GET","requestId":"r%d"}}`,
		1714557600000+int64(i)*1000, rule, action, ip, i)
}

// fixture is one built-in rule's positive and negative logs: the positive
// raises (a count rule: a group passes the threshold), the negative not.
type fixture struct {
	st       connector.SubType
	key      string
	pos, neg string
}

var ctKey = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/f.json.gz"

func ctFix(pos, neg string) fixture { return fixture{connector.CloudTrail, ctKey, ct(pos), ct(neg)} }

var fixtures = map[string]fixture{
	"trawl-ct-001": ctFix(ev(root+`,"eventName":"ListBuckets","eventSource":"s3.amazonaws.com"`),
		ev(`"userIdentity":{"type":"Root","accountId":"123456789012"},"eventType":"AwsServiceEvent","eventName":"Heartbeat","eventSource":"x.amazonaws.com"`)),
	"trawl-ct-002": ctFix(ev(user+`,"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","eventType":"AwsConsoleSignIn","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"}`),
		ev(user+`,"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","eventType":"AwsConsoleSignIn","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"}`)),
	"trawl-ct-003": ctFix(ev(user+`,"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"`), ev(user+`,"eventName":"StartLogging","eventSource":"cloudtrail.amazonaws.com"`)),
	"trawl-ct-004": ctFix(ev(user+`,"eventName":"DeleteTrail","eventSource":"cloudtrail.amazonaws.com"`), ev(user+`,"eventName":"DescribeTrails","eventSource":"cloudtrail.amazonaws.com"`)),
	"trawl-ct-005": ctFix(ev(user+`,"eventName":"PutEventSelectors","eventSource":"cloudtrail.amazonaws.com"`), ev(user+`,"eventName":"GetEventSelectors","eventSource":"cloudtrail.amazonaws.com"`)),
	"trawl-ct-006": ctFix(ev(user+`,"eventName":"DeleteDetector","eventSource":"guardduty.amazonaws.com"`), ev(user+`,"eventName":"ListDetectors","eventSource":"guardduty.amazonaws.com"`)),
	"trawl-ct-007": ctFix(ev(user+`,"eventName":"UpdateDetector","eventSource":"guardduty.amazonaws.com","requestParameters":{"detectorId":"d","enable":false}`),
		ev(user+`,"eventName":"UpdateDetector","eventSource":"guardduty.amazonaws.com","requestParameters":{"detectorId":"d","enable":true}`)),
	"trawl-ct-008": ctFix(ev(user+`,"eventName":"StopConfigurationRecorder","eventSource":"config.amazonaws.com"`), ev(user+`,"eventName":"StartConfigurationRecorder","eventSource":"config.amazonaws.com"`)),
	"trawl-ct-009": ctFix(ev(user+`,"eventName":"CreateAccessKey","eventSource":"iam.amazonaws.com","requestParameters":{"userName":"bob"}`),
		ev(user+`,"eventName":"CreateAccessKey","eventSource":"iam.amazonaws.com","requestParameters":{}`)),
	"trawl-ct-010": ctFix(ev(root+`,"eventName":"CreateAccessKey","eventSource":"iam.amazonaws.com"`), ev(user+`,"eventName":"CreateAccessKey","eventSource":"iam.amazonaws.com"`)),
	"trawl-ct-011": ctFix(ev(user+`,"eventName":"PutBucketAcl","eventSource":"s3.amazonaws.com","requestParameters":{"bucketName":"b","x-amz-acl":"public-read"}`),
		ev(user+`,"eventName":"PutBucketAcl","eventSource":"s3.amazonaws.com","requestParameters":{"bucketName":"b","x-amz-acl":"private"}`)),
	"trawl-ct-012": ctFix(ev(user+`,"eventName":"DeleteBucketPublicAccessBlock","eventSource":"s3.amazonaws.com"`), ev(user+`,"eventName":"PutBucketPublicAccessBlock","eventSource":"s3.amazonaws.com"`)),
	"trawl-ct-013": ctFix(ev(user+`,"eventName":"ScheduleKeyDeletion","eventSource":"kms.amazonaws.com"`), ev(user+`,"eventName":"CancelKeyDeletion","eventSource":"kms.amazonaws.com"`)),
	"trawl-ct-014": ctFix(ev(user+`,"eventName":"DisableKey","eventSource":"kms.amazonaws.com"`), ev(user+`,"eventName":"EnableKey","eventSource":"kms.amazonaws.com"`)),
	"trawl-ct-015": {connector.CloudTrail, ctKey,
		ct(repeat(6, func(int) string {
			return ev(`"userIdentity":{"type":"IAMUser","accountId":"123456789012","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"},"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","errorMessage":"Failed authentication","responseElements":{"ConsoleLogin":"Failure"}`)
		})...),
		ct(repeat(5, func(int) string {
			return ev(`"userIdentity":{"type":"IAMUser","accountId":"123456789012"},"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","errorMessage":"Failed authentication"`)
		})...)},
	"trawl-ct-016": ctFix(ev(user+`,"eventName":"AttachRolePolicy","eventSource":"iam.amazonaws.com","requestParameters":{"roleName":"r","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}`),
		ev(user+`,"eventName":"AttachRolePolicy","eventSource":"iam.amazonaws.com","requestParameters":{"roleName":"r","policyArn":"arn:aws:iam::aws:policy/ReadOnlyAccess"}`)),
	"trawl-ct-017": ctFix(ev(user+`,"eventName":"DeleteFlowLogs","eventSource":"ec2.amazonaws.com"`), ev(user+`,"eventName":"CreateFlowLogs","eventSource":"ec2.amazonaws.com"`)),
	"trawl-ct-018": ctFix(ev(user+`,"eventName":"DeleteAccountPasswordPolicy","eventSource":"iam.amazonaws.com"`), ev(user+`,"eventName":"UpdateAccountPasswordPolicy","eventSource":"iam.amazonaws.com"`)),
	"trawl-ct-019": {connector.CloudTrail, ctKey,
		ct(repeat(21, func(i int) string {
			return ev(user + fmt.Sprintf(`,"eventName":"List%d","eventSource":"iam.amazonaws.com","errorCode":"AccessDenied"`, i))
		})...),
		ct(repeat(20, func(i int) string {
			return ev(user + fmt.Sprintf(`,"eventName":"List%d","eventSource":"iam.amazonaws.com","errorCode":"AccessDenied"`, i))
		})...)},
	"trawl-vpc-001": {connector.VPCFlow, "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/01/f.log.gz",
		flows(repeat(20, func(i int) string {
			return fmt.Sprintf("2 123456789012 eni-1 203.0.113.9 10.0.0.5 40000 %d 6 1 40 1714557600 1714557660 REJECT OK", 1000+i)
		})...),
		flows(repeat(20, func(i int) string {
			return fmt.Sprintf("2 123456789012 eni-1 203.0.113.9 10.0.0.5 40000 %d 6 1 40 1714557600 1714557660 REJECT OK", 1000+i%19)
		})...)},
	"trawl-waf-001": {connector.WAF, "AWSLogs/123456789012/WAFLogs/us-east-1/w/2024/05/01/12/00/f.log.gz",
		wafLog(repeat(11, func(i int) string { return wafRec("203.0.113.50", "BLOCK", "AWS-AWSManagedRulesSQLiRuleSet", i) })...),
		wafLog(repeat(11, func(i int) string { return wafRec("203.0.113.50", "BLOCK", "AWS-AWSManagedRulesCommonRuleSet", i) })...)},
	"trawl-dns-001": {connector.R53Resolver, "AWSLogs/123456789012/vpcdnsquerylogs/vpc-0a1b/2024/05/01/f.log.gz",
		`{"version":"1.100000","account_id":"123456789012","region":"us-east-1","vpc_id":"vpc-0a1b","query_timestamp":"2024-05-01T12:00:00Z","query_name":"c2.bad.example.","query_type":"TXT","query_class":"IN","rcode":"NOERROR","srcaddr":"10.0.0.5","srcport":"5353","firewall_rule_group_id":"rslvr-frg-1","firewall_rule_action":"BLOCK"}` + "\n",
		`{"version":"1.100000","account_id":"123456789012","region":"us-east-1","vpc_id":"vpc-0a1b","query_timestamp":"2024-05-01T12:00:00Z","query_name":"example.com.","query_type":"A","query_class":"IN","rcode":"NOERROR","srcaddr":"10.0.0.5","srcport":"5353","firewall_rule_group_id":"rslvr-frg-1","firewall_rule_action":"ALLOW"}` + "\n"},
	// 51 refused or not-found answers to one client raise; 50, beside
	// answers of 200 and 500 and others' 404s, do not.
	"trawl-alb-001": {connector.ALB, albKey,
		wafLog(repeat(51, func(i int) string { return albRec("203.0.113.50", []int{404, 403, 401}[i%3], i) })...),
		wafLog(append(append(repeat(50, func(i int) string { return albRec("203.0.113.50", 404, i) }),
			repeat(20, func(i int) string { return albRec("203.0.113.50", []int{200, 500}[i%2], i) })...),
			repeat(20, func(i int) string { return albRec(fmt.Sprintf("198.51.100.%d", i), 404, i) })...)...)},
	// 21 AccessDenied answers to one address raise; 20, beside its 404s
	// and others' AccessDenied, do not.
	"trawl-s3-001": {connector.S3Access, s3Key,
		wafLog(repeat(21, func(i int) string { return s3Rec("203.0.113.50", "-", 403, "AccessDenied", i) })...),
		wafLog(append(append(repeat(20, func(i int) string { return s3Rec("203.0.113.50", "-", 403, "AccessDenied", i) }),
			repeat(20, func(i int) string { return s3Rec("203.0.113.50", "-", 404, "NoSuchKey", i) })...),
			repeat(20, func(i int) string { return s3Rec(fmt.Sprintf("198.51.100.%d", i), "-", 403, "AccessDenied", i) })...)...)},
	// A High finding at the edge (7, written 7.0) raises; findings just
	// below (6.9) and far below do not.
	"trawl-gd-001": {connector.GuardDuty, gdKey,
		wafLog(gdRec("Recon:EC2/PortProbeUnprotectedPort", "2", 0), gdRec("Backdoor:EC2/C&CActivity.B", "7.0", 1)),
		wafLog(gdRec("Recon:EC2/PortProbeUnprotectedPort", "2", 0), gdRec("UnauthorizedAccess:EC2/TorClient", "6.9", 1), gdRec("Recon:EC2/Portscan", "5", 2))},
}

// TestBuiltinRules: every built-in rule compiles, and raises on its
// positive fixture and not on its negative one, decoded by the real
// decoders; there are about twenty, over every sub type.
func TestBuiltinRules(t *testing.T) {
	rules, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 20 {
		t.Fatalf("%d built-in rules, want about 20", len(rules))
	}
	services := map[string]bool{}
	for _, r := range rules {
		services[r.Logsource.Service] = true
		fx, ok := fixtures[r.ID]
		if !ok {
			t.Errorf("%s (%s) has no fixture", r.ID, r.Title)
			continue
		}
		f, _ := collect.FormatFor(fx.st)
		b, err := r.Bind(f.Schema, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		raises := func(text string) bool {
			recs := decode(t, fx.st, fx.key, text)
			if r.Count != nil {
				return len(b.Groups(recs)) > 0
			}
			for _, v := range recs {
				if b.Match(v) {
					return true
				}
			}
			return false
		}
		if !raises(fx.pos) {
			t.Errorf("%s (%s) does not raise on its positive fixture; hunt: %s", r.ID, r.Title, r.Hunt())
		}
		if raises(fx.neg) {
			t.Errorf("%s (%s) raises on its negative fixture; hunt: %s", r.ID, r.Title, r.Hunt())
		}
	}
	for _, s := range []string{"cloudtrail", "vpcflow", "waf", "route53", "alb", "s3access", "guardduty"} {
		if !services[s] {
			t.Errorf("no built-in rule for %s", s)
		}
	}
}

// TestRuleKeepsToItsService: a rule is about its logsource's records
// only, as Sigma means it. A CloudTrail rule on a field WAF records also
// fill (awsRegion, Interflow's cloud.region) matched the WAF records of
// that region before rules were scoped by msg_class.
func TestRuleKeepsToItsService(t *testing.T) {
	r, err := Parse([]byte("title: Calls in us-east-1\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    awsRegion: us-east-1\n  condition: sel\n"))
	if err != nil {
		t.Fatal(err)
	}
	trail := decode(t, connector.CloudTrail, "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/f.json.gz", ct(ev(`"eventName":"ListBuckets",`+user)))
	waf := decode(t, connector.WAF, "AWSLogs/123456789012/WAFLogs/us-east-1/w/2024/05/01/12/00/f.log.gz", wafLog(wafRec("203.0.113.50", "BLOCK", "AWS-AWSManagedRulesSQLiRuleSet", 0)))
	if v, ok := waf[0].Str(interflow.FRegion); !ok || v != "us-east-1" {
		t.Fatalf("the WAF record's cloud.region is %q (%v): the test needs one in us-east-1", v, ok)
	}
	b, err := r.Bind(interflow.Events(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !b.Match(trail[0]) {
		t.Errorf("the CloudTrail rule does not match a CloudTrail record of its region; hunt %s", r.Hunt())
	}
	if b.Match(waf[0]) {
		t.Errorf("the CloudTrail rule matches a WAF record; hunt %s", r.Hunt())
	}
}

// TestFieldsMapForTheirService: a Sigma field name maps onto an Interflow
// field only for the service whose logs have it: WAF's
// httpRequest.clientIp in a CloudTrail rule is a path of the CloudTrail
// record (it compiled to srcip and matched CloudTrail's sourceIPAddress),
// and a VPC flow rule refuses it.
func TestFieldsMapForTheirService(t *testing.T) {
	rule := func(service string) string {
		return "title: t\nlogsource: {product: aws, service: " + service + "}\ndetection:\n  sel:\n    httpRequest.clientIp: 203.0.113.50\n  condition: sel\n"
	}
	waf, err := Parse([]byte(rule("waf")))
	if err != nil || !strings.Contains(waf.Hunt(), "srcip:") {
		t.Fatalf("the WAF rule: %v, hunt %s", err, waf.Hunt())
	}
	trailRule, err := Parse([]byte(rule("cloudtrail")))
	if err != nil || !strings.Contains(trailRule.Hunt(), "raw.httpRequest.clientIp") || strings.Contains(trailRule.Hunt(), "srcip") {
		t.Fatalf("the CloudTrail rule: %v, hunt %s", err, trailRule.Hunt())
	}
	trail := decode(t, connector.CloudTrail, "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/f.json.gz",
		ct(ev(`"eventName":"ListBuckets","sourceIPAddress":"203.0.113.50",`+user)))
	b, err := trailRule.Bind(interflow.Events(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if b.Match(trail[0]) {
		t.Errorf("the CloudTrail rule on httpRequest.clientIp matches a CloudTrail record by its sourceIPAddress; hunt %s", trailRule.Hunt())
	}
	if _, err := Parse([]byte(rule("vpcflow"))); err == nil {
		t.Error("a VPC flow rule on httpRequest.clientIp was accepted")
	}
}

// TestServicesMapNamesAlike: a name two services have maps onto the same
// Interflow field in both, so a rule without a service (which maps a name
// any service has) means one field whichever service is looked up first.
func TestServicesMapNamesAlike(t *testing.T) {
	seen := map[string]string{}
	for svc, m := range serviceFields {
		for name, f := range m {
			if g, ok := seen[name]; ok && g != f {
				t.Errorf("%s maps %s onto %s, another service onto %s", svc, name, f, g)
			}
			seen[name] = f
		}
	}
}

// wafKey is where WAF delivers a log object.
const wafKey = "AWSLogs/123456789012/WAFLogs/us-east-1/w/2024/05/01/12/00/f.log.gz"

// TestWAFRuleOnLabelName: a WAF rule on labels.name, as SigmaHQ writes
// them, matches a record carrying the label: labels is a list of
// objects, and raw.labels.name reaches each one's name (it matched
// nothing while a path through a list did). A record without labels,
// with null labels or with other labels does not match. The real WAF
// sample of the shared corpus matches a rule on its geo label.
func TestWAFRuleOnLabelName(t *testing.T) {
	rule := func(label string) *Bound {
		t.Helper()
		r, err := Parse([]byte("title: t\nlogsource: {product: aws, service: waf}\ndetection:\n  sel:\n    labels.name|contains: '" + label + "'\n  condition: sel\n"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Hunt(), "raw.labels.name:") {
			t.Fatalf("hunt %s: want raw.labels.name", r.Hunt())
		}
		b, err := r.Bind(interflow.Events(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	labelled := func(i int, labels string) string {
		return strings.TrimSuffix(wafRec("203.0.113.50", "BLOCK", "AWS-AWSManagedRulesSQLiRuleSet", i), "}") + `,"labels":` + labels + "}"
	}
	recs := decode(t, connector.WAF, wafKey, wafLog(
		labelled(0, `[{"name":"awswaf:clientip:geo:country:US"},{"name":"awswaf:managed:aws:sql-database:SQLi_QueryArguments"}]`),
		wafRec("203.0.113.50", "ALLOW", "Default_Action", 1),
		labelled(2, `null`),
		labelled(3, `[{"name":"awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body"}]`),
	))
	sqli := rule("SQLi_")
	for i, want := range []bool{true, false, false, false} {
		if got := sqli.Match(recs[i]); got != want {
			t.Errorf("record %d: the labels.name rule matches %v, want %v", i, got, want)
		}
	}
	if !rule("CrossSiteScripting").Match(recs[3]) {
		t.Error("the XSS label's rule does not match its record")
	}
	sample := "../../../shared/corpus/otel-contrib/extension/encoding/awslogsencodingextension/internal/unmarshaler/waf/testdata/valid_log.json"
	text, err := os.ReadFile(sample)
	if err != nil {
		t.Skipf("the shared corpus is not beside the project: %v", err)
	}
	real := decode(t, connector.WAF, wafKey, string(text))
	if len(real) != 1 || !rule("awswaf:clientip:geo:country:NL").Match(real[0]) || rule("awswaf:clientip:geo:country:US").Match(real[0]) {
		t.Errorf("the corpus WAF record (%d decoded): a rule on its label must match it, one on another label not", len(real))
	}
}

// TestALBRuleFields: an alb rule names AWS's fields (client_ip with cidr,
// user_agent, elb_status_code, actions_executed, domain_name) and matches
// the decoded entries; a field Trawl does not map (the request line,
// read as http.method, http.uri and http.version) is refused with the
// fields it can use; the rule keeps to ALB records.
func TestALBRuleFields(t *testing.T) {
	r, err := Parse([]byte("title: t\nlogsource: {product: aws, service: alb}\ndetection:\n  sel:\n    client_ip|cidr: 203.0.113.0/24\n" +
		"    user_agent|contains: mozilla\n    elb_status_code: 404\n    actions_executed: forward\n    domain_name: shop.example.com\n  condition: sel\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Bind(interflow.Events(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recs := decode(t, connector.ALB, albKey, wafLog(albRec("203.0.113.50", 404, 1), albRec("198.51.100.7", 404, 2), albRec("203.0.113.50", 200, 3)))
	if !b.Match(recs[0]) || b.Match(recs[1]) || b.Match(recs[2]) {
		t.Errorf("matches %v %v %v, want true false false; hunt %s", b.Match(recs[0]), b.Match(recs[1]), b.Match(recs[2]), r.Hunt())
	}
	waf := decode(t, connector.WAF, wafKey, wafLog(wafRec("203.0.113.50", "BLOCK", "x", 0)))
	ipRule, err := Parse([]byte("title: t\nlogsource: {product: aws, service: alb}\ndetection:\n  sel:\n    client_ip|cidr: 203.0.113.0/24\n  condition: sel\n"))
	if err != nil {
		t.Fatal(err)
	}
	if ab, _ := ipRule.Bind(interflow.Events(), time.Now()); ab.Match(waf[0]) || !ab.Match(recs[0]) {
		t.Errorf("the alb rule on client_ip: WAF record %v, ALB record %v; hunt %s", ab.Match(waf[0]), ab.Match(recs[0]), ipRule.Hunt())
	}
	_, err = Parse([]byte("title: t\nlogsource: {product: aws, service: alb}\ndetection:\n  sel:\n    request|contains: /etc/passwd\n  condition: sel\n"))
	if err == nil || !strings.Contains(err.Error(), "http.uri") {
		t.Errorf("a rule on request: %v", err)
	}
}

// TestS3AccessRuleFields: an s3access rule names the fields by AWS's
// Athena columns (remoteip with cidr, requester, operation, httpstatus,
// aclrequired) and matches the decoded records; a field Trawl does not map
// (request_uri, read as http.method, http.uri and http.version) is
// refused with the fields it can use; the rule keeps to S3 records.
func TestS3AccessRuleFields(t *testing.T) {
	r, err := Parse([]byte("title: t\nlogsource: {product: aws, service: s3access}\ndetection:\n  sel:\n    remoteip|cidr: 203.0.113.0/24\n" +
		"    requester: '-'\n    operation: REST.GET.OBJECT\n    httpstatus: 403\n    aclrequired: 'false'\n    useragent|startswith: python\n  condition: sel\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Bind(interflow.Events(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recs := decode(t, connector.S3Access, s3Key, wafLog(s3Rec("203.0.113.50", "-", 403, "AccessDenied", 1), s3Rec("198.51.100.7", "-", 403, "AccessDenied", 2),
		s3Rec("203.0.113.50", "arn:aws:iam::123456789012:user/alice", 403, "AccessDenied", 3), s3Rec("203.0.113.50", "-", 200, "-", 4)))
	if len(recs) != 4 || !b.Match(recs[0]) || b.Match(recs[1]) || b.Match(recs[2]) || b.Match(recs[3]) {
		t.Errorf("%d records; matches want true false false false; hunt %s", len(recs), r.Hunt())
	}
	alb := decode(t, connector.ALB, albKey, wafLog(albRec("203.0.113.50", 403, 0)))
	ipRule, err := Parse([]byte("title: t\nlogsource: {product: aws, service: s3access}\ndetection:\n  sel:\n    remoteip|cidr: 203.0.113.0/24\n  condition: sel\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sb, _ := ipRule.Bind(interflow.Events(), time.Now()); sb.Match(alb[0]) || !sb.Match(recs[0]) {
		t.Errorf("the s3access rule on remoteip: ALB record %v, S3 record %v; hunt %s", sb.Match(alb[0]), sb.Match(recs[0]), ipRule.Hunt())
	}
	_, err = Parse([]byte("title: t\nlogsource: {product: aws, service: s3access}\ndetection:\n  sel:\n    request_uri|contains: /etc/passwd\n  condition: sel\n"))
	if err == nil || !strings.Contains(err.Error(), "http.uri") || !strings.Contains(err.Error(), "remoteip") {
		t.Errorf("a rule on request_uri: %v", err)
	}
}

// TestGuardDutyRuleFields: a guardduty rule names the finding's JSON
// paths as GuardDuty exports them (severity compared by order, type,
// resource.resourceType, a path read from the raw finding) and Interflow's
// names (finding.remote_ip with cidr), and matches the decoded findings;
// a name that is no member of a finding is refused with what to write;
// the rule keeps to GuardDuty records, and a rule without a service still
// reads type as ALB's (GuardDuty's names are its own rules' only).
func TestGuardDutyRuleFields(t *testing.T) {
	r, err := Parse([]byte("title: t\nlogsource: {product: aws, service: guardduty}\ndetection:\n  sel:\n    severity|gte: 7\n    type|startswith: 'Backdoor:'\n" +
		"    resource.resourceType: Instance\n    service.action.networkConnectionAction.protocol: tcp\n    finding.remote_ip|cidr: 203.0.113.0/24\n  condition: sel\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Bind(interflow.Events(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// High, just below High, another type, outside the address block,
	// Critical.
	recs := decode(t, connector.GuardDuty, gdKey, wafLog(gdRec("Backdoor:EC2/C&CActivity.B", "8", 1), gdRec("Backdoor:EC2/C&CActivity.B", "6.9", 2),
		gdRec("Recon:EC2/Portscan", "8", 3), strings.Replace(gdRec("Backdoor:EC2/C&CActivity.B", "8", 4), "203.0.113.4", "198.51.100.4", 1),
		gdRec("Backdoor:EC2/C&CActivity.B", "9.5", 5)))
	want := []bool{true, false, false, false, true}
	if len(recs) != len(want) {
		t.Fatalf("%d records", len(recs))
	}
	for i, w := range want {
		if b.Match(recs[i]) != w {
			t.Errorf("record %d: match %v, want %v; hunt %s", i, !w, w, r.Hunt())
		}
	}
	alb := decode(t, connector.ALB, albKey, wafLog(albRec("203.0.113.50", 500, 0)))
	high, err := Parse([]byte("title: t\nlogsource: {product: aws, service: guardduty}\ndetection:\n  sel:\n    severity|gte: 7\n  condition: sel\n"))
	if err != nil {
		t.Fatal(err)
	}
	if hb, _ := high.Bind(interflow.Events(), time.Now()); hb.Match(alb[0]) || !hb.Match(recs[0]) {
		t.Errorf("the guardduty rule: ALB record %v, finding %v; hunt %s", hb.Match(alb[0]), hb.Match(recs[0]), high.Hunt())
	}
	for _, name := range []string{"eventName", "Severity", "finding_type"} {
		_, err := Parse([]byte("title: t\nlogsource: {product: aws, service: guardduty}\ndetection:\n  sel:\n    " + name + ": x\n  condition: sel\n"))
		if err == nil || !strings.Contains(err.Error(), "service.action.actionType") {
			t.Errorf("a guardduty rule on %s: %v", name, err)
		}
	}
	any, err := Parse([]byte("title: t\ndetection:\n  sel:\n    type: https\n  condition: sel\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(any.Hunt(), "elb.type") {
		t.Errorf("a rule without a service reads type as %s, want ALB's elb.type", any.Hunt())
	}
}

// TestGuardDutyCountByType: a guardduty rule counting by type groups by
// finding.type (the rule's service names it), not by ALB's type.
func TestGuardDutyCountByType(t *testing.T) {
	r, err := Parse([]byte("title: t\nlogsource: {product: aws, service: guardduty}\ndetection:\n  sel:\n    severity|gte: 4\n  timeframe: 1h\n  condition: sel | count() by type > 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Count == nil || r.Count.GroupBy != "finding.type" {
		t.Fatalf("count %+v, want grouped by finding.type", r.Count)
	}
	b, err := r.Bind(interflow.Events(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recs := decode(t, connector.GuardDuty, gdKey, wafLog(gdRec("Recon:EC2/Portscan", "5", 1), gdRec("Recon:EC2/Portscan", "5", 2), gdRec("Backdoor:EC2/C&CActivity.B", "8", 3)))
	if g := b.Groups(recs); len(g) != 1 || g[0].Key != "Recon:EC2/Portscan" || g[0].Count != 2 {
		t.Errorf("groups %+v, want Recon:EC2/Portscan with 2", g)
	}
}
