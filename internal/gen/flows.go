package gen

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Counted is a generated object with counts a test can check a query
// against.
type Counted struct {
	Object
	// Matches counts records by a notable value: "REJECT" for flows,
	// "BLOCK" for WAF.
	Matches int
}

// FlowSpec describes generated VPC flow log objects.
type FlowSpec struct {
	Seed          uint64
	Account       string
	Region        string
	Start         time.Time
	Span          time.Duration
	Objects       int
	RecordsPerObj int
	// Fields is the flow log format; empty means the v2 default.
	Fields []string
	// Hive lays keys out as aws-account-id=/aws-service=/aws-region=/year=/...
	Hive bool
	// Scans is how many objects (spread over the span) hold a port scan:
	// one record in three is Attacker rejected on a port of its own, all
	// within a minute (32 ports in 100 records), enough for the built-in
	// rule trawl-vpc-001 (20 ports in 5 minutes).
	Scans int
}

// Attacker is the source address of the planted port scans and SQL
// injection bursts.
const Attacker = "185.220.101.47"

// holdsAttack reports whether object i of n is one of the k (spread over the
// objects, none at the very start) that hold a planted attack.
func holdsAttack(i, n, k int) bool {
	if k <= 0 {
		return false
	}
	step := max(n/k, 1)
	return i%step == step/2
}

// DefaultFlowFields is the v2 default format.
var DefaultFlowFields = strings.Fields("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status")

// FlowKey returns the S3 key AWS uses for a flow log object.
func FlowKey(spec FlowSpec, t time.Time, rnd string) string {
	t = t.UTC()
	name := fmt.Sprintf("%s_vpcflowlogs_%s_fl-0123456789abcdef0_%s_%s.log.gz", spec.Account, spec.Region, t.Format("20060102T1504Z"), rnd)
	if spec.Hive {
		return fmt.Sprintf("AWSLogs/aws-account-id=%s/aws-service=vpcflowlogs/aws-region=%s/year=%s/month=%s/day=%s/hour=%s/%s",
			spec.Account, spec.Region, t.Format("2006"), t.Format("01"), t.Format("02"), t.Format("15"), name)
	}
	return fmt.Sprintf("AWSLogs/%s/vpcflowlogs/%s/%s/%s", spec.Account, spec.Region, t.Format("2006/01/02"), name)
}

// VPCFlow generates flow log objects: a header line, then records, with
// NODATA records and rejected scans mixed in.
func VPCFlow(spec FlowSpec) []Counted {
	r := rand.New(rand.NewPCG(spec.Seed, 0xf10f))
	fields := spec.Fields
	if len(fields) == 0 {
		fields = DefaultFlowFields
	}
	var out []Counted
	for i := 0; i < spec.Objects; i++ {
		t0 := spec.Start.Add(time.Duration(float64(spec.Span) * float64(i) / float64(max(spec.Objects, 1))))
		var b strings.Builder
		b.WriteString(strings.Join(fields, " ") + "\n")
		rejects := 0
		scan := holdsAttack(i, spec.Objects, spec.Scans)
		for j := 0; j < spec.RecordsPerObj; j++ {
			start := t0.Add(time.Duration(j%60) * time.Second).Unix()
			v := map[string]string{
				"version": "2", "account-id": spec.Account, "interface-id": fmt.Sprintf("eni-%017x", r.Uint64()%8),
				"srcaddr": fmt.Sprintf("10.0.%d.%d", r.IntN(4), 1+r.IntN(250)), "dstaddr": fmt.Sprintf("10.1.%d.%d", r.IntN(4), 1+r.IntN(250)),
				"srcport": fmt.Sprint(1024 + r.IntN(60000)), "dstport": []string{"443", "80", "22", "3389", "53", "5432"}[r.IntN(6)],
				"protocol": "6", "packets": fmt.Sprint(1 + r.IntN(100)), "bytes": fmt.Sprint(40 + r.IntN(100000)),
				"start": fmt.Sprint(start), "end": fmt.Sprint(start + 60), "action": "ACCEPT", "log-status": "OK",
				"vpc-id": "vpc-0abc", "subnet-id": "subnet-0abc", "instance-id": "i-0abc", "tcp-flags": "19", "type": "IPv4",
				"region": spec.Region, "flow-direction": "ingress",
			}
			switch {
			case j%17 == 0:
				for _, k := range []string{"srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "action"} {
					v[k] = "-"
				}
				v["log-status"] = "NODATA"
			case scan && j%3 == 0:
				v["srcaddr"], v["action"], v["dstport"] = Attacker, "REJECT", fmt.Sprint(1000+j)
				rejects++
			case j%5 == 0:
				v["srcaddr"] = fmt.Sprintf("203.0.113.%d", 1+r.IntN(250))
				v["action"] = "REJECT"
				v["dstport"] = "22"
				rejects++
			}
			vals := make([]string, len(fields))
			for k, f := range fields {
				if s, ok := v[f]; ok {
					vals[k] = s
				} else {
					vals[k] = "-"
				}
			}
			b.WriteString(strings.Join(vals, " ") + "\n")
		}
		out = append(out, Counted{Object: Object{Key: FlowKey(spec, t0, fmt.Sprintf("%08x", r.Uint32())), Body: gzBytes([]byte(b.String())), Records: spec.RecordsPerObj}, Matches: rejects})
	}
	return out
}

// WAFSpec describes generated WAF log objects.
type WAFSpec struct {
	Seed          uint64
	Account       string
	Region        string
	WebACL        string
	Start         time.Time
	Span          time.Duration
	Objects       int
	RecordsPerObj int
	// Concatenated writes records with no newline between them.
	Concatenated bool
	// Plain writes text instead of gzip.
	Plain bool
	// Bursts is how many objects (spread over the span) block one in three
	// requests as SQL injection from Attacker instead of one in seven:
	// more than ten within a minute, enough for the built-in rule
	// trawl-waf-001.
	Bursts int
}

// WAF generates WAF log objects under AWSLogs/<acct>/WAFLogs/<region>/<acl>/YYYY/MM/DD/HH/mm/.
func WAF(spec WAFSpec) []Counted {
	r := rand.New(rand.NewPCG(spec.Seed, 0x3af))
	var out []Counted
	for i := 0; i < spec.Objects; i++ {
		t0 := spec.Start.Add(time.Duration(float64(spec.Span) * float64(i) / float64(max(spec.Objects, 1)))).UTC()
		var b bytes.Buffer
		blocks := 0
		var planted []Planted
		burst := holdsAttack(i, spec.Objects, spec.Bursts)
		for j := 0; j < spec.RecordsPerObj; j++ {
			action, rule, rtype := "ALLOW", "Default_Action", "REGULAR"
			uri := []string{"/", "/products", "/cart", "/api/items"}[r.IntN(4)]
			ip := fmt.Sprintf("198.51.100.%d", 1+r.IntN(250))
			var labels []map[string]string
			switch {
			case j%7 == 0 || burst && j%3 == 0:
				action, rule, rtype = "BLOCK", "AWS-AWSManagedRulesSQLiRuleSet", "MANAGED_RULE_GROUP"
				uri = "/login"
				ip = Attacker
				labels = append(labels, map[string]string{"name": "awswaf:managed:aws:sql-database:SQLi_QueryArguments"})
				blocks++
				planted = append(planted, Planted{EventName: "SQLiBlocked", Time: t0.Add(time.Duration(j) * time.Second)})
			case j%11 == 0:
				action, rule = "COUNT", "rate-limit"
			}
			rec := map[string]any{
				"timestamp": t0.Add(time.Duration(j) * time.Second).UnixMilli(), "formatVersion": 1,
				"webaclId":          fmt.Sprintf("arn:aws:wafv2:%s:%s:regional/webacl/%s/%08x", spec.Region, spec.Account, spec.WebACL, spec.Seed),
				"terminatingRuleId": rule, "terminatingRuleType": rtype, "action": action, "terminatingRuleMatchDetails": []any{},
				"httpSourceName": "ALB", "httpSourceId": spec.Account + "-app/shop/1", "ruleGroupList": []any{}, "rateBasedRuleList": []any{},
				"nonTerminatingMatchingRules": []any{}, "requestHeadersInserted": nil, "responseCodeSent": nil,
				"httpRequest": map[string]any{"clientIp": ip, "country": []string{"US", "DE", "CN", "BR"}[r.IntN(4)],
					"headers": []map[string]string{{"name": "Host", "value": "shop.example.com"}, {"name": "User-Agent", "value": "Mozilla/5.0"}},
					"uri":     uri, "args": fmt.Sprintf("id=%d", r.IntN(1000)), "httpVersion": "HTTP/1.1", "httpMethod": "GET",
					"requestId": fmt.Sprintf("%016x", r.Uint64())},
				"labels": labels,
			}
			line, _ := json.Marshal(rec)
			b.Write(line)
			if !spec.Concatenated {
				b.WriteByte('\n')
			}
		}
		name := fmt.Sprintf("%s_waflogs_%s_%s_%s_%08x.log", spec.Account, spec.Region, spec.WebACL, t0.Format("20060102T1504Z"), r.Uint32())
		body := b.Bytes()
		if !spec.Plain {
			name += ".gz"
			body = gzBytes(body)
		}
		key := fmt.Sprintf("AWSLogs/%s/WAFLogs/%s/%s/%s/%s", spec.Account, spec.Region, spec.WebACL, t0.Format("2006/01/02/15/04"), name)
		out = append(out, Counted{Object: Object{Key: key, Body: body, Records: spec.RecordsPerObj, Planted: planted}, Matches: blocks})
	}
	return out
}

func gzBytes(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}
