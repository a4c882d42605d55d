package gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// ResolverSpec describes generated Route 53 Resolver query log objects.
type ResolverSpec struct {
	Seed          uint64
	Account       string
	Region        string
	VPC           string
	Start         time.Time
	Span          time.Duration
	Objects       int
	RecordsPerObj int
	// Blocks is how many objects (spread over the span) hold one query
	// DNS Firewall blocked, for the built-in rule trawl-dns-001.
	Blocks int
}

// ResolverDomain is the domain the generated queries that DNS Firewall
// blocks ask for: Matches counts them.
const ResolverDomain = "c2.badexample.net."

// Resolver generates query log objects under
// AWSLogs/<acct>/vpcdnsquerylogs/<vpc>/YYYY/MM/DD/, one JSON document per
// line, gzip-compressed, with AWS's field names (version 1.1).
func Resolver(spec ResolverSpec) []Counted {
	r := rand.New(rand.NewPCG(spec.Seed, 0xd75))
	names := []string{"example.com.", "api.example.com.", "s3.us-east-1.amazonaws.com.", "sts.amazonaws.com.", "nonexistent.example."}
	var out []Counted
	for i := 0; i < spec.Objects; i++ {
		t0 := spec.Start.Add(time.Duration(float64(spec.Span) * float64(i) / float64(max(spec.Objects, 1)))).UTC()
		var b bytes.Buffer
		blocked := 0
		for j := 0; j < spec.RecordsPerObj; j++ {
			name := names[r.IntN(len(names))]
			rec := map[string]any{"version": "1.100000", "account_id": spec.Account, "region": spec.Region, "vpc_id": spec.VPC,
				"query_timestamp": t0.Add(time.Duration(j) * time.Second).Format(time.RFC3339), "query_name": name, "query_type": "A",
				"query_class": "IN", "rcode": "NOERROR", "answers": []map[string]string{{"Rdata": fmt.Sprintf("203.0.113.%d", 1+r.IntN(250)), "Type": "A", "Class": "IN"}},
				"srcaddr": fmt.Sprintf("10.0.%d.%d", r.IntN(4), 2+r.IntN(250)), "srcport": fmt.Sprint(1024 + r.IntN(60000)), "transport": "UDP",
				"srcids": map[string]string{"instance": fmt.Sprintf("i-%017x", r.Uint64()&0xfffffffffffffff)}}
			switch {
			case name == "nonexistent.example.":
				rec["rcode"], rec["answers"] = "NXDOMAIN", []any{}
			case j == 0 && holdsAttack(i, spec.Objects, spec.Blocks):
				rec["query_name"], rec["query_type"], rec["answers"] = ResolverDomain, "TXT", []any{}
				rec["firewall_rule_group_id"], rec["firewall_rule_action"], rec["firewall_domain_list_id"] = "rslvr-frg-0123456789abcdef", "BLOCK", "rslvr-fdl-0123456789abcdef"
				blocked++
			}
			line, _ := json.Marshal(rec)
			b.Write(line)
			b.WriteByte('\n')
		}
		name := fmt.Sprintf("%s_vpcdnsquerylogs_%s_%s_%08x.log.gz", spec.Account, spec.VPC, t0.Format("20060102T1504Z"), r.Uint32())
		key := fmt.Sprintf("AWSLogs/%s/vpcdnsquerylogs/%s/%s/%s", spec.Account, spec.VPC, t0.Format("2006/01/02"), name)
		out = append(out, Counted{Object: Object{Key: key, Body: gzBytes(b.Bytes()), Records: spec.RecordsPerObj}, Matches: blocked})
	}
	return out
}
