// Package gen writes realistic, deterministic AWS log objects laid out
// exactly as AWS lays them out in S3, with a manifest of every record it
// wrote. The demo, the integration and crash tests and the benchmarks all
// use it, so ground truth never comes from the code under test.
package gen

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"
)

// Object is one generated object.
type Object struct {
	Key     string
	Body    []byte // gzip
	Records int
	// EventIDs lists the eventID of each record in order.
	EventIDs []string
	// Meta is the object's S3 user metadata (a digest's signature).
	Meta map[string]string
	// Planted are the attack steps among its records, with their times.
	Planted []Planted
}

// Planted is one attack step written among benign records.
type Planted struct {
	EventName string
	Time      time.Time
}

// CloudTrailSpec describes what to generate.
type CloudTrailSpec struct {
	Seed          uint64
	Prefix        string // e.g. "" or "org-trail"; AWSLogs/... follows
	OrgID         string // e.g. "o-abc123defg"; empty for none
	Accounts      []string
	Regions       []string
	Start         time.Time
	Span          time.Duration // events spread over [Start, Start+Span)
	Objects       int           // objects per account and region
	RecordsPerObj int
	Attacks       bool // include attack-looking sequences
	// PadBytes adds a requestParameters blob of this size to each record,
	// for throughput tests with realistic record sizes.
	PadBytes int
	// GzipLevel is the objects' compression level (0: the default). The
	// padding's repeats make the default level spend three quarters of
	// the generation's time searching for matches: a benchmark that
	// generates gigabytes before its clock starts uses level 2, three
	// times as fast to write and as fast to decompress (gzip.BestSpeed
	// decompresses 1.7x slower, which would charge the reader).
	GzipLevel int
}

// Key returns the CloudTrail S3 key of an object.
func Key(prefix, org, account, region string, t time.Time, rnd string) string {
	var b strings.Builder
	if prefix != "" {
		b.WriteString(prefix + "/")
	}
	b.WriteString("AWSLogs/")
	if org != "" {
		b.WriteString(org + "/")
	}
	fmt.Fprintf(&b, "%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
		account, region, t.UTC().Format("2006/01/02"), account, region, t.UTC().Format("20060102T1504Z"), rnd)
	return b.String()
}

type principal struct {
	typ, name, arn, akid, agent, ip string
	mfa                             bool
}

var benign = []struct {
	source, name string
	ro           bool
}{
	{"s3.amazonaws.com", "GetObject", true}, {"s3.amazonaws.com", "PutObject", false},
	{"s3.amazonaws.com", "ListBuckets", true}, {"ec2.amazonaws.com", "DescribeInstances", true},
	{"ec2.amazonaws.com", "RunInstances", false}, {"iam.amazonaws.com", "GetUser", true},
	{"sts.amazonaws.com", "AssumeRole", true}, {"lambda.amazonaws.com", "Invoke", false},
	{"kms.amazonaws.com", "Decrypt", true}, {"cloudwatch.amazonaws.com", "PutMetricData", false},
	{"dynamodb.amazonaws.com", "DescribeTable", true}, {"ssm.amazonaws.com", "GetParameter", true},
	{"logs.amazonaws.com", "CreateLogStream", false}, {"ec2.amazonaws.com", "DescribeSecurityGroups", true},
}

// Attack event names the demo and tests look for.
var attackSteps = []struct{ source, name, errCode string }{
	{"signin.amazonaws.com", "ConsoleLogin", ""},
	{"iam.amazonaws.com", "ListUsers", ""},
	{"iam.amazonaws.com", "CreateUser", ""},
	{"iam.amazonaws.com", "AttachUserPolicy", ""},
	{"iam.amazonaws.com", "CreateAccessKey", ""},
	{"cloudtrail.amazonaws.com", "StopLogging", ""},
	{"secretsmanager.amazonaws.com", "GetSecretValue", "AccessDenied"},
	{"secretsmanager.amazonaws.com", "GetSecretValue", ""},
	{"ec2.amazonaws.com", "ModifyInstanceAttribute", ""},
	{"s3.amazonaws.com", "PutBucketPolicy", ""},
}

// CloudTrail generates objects for every account and region. The same spec
// always yields the same bytes.
func CloudTrail(spec CloudTrailSpec) []Object {
	r := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x9e3779b97f4a7c15))
	var out []Object
	for _, acct := range spec.Accounts {
		people := principals(r, acct)
		for _, region := range spec.Regions {
			for i := 0; i < spec.Objects; i++ {
				// Objects are spread evenly over the span, 5 minutes apart at least.
				t0 := spec.Start.Add(time.Duration(float64(spec.Span) * float64(i) / float64(max(spec.Objects, 1))))
				recs := make([]map[string]any, 0, spec.RecordsPerObj)
				ids := make([]string, 0, spec.RecordsPerObj)
				attackAt := -1
				if spec.Attacks && i%7 == 3 {
					attackAt = r.IntN(max(spec.RecordsPerObj, 1))
				}
				var planted []Planted
				for j := 0; j < spec.RecordsPerObj; j++ {
					t := t0.Add(time.Duration(j) * time.Second)
					var rec map[string]any
					if j >= attackAt && attackAt >= 0 && j-attackAt < len(attackSteps) {
						rec = attackRecord(r, acct, region, t, attackSteps[j-attackAt])
						planted = append(planted, Planted{EventName: attackSteps[j-attackAt].name, Time: t.UTC().Truncate(time.Second)})
					} else {
						rec = benignRecord(r, acct, region, t, people[r.IntN(len(people))])
					}
					if spec.PadBytes > 0 {
						rp, _ := rec["requestParameters"].(map[string]any)
						if rp == nil {
							rp = map[string]any{}
							rec["requestParameters"] = rp
						}
						rp["policyDocument"] = pad(r, spec.PadBytes)
					}
					recs = append(recs, rec)
					ids = append(ids, rec["eventID"].(string))
				}
				body := gzLevel(map[string]any{"Records": recs}, cmp.Or(spec.GzipLevel, gzip.DefaultCompression))
				rnd := fmt.Sprintf("%016x", r.Uint64())[:16]
				out = append(out, Object{Key: Key(spec.Prefix, spec.OrgID, acct, region, t0, rnd), Body: body, Records: len(recs), EventIDs: ids, Planted: planted})
			}
		}
	}
	return out
}

func pad(r *rand.Rand, n int) string {
	const words = "Allow Deny s3:GetObject arn:aws:s3:::bucket/* Principal Effect Statement Action Resource Condition "
	var b strings.Builder
	for b.Len() < n {
		i := r.IntN(len(words) - 12)
		b.WriteString(words[i : i+12])
	}
	return b.String()[:n]
}

func principals(r *rand.Rand, acct string) []principal {
	names := []string{"alice", "bob", "carol", "deploy-bot", "terraform", "dave"}
	agents := []string{"aws-cli/2.15.0 Python/3.11.6 Linux/6.1", "Boto3/1.34.0 Python/3.12", "console.amazonaws.com", "aws-sdk-go-v2/1.24.0", "Terraform/1.7.0"}
	var out []principal
	for i, n := range names {
		p := principal{typ: "IAMUser", name: n, arn: "arn:aws:iam::" + acct + ":user/" + n,
			akid: fmt.Sprintf("AKIA%012d", r.IntN(1e12)), agent: agents[i%len(agents)],
			ip: fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254)), mfa: i%2 == 0}
		if strings.HasSuffix(n, "bot") || n == "terraform" {
			p.typ = "AssumedRole"
			p.arn = "arn:aws:sts::" + acct + ":assumed-role/" + n + "-role/session-" + n
			p.akid = fmt.Sprintf("ASIA%012d", r.IntN(1e12))
		}
		out = append(out, p)
	}
	return out
}

func uuid(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, a>>16&0xffff, a&0xfff, 0x8000|b>>48&0x3fff, b&0xffffffffffff)
}

func identity(p principal, acct string) map[string]any {
	id := map[string]any{"type": p.typ, "principalId": "AIDA" + strings.ToUpper(p.name), "arn": p.arn, "accountId": acct, "accessKeyId": p.akid}
	if p.typ == "IAMUser" {
		id["userName"] = p.name
	} else {
		id["sessionContext"] = map[string]any{
			"sessionIssuer": map[string]any{"type": "Role", "userName": p.name + "-role", "arn": "arn:aws:iam::" + acct + ":role/" + p.name + "-role", "accountId": acct},
			"attributes":    map[string]any{"creationDate": "2024-01-01T00:00:00Z", "mfaAuthenticated": fmt.Sprint(p.mfa)},
		}
	}
	return id
}

func benignRecord(r *rand.Rand, acct, region string, t time.Time, p principal) map[string]any {
	e := benign[r.IntN(len(benign))]
	rec := map[string]any{
		"eventVersion": "1.09", "userIdentity": identity(p, acct), "eventTime": t.UTC().Format(time.RFC3339),
		"eventSource": e.source, "eventName": e.name, "awsRegion": region, "sourceIPAddress": p.ip, "userAgent": p.agent,
		"requestParameters": map[string]any{"bucketName": "app-data-" + acct}, "responseElements": nil,
		"requestID": uuid(r), "eventID": uuid(r), "readOnly": e.ro, "eventType": "AwsApiCall",
		"managementEvent": e.source != "s3.amazonaws.com", "recipientAccountId": acct, "eventCategory": "Management",
	}
	if r.IntN(40) == 0 {
		rec["errorCode"] = "AccessDenied"
		rec["errorMessage"] = "User: " + p.arn + " is not authorized to perform: " + strings.Split(e.source, ".")[0] + ":" + e.name
	}
	if r.IntN(25) == 0 {
		// AWS services acting on a user's behalf put a service name here.
		rec["sourceIPAddress"] = e.source
		rec["userAgent"] = e.source
	}
	return rec
}

func attackRecord(r *rand.Rand, acct, region string, t time.Time, step struct{ source, name, errCode string }) map[string]any {
	attacker := principal{typ: "IAMUser", name: "svc-backup", arn: "arn:aws:iam::" + acct + ":user/svc-backup",
		akid: "AKIAEXFIL00000000001", agent: "python-requests/2.31.0", ip: "185.220.101.47"}
	rec := map[string]any{
		"eventVersion": "1.09", "userIdentity": identity(attacker, acct), "eventTime": t.UTC().Format(time.RFC3339),
		"eventSource": step.source, "eventName": step.name, "awsRegion": region, "sourceIPAddress": attacker.ip,
		"userAgent": attacker.agent, "requestID": uuid(r), "eventID": uuid(r), "readOnly": false,
		"eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": acct, "eventCategory": "Management",
	}
	switch step.name {
	case "ConsoleLogin":
		rec["eventType"] = "AwsConsoleSignIn"
		rec["responseElements"] = map[string]any{"ConsoleLogin": "Success"}
		rec["additionalEventData"] = map[string]any{"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com/"}
		rec["userAgent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"
	case "AttachUserPolicy":
		rec["requestParameters"] = map[string]any{"userName": "support-admin", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
	case "CreateUser":
		rec["requestParameters"] = map[string]any{"userName": "support-admin"}
	case "StopLogging":
		rec["requestParameters"] = map[string]any{"name": "arn:aws:cloudtrail:" + region + ":" + acct + ":trail/org-trail"}
	}
	if step.errCode != "" {
		rec["errorCode"] = step.errCode
		rec["errorMessage"] = "User: " + attacker.arn + " is not authorized to perform: secretsmanager:GetSecretValue"
	}
	return rec
}

func gz(v any) []byte { return gzLevel(v, gzip.DefaultCompression) }

func gzLevel(v any, level int) []byte {
	var raw bytes.Buffer
	enc := json.NewEncoder(&raw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // generated values always encode
	}
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, level)
	_, _ = w.Write(raw.Bytes())
	_ = w.Close()
	return b.Bytes()
}

// Digest returns a CloudTrail digest object for an account and region, which
// holds no events and must be skipped.
func Digest(prefix, org, account, region string, t time.Time) Object {
	var b strings.Builder
	if prefix != "" {
		b.WriteString(prefix + "/")
	}
	b.WriteString("AWSLogs/")
	if org != "" {
		b.WriteString(org + "/")
	}
	fmt.Fprintf(&b, "%s/CloudTrail-Digest/%s/%s/%s_CloudTrail-Digest_%s_trail_%s_%s.json.gz",
		account, region, t.UTC().Format("2006/01/02"), account, region, region, t.UTC().Format("20060102T150405Z"))
	body := gz(map[string]any{"awsAccountId": account, "digestStartTime": t.UTC().Format(time.RFC3339),
		"digestEndTime": t.Add(time.Hour).UTC().Format(time.RFC3339), "digestS3Bucket": "trail-bucket",
		"logFiles": []any{}, "digestPublicKeyFingerprint": "0ab1c2d3", "digestSignatureAlgorithm": "SHA256withRSA"})
	return Object{Key: b.String(), Body: body}
}

// StreamCloudTrail writes one CloudTrail object of n records to w (gzip),
// generating records one at a time so an object of any size needs no
// memory: for measuring Trawl's memory on huge objects.
func StreamCloudTrail(w io.Writer, seed uint64, account, region string, start time.Time, n, pad int) (int64, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x51))
	zw := gzip.NewWriter(w)
	cw := &countWriter{w: zw}
	people := principals(r, account)
	if _, err := cw.Write([]byte(`{"Records":[`)); err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		rec := benignRecord(r, account, region, start.Add(time.Duration(i)*time.Millisecond), people[r.IntN(len(people))])
		if pad > 0 {
			rec["requestParameters"] = map[string]any{"policyDocument": pad0(r, pad)}
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return 0, err
		}
		if i > 0 {
			cw.Write([]byte(","))
		}
		if _, err := cw.Write(b); err != nil {
			return 0, err
		}
	}
	cw.Write([]byte("]}"))
	return cw.n, zw.Close()
}

func pad0(r *rand.Rand, n int) string { return pad(r, n) }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
