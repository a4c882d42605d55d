package gen

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

func lines(t *testing.T, o Object) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(o.Body))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// TestPlantedScansCrossTheRule: each of the objects Scans asks for holds
// one source rejected on at least 20 distinct ports within a minute (the
// built-in port-scan rule's threshold); the others hold no scan.
func TestPlantedScansCrossTheRule(t *testing.T) {
	start := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	objs := VPCFlow(FlowSpec{Seed: 42, Account: "111122223333", Region: "us-east-1", Start: start, Span: 22 * time.Hour, Objects: 96, RecordsPerObj: 100, Scans: 2})
	scans := 0
	for _, o := range objs {
		ports := map[string]bool{}
		first, last := -1, -1
		for _, l := range lines(t, o.Object)[1:] {
			f := strings.Fields(l) // the v2 default: srcaddr 3, dstport 6, start 10, action 12
			if f[3] != Attacker || f[12] != "REJECT" {
				continue
			}
			ports[f[6]] = true
			at, err := strconv.Atoi(f[10])
			if err != nil {
				t.Fatal(err)
			}
			if first < 0 || at < first {
				first = at
			}
			last = max(last, at)
		}
		if len(ports) >= 20 {
			scans++
			if last-first >= 60 {
				t.Errorf("%s: the scan spans %d s, a minute or more", o.Key, last-first)
			}
		} else if len(ports) > 0 {
			t.Errorf("%s: %d ports from %s, neither a scan nor none", o.Key, len(ports), Attacker)
		}
	}
	if scans != 2 {
		t.Errorf("%d objects hold a port scan, want 2", scans)
	}
}

// TestPlantedBurstsCrossTheRule: each of the objects Bursts asks for holds
// more than ten requests from one client blocked by the SQL injection rule
// within a minute (the built-in burst rule's threshold); none of the
// others does, and the planted steps say so.
func TestPlantedBurstsCrossTheRule(t *testing.T) {
	start := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	objs := WAF(WAFSpec{Seed: 42, Account: "111122223333", Region: "us-east-1", WebACL: "shop-acl", Start: start, Span: 22 * time.Hour, Objects: 48, RecordsPerObj: 50, Bursts: 2})
	bursts := 0
	var all []Object
	for _, o := range objs {
		all = append(all, o.Object)
		n := 0
		for _, l := range lines(t, o.Object) {
			var rec struct {
				Action            string `json:"action"`
				TerminatingRuleID string `json:"terminatingRuleId"`
				HTTPRequest       struct {
					ClientIP string `json:"clientIp"`
				} `json:"httpRequest"`
			}
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Action == "BLOCK" && strings.Contains(rec.TerminatingRuleID, "SQLi") && rec.HTTPRequest.ClientIP == Attacker {
				n++
			}
		}
		if n != len(o.Planted) {
			t.Errorf("%s: %d blocked injections, %d planted steps", o.Key, n, len(o.Planted))
		}
		if n > 10 {
			bursts++
		}
	}
	if bursts != 2 || len(expectedBursts(all)) != 2 {
		t.Errorf("%d objects hold a burst and %d bursts are expected, want 2", bursts, len(expectedBursts(all)))
	}
}
