package s3access

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

// key is a flat log object's key, as S3 names it under a target prefix.
const key = "logs/2019-02-06-00-00-38-5A2F7D3E1C8B9A40"

func decodeKey(t testing.TB, r io.Reader, k string) formattest.Result {
	t.Helper()
	res, err := formattest.Run(r, interflow.Events(), Class, "paas", func(r io.Reader) formattest.Decoder { return NewDecoder(r, k) })
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func decode(t testing.TB, r io.Reader) formattest.Result { return decodeKey(t, r, key) }

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// TestGolden: AWS's documented examples and the other inputs decode to
// their goldens (go test -update rewrites them), as text or gzip.
//
// Where the example lines come from, each verbatim:
//   - testdata/aws_examples.log: the five records of the example log of
//     "Amazon S3 server access log format" in AWS's archived documentation
//     source (github.com/awsdocs/amazon-s3-userguide,
//     doc_source/LogFormat.md, 2023), without the markdown list's "1. "
//     numbering; they end at TLS version (24 fields).
//   - testdata/aws_examples_current.log: the first two records of the same
//     example as https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html
//     shows it now, with Access Point ARN and aclRequired (26 fields); the
//     page's other three records were not available whole to copy.
//   - testdata/aws_examples_appended.log: the same two records as AWS's
//     China-region page shows them
//     (https://docs.amazonaws.cn/AmazonS3/latest/userguide/LogFormat.md),
//     with a 27th field (us-east-1) after aclRequired that the page's field
//     list does not describe: it is accepted and kept in raw.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.log")
	if len(files) < 4 {
		t.Fatalf("testdata missing")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, _ := os.ReadFile(f)
			res := decode(t, bytes.NewReader(b))
			formattest.Golden(t, strings.TrimSuffix(f, ".log")+".golden", res)
			if res2 := decode(t, bytes.NewReader(gz(b))); len(res2.Records) != len(res.Records) || len(res2.RecordErrors) != len(res.RecordErrors) {
				t.Error("gzip and text decode differently")
			}
		})
	}
}

// check compares a record's fields with want (nil: absent).
func check(t *testing.T, name string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %v (%T), want %v (%T)", name, k, got[k], got[k], v, v)
		}
	}
}

// TestAWSExamples checks every field of AWS's documented records.
func TestAWSExamples(t *testing.T) {
	const owner = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
	b, _ := os.ReadFile("testdata/aws_examples.log")
	res := decode(t, bytes.NewReader(b))
	if len(res.Records) != 5 || len(res.RecordErrors) != 0 || res.ObjectError != "" {
		t.Fatalf("%d records, errors %v %s", len(res.Records), res.RecordErrors, res.ObjectError)
	}
	common := map[string]any{"msg_class": Class, "index": "aws_events", "s3.bucket_owner": owner, "s3.bucket": "awsexamplebucket1",
		"srcip": "192.0.2.3", "s3.requester": owner, "user.arn": nil, "http.referer": nil, "user_agent": "S3Console/0.4", "s3.version_id": nil,
		"tls.cipher": "ECDHE-RSA-AES128-GCM-SHA256", "s3.auth_type": "AuthHeader", "http.host": "awsexamplebucket1.s3.us-west-1.amazonaws.com",
		"tls.protocol": "TLSV1.1", "s3.access_point_arn": nil, "s3.acl_required": nil, "cloud.region": "us-west-1", "cloud.account_id": nil,
		"s3.signature_version": "SigV2", "http.version": "HTTP/1.1", "http.method": "GET", "error_code": nil, "s3.object_size": nil}
	want := []map[string]any{
		{"timestamp": "2019-02-06T00:00:38Z", "request_id": "3E57427F3EXAMPLE", "s3.operation": "REST.GET.VERSIONING", "s3.key": nil,
			"http.uri": "/awsexamplebucket1?versioning", "http.response_code": int64(200), "bytes_out": int64(113), "s3.total_time_ms": int64(7),
			"s3.turnaround_time_ms": nil, "s3.host_id": "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234="},
		{"request_id": "891CE47D2EXAMPLE", "s3.operation": "REST.GET.LOGGING_STATUS", "http.uri": "/awsexamplebucket1?logging", "bytes_out": int64(242),
			"s3.total_time_ms": int64(11)},
		{"request_id": "A1206F460EXAMPLE", "s3.operation": "REST.GET.BUCKETPOLICY", "http.response_code": int64(404), "error_code": "NoSuchBucketPolicy",
			"bytes_out": int64(297), "s3.total_time_ms": int64(38)},
		{"timestamp": "2019-02-06T00:01:00Z", "request_id": "7B4A0FABBEXAMPLE", "s3.total_time_ms": int64(33)},
		{"timestamp": "2019-02-06T00:01:57Z", "request_id": "DD6CC733AEXAMPLE", "s3.operation": "REST.PUT.OBJECT", "s3.key": "s3-dg.pdf",
			"http.method": "PUT", "http.uri": "/awsexamplebucket1/s3-dg.pdf", "bytes_out": int64(0), "s3.object_size": int64(4406583),
			"s3.total_time_ms": int64(41754), "s3.turnaround_time_ms": int64(28), "s3.signature_version": "SigV4", "tls.cipher": "ECDHE-RSA-AES128-SHA"},
	}
	for i, w := range want {
		for k, v := range common {
			if _, ok := w[k]; !ok {
				w[k] = v
			}
		}
		check(t, "record "+string(rune('1'+i)), res.Records[i], w)
	}

	cur, _ := os.ReadFile("testdata/aws_examples_current.log")
	app, _ := os.ReadFile("testdata/aws_examples_appended.log")
	for _, in := range [][]byte{cur, app} {
		res := decode(t, bytes.NewReader(in))
		if len(res.Records) != 2 || len(res.RecordErrors) != 0 {
			t.Fatalf("%d records, errors %v", len(res.Records), res.RecordErrors)
		}
		check(t, "current record 1", res.Records[0], map[string]any{"s3.bucket": "amzn-s3-demo-bucket1", "s3.signature_version": "SigV4",
			"tls.protocol": "TLSV1.2", "s3.access_point_arn": "arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP", "s3.acl_required": true,
			"http.host": "amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com", "cloud.region": "us-west-1", "http.uri": "/amzn-s3-demo-bucket1?versioning"})
		check(t, "current record 2", res.Records[1], map[string]any{"s3.access_point_arn": nil, "s3.acl_required": false, "request_id": "891CE47D2EXAMPLE"})
	}
	// The appended field changes nothing but raw.
	a, c := decode(t, bytes.NewReader(app)).Records[0], decode(t, bytes.NewReader(cur)).Records[0]
	for k := range c {
		if k != "raw.sha256" && k != "id" && c[k] != a[k] {
			t.Errorf("with a field appended, %s = %v, without %v", k, a[k], c[k])
		}
	}
	if a["raw.sha256"] == nil || a["raw.sha256"] == c["raw.sha256"] {
		t.Error("raw does not keep the appended field")
	}
}

// TestBadLines: each bad line is quarantined on its own with its reason
// and the byte where the bad field starts; the good lines around them
// decode, with their IPv6 address, IAM requester, anonymous requester, a
// copy's GET record (no HTTP version), a time offset, a quote inside the
// User-Agent, the legacy endpoint's region and fields appended.
func TestBadLines(t *testing.T) {
	b, _ := os.ReadFile("testdata/bad_lines.log")
	res := decode(t, bytes.NewReader(b))
	want := []string{
		"the line has 18 fields; a server access log record has at least 20 (Bucket Owner through Signature Version)",
		"field 17 (User-Agent) opens a double quote at byte 271 that the line never closes",
		`field 3 (Time) at byte 86: "yesterday" is not a time in brackets`,
		`field 4 (Remote IP) at byte 115: "not-an-ip" is not an IP address`,
		`field 9 (Request-URI) at byte 229: "GET" is not in double quotes`,
		`field 10 (HTTP status) at byte 251: "2xx" is not a number`,
		`field 26 (aclRequired) at byte 366: "Maybe" is neither Yes nor -`,
		"field 3 (Time) opens a square bracket at byte 86 that the line never closes",
		`field 3 (Time) at byte 86: "[31/Feb/2024:10:00:11 +0000]" is not a time`,
	}
	if len(res.RecordErrors) != len(want) || len(res.Records) != 3 || res.ObjectError != "" {
		t.Fatalf("%d records, errors %v, object error %q", len(res.Records), res.RecordErrors, res.ObjectError)
	}
	for i, w := range want {
		if !strings.Contains(res.RecordErrors[i].Reason, w) {
			t.Errorf("error %d = %q, want it to say %q", i, res.RecordErrors[i].Reason, w)
		}
	}
	check(t, "IAM requester", res.Records[0], map[string]any{"srcip": "2001:db8::7", "user.arn": "arn:aws:iam::123456789012:user/alice",
		"s3.requester": "arn:aws:iam::123456789012:user/alice", "http.referer": "https://console.example.com/", "user_agent": "aws-cli/2.15.0 md/arch#x86_64",
		"tls.protocol": "TLSv1.3", "s3.acl_required": false, "cloud.region": "eu-west-1", "http.uri": "/reports/q1.csv?x-id=GetObject",
		"s3.key": "reports/q1.csv", "s3.turnaround_time_ms": int64(10), "s3.object_size": int64(2048)})
	check(t, "anonymous", res.Records[1], map[string]any{"s3.requester": nil, "user.arn": nil, "error_code": "AccessDenied", "http.response_code": int64(403),
		"s3.signature_version": nil, "s3.auth_type": nil, "srcip": "198.51.100.9"})
	check(t, "copy", res.Records[2], map[string]any{"timestamp": "2024-05-01T10:00:12Z", "s3.operation": "REST.COPY.OBJECT_GET", "http.method": "GET",
		"http.uri": "/amzn-s3-demo-bucket1/reports/q1.csv?x-foo=bar", "http.version": nil, "http.referer": nil, "user_agent": `agent "with"/1.0`,
		"bytes_out": int64(0), "s3.turnaround_time_ms": nil, "s3.auth_type": "QueryString", "cloud.region": "eu-west-1",
		"s3.access_point_arn": "arn:aws:s3:eu-west-1:123456789012:accesspoint/reports", "s3.acl_required": true})
}

// TestTruncated: an object cut short keeps the records before the cut; a
// gzip copy cut short quarantines the rest as an object error, a text one
// its cut last line (too few fields).
func TestTruncated(t *testing.T) {
	b, _ := os.ReadFile("testdata/aws_examples.log")
	var body []byte
	for range 40 {
		body = append(body, b...)
	}
	z := gz(body)
	res := decode(t, bytes.NewReader(z[:len(z)/2]))
	if !strings.Contains(res.ObjectError, "truncated gzip stream") {
		t.Fatalf("object error %q", res.ObjectError)
	}
	if len(res.Records) == 0 || len(res.Records) >= 200 {
		t.Errorf("%d records before the cut", len(res.Records))
	}
	cut := body[:len(body)/2+40]
	text := decode(t, bytes.NewReader(cut))
	if len(text.Records) != 100 || len(text.RecordErrors) != 1 || text.RecordErrors[0].Position != 100 {
		t.Errorf("text cut mid-line: %d records, errors %v", len(text.Records), text.RecordErrors)
	}
	formattest.Golden(t, "testdata/truncated.golden", struct {
		Records     int                    `json:"records"`
		Errors      int                    `json:"record_errors"`
		ObjectError string                 `json:"object_error"`
		TextRecords int                    `json:"text_records"`
		TextErrors  []formattest.RecordErr `json:"text_record_errors"`
	}{len(res.Records), len(res.RecordErrors), res.ObjectError, len(text.Records), text.RecordErrors})
}

// TestAccountAndRegion: a date-partitioned key gives the source account
// and region; a flat one leaves the account absent and takes the region
// from the Host Header.
func TestAccountAndRegion(t *testing.T) {
	b, _ := os.ReadFile("testdata/aws_examples.log")
	for k, want := range map[string][2]string{
		key: {"", "us-west-1"},
		"logs/123456789012/eu-central-1/awsexamplebucket1/2019/02/06/2019-02-06-00-00-00-5A2F7D3E1C8B9A40": {"123456789012", "eu-central-1"},
		"123456789012/us-gov-west-1/b/2019/02/06/2019-02-06-00-00-00-5A2F7D3E1C8B9A40":                     {"123456789012", "us-gov-west-1"},
		"logs/123456789012/not-a-region/b/2019/02/06/2019-02-06-00-00-00-5A2F7D3E1C8B9A40":                 {"", "us-west-1"},
	} {
		res := decodeKey(t, bytes.NewReader(b), k)
		acct, _ := res.Records[0]["cloud.account_id"].(string)
		if r := res.Records[0]; acct != want[0] || r["cloud.region"] != want[1] {
			t.Errorf("%s: account %v region %v, want %v", k, r["cloud.account_id"], r["cloud.region"], want)
		}
	}
}

func TestHostRegion(t *testing.T) {
	d := &Decoder{}
	for h, want := range map[string]string{
		"amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com":                  "us-west-1",
		"s3.dualstack.eu-west-1.amazonaws.com":                             "eu-west-1",
		"s3-us-west-2.amazonaws.com":                                       "us-west-2",
		"reports-123456789012.s3-accesspoint.ap-southeast-2.amazonaws.com": "ap-southeast-2",
		"s3.amazonaws.com":                                                 "",
		"bucket.s3.amazonaws.com":                                          "",
		"-":                                                                "",
		"s3.cn-north-1.amazonaws.com.cn":                                   "cn-north-1",
		"bucket.s3-fips.us-gov-west-1.amazonaws.com":                       "us-gov-west-1",
	} {
		if got := d.hostRegion([]byte(h)); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
}

func TestSkipReason(t *testing.T) {
	for k, skip := range map[string]bool{
		key: false, "logs/": true, "logs/123456789012/us-east-1/b/2024/05/01/": true, "exports/s3-access-2024-05-01.log": false,
	} {
		if got := SkipReason(k) != ""; got != skip {
			t.Errorf("%s: skipped %v, want %v", k, got, skip)
		}
	}
}

// TestLongLine: a line over MaxLine is quarantined, and the next one read.
func TestLongLine(t *testing.T) {
	b, _ := os.ReadFile("testdata/aws_examples.log")
	first, _, _ := bytes.Cut(b, []byte("\n"))
	long := bytes.Replace(first, []byte("S3Console/0.4"), bytes.Repeat([]byte("a"), MaxLine), 1)
	res := decode(t, bytes.NewReader(append(append(long, '\n'), b...)))
	if len(res.Records) != 5 || len(res.RecordErrors) != 1 || !strings.Contains(res.RecordErrors[0].Reason, "longer than") {
		t.Errorf("%d records, errors %v", len(res.Records), res.RecordErrors)
	}
}
