package alb

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

// key is the example log file name of AWS's page, under its prefix.
const key = "prefix/AWSLogs/123456789012/elasticloadbalancing/us-east-2/2016/05/01/123456789012_elasticloadbalancing_us-east-2_app.my-loadbalancer.1234567890abcdef_20140215T2340Z_172.160.001.192_20sg8hgm.log.gz"

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
// their goldens (go test -update rewrites them), gzip or not.
//
// testdata/aws_examples.log holds every example entry of AWS's page
// (HTTP, HTTPS, HTTP/2, WebSockets, secured WebSockets, a Lambda target,
// a failed Lambda target), each on one line, verbatim as the page's
// source has them in AWS's archived documentation repository
// (awsdocs/elb-application-load-balancers-user-guide, April 2023), which
// ends at classification_reason. testdata/aws_examples_current.log holds
// the same entries as the page shows them since, with conn_trace_id
// (TID_1234abcd5678ef90) and three fields after it: the extra fields are
// accepted and left in raw, so both files decode to the same values.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.log")
	if len(files) < 3 {
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

// TestAWSExamples checks the fields of AWS's documented entries.
func TestAWSExamples(t *testing.T) {
	for _, f := range []string{"testdata/aws_examples.log", "testdata/aws_examples_current.log"} {
		b, _ := os.ReadFile(f)
		res := decode(t, bytes.NewReader(b))
		if len(res.Records) != 7 || len(res.RecordErrors) != 0 || res.ObjectError != "" {
			t.Fatalf("%s: %d records, errors %v %s", f, len(res.Records), res.RecordErrors, res.ObjectError)
		}
		common := map[string]any{"msg_class": Class, "msg_origin.category": "paas", "elb.name": "app/my-loadbalancer/50dc6c495c0c9188",
			"cloud.account_id": "123456789012", "cloud.region": "us-east-2", "http.method": "GET", "http.uri": "/"}
		want := []map[string]any{
			{"elb.type": "http", "timestamp": "2018-07-02T22:23:00.186641Z", "srcip": "192.168.131.39", "srcport": int64(2817), "dstip": "10.0.0.1",
				"dstport": int64(80), "http.response_code": int64(200), "http.target_status": "200", "bytes_in": int64(34), "bytes_out": int64(366),
				"http.version": "HTTP/1.1", "http.host": "www.example.com", "user_agent": "curl/7.46.0", "tls.cipher": nil, "tls.protocol": nil,
				"elb.target_group_arn": "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067",
				"elb.trace_id":         "Root=1-58337262-36d228ad5d99923122bbe354", "elb.actions": []string{"forward"}, "elb.error_reason": nil, "elb.classification": nil},
			{"elb.type": "https", "timestamp": "2018-07-02T22:23:00.186641Z", "srcip": "192.168.131.39", "srcport": int64(2817), "dstip": "10.0.0.1",
				"dstport": int64(80), "http.response_code": int64(200), "bytes_in": int64(0), "bytes_out": int64(57), "http.host": "www.example.com",
				"tls.cipher": "ECDHE-RSA-AES128-GCM-SHA256", "tls.protocol": "TLSv1.2", "elb.actions": []string{"authenticate", "forward"}},
			{"elb.type": "h2", "srcip": "10.0.1.252", "srcport": int64(48160), "dstip": "10.0.0.66", "dstport": int64(9000), "http.version": "HTTP/2.0",
				"http.host": "10.0.2.105", "bytes_in": int64(5), "bytes_out": int64(257), "elb.actions": []string{"redirect"}, "tls.protocol": "TLSv1.2"},
			{"elb.type": "ws", "srcip": "10.0.0.140", "srcport": int64(40914), "dstip": "10.0.1.192", "dstport": int64(8010), "http.response_code": int64(101),
				"http.target_status": "101", "user_agent": nil, "http.host": "10.0.0.30", "tls.cipher": nil, "bytes_in": int64(218), "bytes_out": int64(587)},
			{"elb.type": "wss", "srcip": "10.0.0.140", "srcport": int64(44244), "dstip": "10.0.0.171", "dstport": int64(8010), "http.response_code": int64(101),
				"tls.cipher": "ECDHE-RSA-AES128-GCM-SHA256", "bytes_out": int64(786),
				"elb.target_group_arn": "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067"},
			{"elb.type": "http", "timestamp": "2018-11-30T22:23:00.186641Z", "dstip": nil, "dstport": nil, "http.response_code": int64(200),
				"http.target_status": "200", "elb.error_reason": nil},
			{"elb.type": "http", "dstip": nil, "dstport": nil, "http.response_code": int64(502), "http.target_status": nil,
				"elb.error_reason": "LambdaInvalidResponse", "elb.actions": []string{"forward"}},
		}
		for i, w := range want {
			got := res.Records[i]
			for k, v := range common {
				w[k] = v
			}
			for k, v := range w {
				g := got[k]
				if l, ok := v.([]string); ok {
					gl, _ := g.([]string)
					if strings.Join(gl, "|") != strings.Join(l, "|") || len(gl) != len(l) {
						t.Errorf("%s entry %d: %s = %v, want %v", f, i+1, k, g, v)
					}
					continue
				}
				if g != v {
					t.Errorf("%s entry %d: %s = %v (%T), want %v", f, i+1, k, g, g, v)
				}
			}
			if got["request_id"] != nil {
				t.Errorf("entry %d: request_id is set", i+1)
			}
		}
	}
}

// TestBadLines: each bad line is quarantined on its own with its reason;
// IPv6 clients as ALB writes them (and bracketed) decode.
func TestBadLines(t *testing.T) {
	b, _ := os.ReadFile("testdata/bad_lines.log")
	res := decode(t, bytes.NewReader(b))
	want := []string{
		"the line has 24 fields; an Application Load Balancer access log entry has at least 29",
		"field 14 (user_agent) opens a double quote that the line never closes",
		`field time: "yesterday" is not an ISO 8601 time`,
		`field client:port: "not-an-address:40006" is not an IP address and port`,
		"field 13 (request) is not in double quotes",
		`field client:port: "198.51.100.7:70000"`,
		`field elb_status_code: "2xx" is not a number`,
		"field 14 (user_agent) has text right after its closing double quote",
	}
	if len(res.RecordErrors) != len(want) || len(res.Records) != 4 || res.ObjectError != "" {
		t.Fatalf("%d records, errors %v, object error %q", len(res.Records), res.RecordErrors, res.ObjectError)
	}
	for i, w := range want {
		if !strings.Contains(res.RecordErrors[i].Reason, w) {
			t.Errorf("error %d = %q, want it to say %q", i, res.RecordErrors[i].Reason, w)
		}
	}
	v6 := res.Records[0]
	if v6["srcip"] != "2001:db8:7::1" || v6["srcport"] != int64(40004) || v6["http.uri"] != "/cart?id=4" || v6["http.host"] != "shop.example.com" {
		t.Errorf("IPv6 client as ALB writes it: %v", v6)
	}
	br := res.Records[1]
	if br["srcip"] != "2001:db8::5" || br["srcport"] != int64(443) || br["dstip"] != "fd00::a" || br["dstport"] != int64(8080) || br["http.host"] != "2001:db8::80" {
		t.Errorf("bracketed IPv6: %v", br)
	}
	mal := res.Records[2]
	if mal["http.method"] != nil || mal["http.uri"] != nil || mal["http.version"] != nil || mal["elb.classification"] != "Ambiguous" ||
		mal["http.response_code"] != int64(400) || mal["cloud.region"] != "us-east-2" {
		t.Errorf("malformed request: %v", mal)
	}
	waf := res.Records[3]
	if waf["http.response_code"] != int64(403) || waf["dstip"] != nil || waf["user_agent"] != "sqlmap/1.8" {
		t.Errorf("entry of 29 fields (before conn_trace_id): %v", waf)
	}
	if l, _ := waf["elb.actions"].([]string); len(l) != 1 || l[0] != "waf" {
		t.Errorf("actions %v", waf["elb.actions"])
	}
}

// TestTruncatedGzip: an object cut short keeps the entries before the cut
// and quarantines the rest as an object error.
func TestTruncatedGzip(t *testing.T) {
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
	if len(res.Records) == 0 || len(res.Records) >= 280 {
		t.Errorf("%d records before the cut", len(res.Records))
	}
	formattest.Golden(t, "testdata/truncated_gzip.golden", struct {
		Records     int    `json:"records"`
		Errors      int    `json:"record_errors"`
		ObjectError string `json:"object_error"`
	}{len(res.Records), len(res.RecordErrors), res.ObjectError})
}

// TestAccountAndRegion: from the key, else from the target group's ARN.
func TestAccountAndRegion(t *testing.T) {
	b, _ := os.ReadFile("testdata/aws_examples.log")
	for k, want := range map[string][2]string{
		key: {"123456789012", "us-east-2"},
		"AWSLogs/111122223333/elasticloadbalancing/eu-central-1/2024/05/01/x.log.gz": {"111122223333", "eu-central-1"},
		"exports/alb/x.log": {"123456789012", "us-west-2"}, // the fifth entry's target group is in us-west-2
	} {
		res := decodeKey(t, bytes.NewReader(b), k)
		if r := res.Records[4]; r["cloud.account_id"] != want[0] || r["cloud.region"] != want[1] {
			t.Errorf("%s: account %v region %v", k, r["cloud.account_id"], r["cloud.region"])
		}
	}
}

func TestSkipReason(t *testing.T) {
	const dir = "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2024/05/01/"
	for k, skip := range map[string]bool{
		dir + "123456789012_elasticloadbalancing_us-east-2_app.my-loadbalancer.1234567890abcdef_20140215T2340Z_172.160.001.192_20sg8hgm.log.gz":   false,
		dir + "123456789012_elasticloadbalancing_us-east-2_net.my-network-lb.c6e77e28c25b2234_20200401T0850Z_172.160.001.192_20sg8hgm.log.gz":     true,
		dir + "123456789012_elasticloadbalancing_us-east-2_my-loadbalancer_20140215T2340Z_172.160.001.192_20sg8hgm.log":                           true,
		dir + "conn_log.123456789012_elasticloadbalancing_us-east-2_app.my-loadbalancer.1234567890abcdef_20140215T2340Z_172.160.001.192_x.log.gz": true,
		"AWSLogs/123456789012/ELBAccessLogTestFile": true,
		dir:                             true,
		"exports/alb-2024-05-01.log.gz": false,
	} {
		if got := SkipReason(k) != ""; got != skip {
			t.Errorf("%s: skipped %v (%q), want %v", k, got, SkipReason(k), skip)
		}
	}
}

// TestLongLine: a line over MaxLine is quarantined, and the next one read.
func TestLongLine(t *testing.T) {
	b, _ := os.ReadFile("testdata/aws_examples.log")
	first, _, _ := bytes.Cut(b, []byte("\n"))
	long := bytes.Replace(first, []byte("curl/7.46.0"), bytes.Repeat([]byte("a"), MaxLine), 1)
	res := decode(t, bytes.NewReader(append(append(long, '\n'), b...)))
	if len(res.Records) != 7 || len(res.RecordErrors) != 1 || !strings.Contains(res.RecordErrors[0].Reason, "longer than") {
		t.Errorf("%d records, errors %v", len(res.Records), res.RecordErrors)
	}
}
