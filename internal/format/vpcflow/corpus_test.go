package vpcflow

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trawlhq/trawl/internal/format/formattest"
)

// TestCorpus decodes every VPC flow sample in ../shared/corpus and checks
// values against expected outputs where the corpus has them.
func TestCorpus(t *testing.T) {
	corpus := formattest.CorpusDir(t)
	otel := filepath.Join(corpus, "otel-contrib/extension/encoding/awslogsencodingextension/internal/unmarshaler/vpc-flow-log/testdata")
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("corpus file missing: %v", err)
		}
		return b
	}
	cases := []struct {
		name     string
		data     []byte
		records  int
		rejected int
	}{
		{"otel-valid", read(filepath.Join(otel, "valid_vpc_flow_log.log")), 1, 0},
		{"otel-multi", read(filepath.Join(otel, "valid_vpc_flow_log_multi.log")), 2, 0},
		{"otel-ecs", read(filepath.Join(otel, "valid_vpc_flow_log_ecs.log")), 1, 0},
		{"otel-tgw", read(filepath.Join(otel, "valid_tgw_flow_log.log")), 1, 0},
		{"otel-too-few", read(filepath.Join(otel, "vpc_flow_log_too_few_fields.log")), 0, 1},
		{"otel-too-many", read(filepath.Join(otel, "vpc_flow_log_too_many_fields.log")), 0, 1},
		{"clo-vpcflow", read(filepath.Join(corpus, "centralized-logging-with-opensearch/source/constructs/lambda/pipeline/log-processor/test/datafile/vpcflow.log")), -1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := decode(t, bytes.NewReader(c.data))
			if res.ObjectError != "" {
				t.Fatalf("object error %s", res.ObjectError)
			}
			if c.records >= 0 && len(res.Records) != c.records || len(res.RecordErrors) != c.rejected {
				t.Errorf("records %d (want %d), rejected %d (want %d): %v", len(res.Records), c.records, len(res.RecordErrors), c.rejected, res.RecordErrors)
			}
			if c.records < 0 && len(res.Records) == 0 {
				t.Error("no records")
			}
			formattest.Golden(t, filepath.Join("testdata", "corpus", c.name+".golden"), res)
		})
	}

	// Values against the other product's expected output.
	_, want := formattest.OTelExpected(t, filepath.Join(otel, "valid_vpc_flow_log_expected_multi.yaml"))
	res := decode(t, bytes.NewReader(read(filepath.Join(otel, "valid_vpc_flow_log_multi.log"))))
	if len(want) != len(res.Records) {
		t.Fatalf("expected %d records, decoded %d", len(want), len(res.Records))
	}
	names := map[string]string{"aws.vpc.flow.log.version": "version", "network.interface.name": "interface_id", "source.port": "srcport",
		"destination.port": "dstport", "network.protocol.name": "proto_name", "aws.vpc.flow.packets": "packets", "aws.vpc.flow.bytes": "bytes",
		"aws.vpc.flow.action": "action", "aws.vpc.flow.status": "log_status", "source.address": "srcip", "destination.address": "dstip"}
	checked := 0
	for i, w := range want {
		for otelName, ours := range names {
			if v, ok := w[otelName]; ok {
				checked++
				if got := fmt.Sprint(res.Records[i][ours]); got != v {
					t.Errorf("record %d %s = %s, expected %s (%s)", i, ours, got, v, otelName)
				}
			}
		}
		if s, ok := w["aws.vpc.flow.start"]; ok {
			n, _ := strconv.ParseInt(s, 10, 64)
			if got := res.Records[i]["start"]; got != unix(n) {
				t.Errorf("record %d start = %v, expected %v", i, got, unix(n))
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d values compared", checked)
	}

	// AWS documentation examples: each line with its format string.
	f, err := os.Open(filepath.Join(corpus, "awsdocs/derived/vpcflow-doc-examples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var ex struct{ Format, Line string }
		if err := json.Unmarshal(sc.Bytes(), &ex); err != nil {
			t.Fatal(err)
		}
		n++
		// Documentation annotates some lines with a trailing "#comment".
		line, _, _ := strings.Cut(ex.Line, " #")
		checkLine(t, ex.Format, line)
	}
	if n < 20 {
		t.Errorf("only %d documentation examples", n)
	}

	// Vector's VRL examples: format, line and parsed values.
	var vrl struct {
		Examples []struct {
			Source string         `json:"source"`
			Return map[string]any `json:"return"`
		} `json:"examples"`
	}
	if err := json.Unmarshal(read(filepath.Join(corpus, "vrl/docs/generated/parse_aws_vpc_flow_log.json")), &vrl); err != nil {
		t.Fatal(err)
	}
	for _, ex := range vrl.Examples {
		line, fmtStr := vrlArgs(ex.Source)
		if line == "" {
			continue
		}
		if fmtStr == "" {
			fmtStr = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
		}
		rec := checkLine(t, fmtStr, line)
		for k, v := range ex.Return {
			col, ok := columns[canonical(k)]
			if !ok || v == nil {
				continue
			}
			name := fieldName(col.field)
			got := rec[name]
			if col.kind == kTime {
				if got != unix(int64(v.(float64))) {
					t.Errorf("vrl %s: %s = %v, want %v", line, name, got, v)
				}
				continue
			}
			if fmt.Sprint(got) != fmt.Sprint(v) {
				t.Errorf("vrl %s: %s = %v, want %v", line, name, got, v)
			}
		}
	}
}

// checkLine decodes one line with its format and checks every field holds
// the token at its position ('-' absent).
func checkLine(t *testing.T, format, line string) map[string]any {
	t.Helper()
	res := decode(t, strings.NewReader(format+"\n"+line+"\n"))
	if len(res.Records) != 1 {
		t.Errorf("%q with %q: %v %s", line, format, res.RecordErrors, res.ObjectError)
		return nil
	}
	rec := res.Records[0]
	names := strings.Fields(format)
	toks := strings.Fields(line)
	for i, n := range names {
		col, ok := columns[canonical(n)]
		if !ok {
			continue
		}
		got, has := rec[fieldName(col.field)]
		if toks[i] == "-" {
			if has && col.field != 0 {
				t.Errorf("%s: '-' stored as %v", n, got)
			}
			continue
		}
		switch col.kind {
		case kTime:
			v, _ := strconv.ParseInt(toks[i], 10, 64)
			if got != unix(v) {
				t.Errorf("%s = %v, want %s", n, got, toks[i])
			}
		default:
			if fmt.Sprint(got) != toks[i] {
				t.Errorf("%s = %v, want %s", n, got, toks[i])
			}
		}
	}
	return rec
}

func vrlArgs(src string) (line, format string) {
	parts := strings.Split(src, `"`)
	// parse_aws_vpc_flow_log!("LINE"[, "FORMAT"])
	if len(parts) >= 2 {
		line = parts[1]
	}
	if len(parts) >= 4 {
		format = parts[3]
	}
	return line, format
}
