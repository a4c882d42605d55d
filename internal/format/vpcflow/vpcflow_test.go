package vpcflow

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/trawlhq/trawl/internal/format/formattest"
	"github.com/trawlhq/trawl/internal/interflow"
)

var delivery = time.Date(2024, 5, 1, 0, 5, 0, 0, time.UTC)

const key = "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2024/05/01/123456789012_vpcflowlogs_eu-west-1_fl-1_20240501T0000Z_abc.log.gz"

func decode(t testing.TB, r io.Reader) formattest.Result {
	t.Helper()
	res, err := formattest.Run(r, interflow.Traffic(), "vpcflow", "paas", func(r io.Reader) formattest.Decoder {
		d := NewDecoder(r, key)
		d.SetDeliveryTime(delivery)
		return d
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.log")
	if len(files) < 9 {
		t.Fatalf("testdata missing: %d files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, _ := os.ReadFile(f)
			formattest.Golden(t, strings.TrimSuffix(f, ".log")+".golden", decode(t, bytes.NewReader(b)))
		})
	}
}

func TestValues(t *testing.T) {
	b, _ := os.ReadFile("testdata/v2_default.log")
	res := decode(t, bytes.NewReader(b))
	if len(res.Records) != 6 || len(res.RecordErrors) != 0 {
		t.Fatalf("records %d errors %v (blank lines and repeated headers must be skipped)", len(res.Records), res.RecordErrors)
	}
	r := res.Records[1]
	for k, v := range map[string]any{"srcip": "172.31.9.69", "dstip": "172.31.9.12", "srcport": int64(49761), "dstport": int64(3389),
		"protocol": int64(6), "proto_name": "tcp", "action": "REJECT", "log_status": "OK", "bytes": int64(4249), "packets": int64(20),
		"timestamp": "2014-12-14T04:06:50Z", "start": "2014-12-14T04:06:50Z", "end": "2014-12-14T04:07:50Z", "cloud.account_id": "123456789010",
		"cloud.region": "eu-west-1", "msg_class": "vpcflow", "index": "traffic", "msg_origin.category": "paas", "version": int64(2)} {
		if r[k] != v {
			t.Errorf("%s = %#v, want %#v", k, r[k], v)
		}
	}
	nodata := res.Records[3]
	if nodata["log_status"] != "NODATA" || nodata["srcip"] != nil || nodata["action"] != nil {
		t.Errorf("NODATA record: %v ('-' must be absent, not the string \"-\")", nodata)
	}
	if res.Records[4]["log_status"] != "SKIPDATA" {
		t.Error("SKIPDATA must be kept")
	}
	if res.Records[2]["srcip"] != "203.0.113.12" || res.Records[2]["proto_name"] != "icmp" {
		t.Errorf("runs of spaces: %v", res.Records[2])
	}
	b, _ = os.ReadFile("testdata/v3.log")
	res = decode(t, bytes.NewReader(b))
	if res.Records[1]["tcp_flags"] != int64(18) || res.Records[1]["tcp_flags_name"] != "SYN,ACK" {
		t.Errorf("tcp flags: %v %v", res.Records[1]["tcp_flags"], res.Records[1]["tcp_flags_name"])
	}
	b, _ = os.ReadFile("testdata/custom_order.log")
	res = decode(t, bytes.NewReader(b))
	if len(res.Records) != 3 || res.Records[0]["dstport"] != int64(22) || res.Records[0]["action"] != "REJECT" || res.Records[0]["cloud.account_id"] != "123456789012" {
		t.Errorf("custom order: %v", res.Records)
	}
}

func TestBadLines(t *testing.T) {
	b, _ := os.ReadFile("testdata/bad_lines.log")
	res := decode(t, bytes.NewReader(b))
	if len(res.Records) != 2 || len(res.RecordErrors) != 5 {
		t.Fatalf("records %d, errors %d: %v", len(res.Records), len(res.RecordErrors), res.RecordErrors)
	}
	for i, want := range []string{"has 13 fields but the header names 14", "has 15 fields", "srcport: \"http\" is not a number", "not an IP address", "start: \"yesterday\" is not epoch seconds"} {
		if !strings.Contains(res.RecordErrors[i].Reason, want) {
			t.Errorf("error %d = %q, want it to say %q", i, res.RecordErrors[i].Reason, want)
		}
	}
	b, _ = os.ReadFile("testdata/no_header.log")
	res = decode(t, bytes.NewReader(b))
	if len(res.RecordErrors) != 1 || !strings.Contains(res.RecordErrors[0].Reason, "no header") {
		t.Errorf("no header: %v", res.RecordErrors)
	}
}

type flowRow struct {
	Version     int32   `parquet:"version"`
	AccountID   string  `parquet:"account_id"`
	InterfaceID string  `parquet:"interface_id"`
	Srcaddr     *string `parquet:"srcaddr,optional"`
	Dstaddr     *string `parquet:"dstaddr,optional"`
	Srcport     *int32  `parquet:"srcport,optional"`
	Dstport     *int32  `parquet:"dstport,optional"`
	Protocol    *int32  `parquet:"protocol,optional"`
	Packets     *int64  `parquet:"packets,optional"`
	Bytes       *int64  `parquet:"bytes,optional"`
	Start       int64   `parquet:"start"`
	End         int64   `parquet:"end"`
	Action      *string `parquet:"action,optional"`
	LogStatus   string  `parquet:"log_status"`
}

func ptr[T any](v T) *T { return &v }

// TestParquetMatchesText: the same flows delivered as Parquet decode to the
// same records as the text format.
func TestParquetMatchesText(t *testing.T) {
	rows := []flowRow{
		{2, "123456789010", "eni-1235b8ca123456789", ptr("172.31.16.139"), ptr("172.31.16.21"), ptr[int32](20641), ptr[int32](22), ptr[int32](6), ptr[int64](20), ptr[int64](4249), 1418530010, 1418530070, ptr("ACCEPT"), "OK"},
		{2, "123456789010", "eni-1235b8ca123456789", nil, nil, nil, nil, nil, nil, nil, 1431280876, 1431280934, nil, "NODATA"},
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[flowRow](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pq := decode(t, &buf)
	text := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n" +
		"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n" +
		"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA\n"
	tx := decode(t, strings.NewReader(text))
	if len(pq.Records) != 2 || len(tx.Records) != 2 {
		t.Fatalf("parquet %d records (%v), text %d", len(pq.Records), pq.ObjectError, len(tx.Records))
	}
	for i := range tx.Records {
		for k, v := range tx.Records[i] {
			if k == "raw.sha256" {
				continue
			}
			if pq.Records[i][k] != v {
				t.Errorf("record %d %s: parquet %v, text %v", i, k, pq.Records[i][k], v)
			}
		}
	}
	// A corrupt Parquet object is an object error, not a crash.
	bad := append([]byte("PAR1"), bytes.Repeat([]byte{0xff}, 100)...)
	if res := decode(t, bytes.NewReader(bad)); res.ObjectError == "" {
		t.Error("corrupt parquet: no object error")
	}
}

func TestKeyLayouts(t *testing.T) {
	for k, want := range map[string][2]string{
		"AWSLogs/123456789012/vpcflowlogs/us-east-2/2024/05/01/x.log.gz":                                                        {"123456789012", "us-east-2"},
		"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=ap-south-1/year=2024/month=05/day=01/hour=03/x": {"123456789012", "ap-south-1"},
	} {
		d := NewDecoder(strings.NewReader(""), k)
		if d.acct != want[0] || d.region != want[1] {
			t.Errorf("%s: account %q region %q", k, d.acct, d.region)
		}
	}
}

func unix(n int64) string { return time.Unix(n, 0).UTC().Format(time.RFC3339Nano) }

func fieldName(i int) string { return interflow.Traffic().Fields[i].Name }

// TestSplitFields: the space-only fast path and the loop for lines with
// tabs split as strings.FieldsFunc does on spaces and tabs.
func TestSplitFields(t *testing.T) {
	sep := func(r rune) bool { return r == ' ' || r == '\t' }
	for _, line := range []string{"", " ", "a", "a b", "  a  b  ", "2 123 eni-1 - ACCEPT OK", "a\tb c", "\t\ta\t \tb\t", "a b\t"} {
		var got []string
		for _, f := range splitFields(nil, []byte(line)) {
			got = append(got, string(f))
		}
		want := strings.FieldsFunc(line, sep)
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("%q: %q, want %q", line, got, want)
		}
	}
}
