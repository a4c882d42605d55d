package gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// GuardDutySpec describes generated GuardDuty findings export objects.
type GuardDutySpec struct {
	Seed          uint64
	Account       string
	Region        string
	Start         time.Time
	Span          time.Duration
	Objects       int
	RecordsPerObj int
	// Highs is how many objects (spread over the span) also hold one High
	// severity finding (severity 8: a command and control connection),
	// for the built-in rule trawl-gd-001. It is counted in the object's
	// Records and Matches; every other finding is Low or Medium.
	Highs int
}

// GuardDutyHighType is the finding type of the planted High findings.
const GuardDutyHighType = "Backdoor:EC2/C&CActivity.B"

// guardDutyKind is one kind of generated finding: its type, severity and
// the action GuardDuty reports.
type guardDutyKind struct {
	typ    string
	sev    float64
	action func(r *rand.Rand) map[string]any
	title  string
}

func gdRemote(ip string) map[string]any {
	return map[string]any{"ipAddressV4": ip, "organization": map[string]any{"asn": "64500", "asnOrg": "EXAMPLE-AS", "isp": "Example ISP", "org": "Example Hosting"},
		"country": map[string]any{"countryName": "Netherlands"}, "city": map[string]any{"cityName": "Amsterdam"}, "geoLocation": map[string]any{"lat": 52.37, "lon": 4.89}}
}

func gdIP(r *rand.Rand) string { return fmt.Sprintf("198.51.100.%d", 1+r.IntN(250)) }

// guardDutyKinds are the Low and Medium findings generated.
func guardDutyKinds() []guardDutyKind {
	return []guardDutyKind{
		{"Recon:EC2/PortProbeUnprotectedPort", 2, func(r *rand.Rand) map[string]any {
			return map[string]any{"actionType": "PORT_PROBE", "portProbeAction": map[string]any{"blocked": false, "portProbeDetails": []any{map[string]any{
				"localPortDetails": map[string]any{"port": 22, "portName": "SSH"}, "localIpDetails": map[string]any{"ipAddressV4": "10.0.0.23"}, "remoteIpDetails": gdRemote(gdIP(r))}}}}
		}, "Unprotected port on EC2 instance %s is being probed."},
		{"UnauthorizedAccess:EC2/SSHBruteForce", 2, func(r *rand.Rand) map[string]any {
			return map[string]any{"actionType": "NETWORK_CONNECTION", "networkConnectionAction": map[string]any{"connectionDirection": "INBOUND", "protocol": "TCP", "blocked": false,
				"remoteIpDetails": gdRemote(gdIP(r)), "remotePortDetails": map[string]any{"port": 1024 + r.IntN(60000), "portName": "Unknown"},
				"localPortDetails": map[string]any{"port": 22, "portName": "SSH"}, "localIpDetails": map[string]any{"ipAddressV4": "10.0.0.23"}}}
		}, "SSH brute force attacks against %s."},
		{"Recon:IAMUser/MaliciousIPCaller", 5, func(r *rand.Rand) map[string]any {
			return map[string]any{"actionType": "AWS_API_CALL", "awsApiCallAction": map[string]any{"api": []string{"ListBuckets", "DescribeInstances", "GetCallerIdentity"}[r.IntN(3)],
				"serviceName": "ec2.amazonaws.com", "callerType": "Remote IP", "remoteIpDetails": gdRemote(gdIP(r))}}
		}, "Reconnaissance API was invoked from a known malicious IP address against %s."},
		{"Trojan:EC2/DNSDataExfiltration", 5, func(r *rand.Rand) map[string]any {
			return map[string]any{"actionType": "DNS_REQUEST", "dnsRequestAction": map[string]any{"domain": fmt.Sprintf("%08x.exfil.example.net", r.Uint32()), "protocol": "UDP", "blocked": false}}
		}, "Data exfiltration through DNS queries from %s."},
	}
}

// guardDutyHigh is the planted High finding.
func guardDutyHigh() guardDutyKind {
	return guardDutyKind{GuardDutyHighType, 8, func(r *rand.Rand) map[string]any {
		return map[string]any{"actionType": "NETWORK_CONNECTION", "networkConnectionAction": map[string]any{"connectionDirection": "OUTBOUND", "protocol": "TCP", "blocked": false,
			"remoteIpDetails": gdRemote(Attacker), "remotePortDetails": map[string]any{"port": 443, "portName": "HTTPS"},
			"localPortDetails": map[string]any{"port": 49152 + r.IntN(1000), "portName": "Unknown"}, "localIpDetails": map[string]any{"ipAddressV4": "10.0.0.23"}}}
	}, "EC2 instance %s is communicating with a command and control server."}
}

// GuardDuty generates findings export objects under
// AWSLogs/<acct>/GuardDuty/<region>/YYYY/MM/DD/<uuid>.jsonl.gz, one finding
// per line in the API's camelCase, gzip-compressed, as GuardDuty exports
// them. One finding in five is an update of an earlier one: the same id,
// a later updatedAt and a greater count, as GuardDuty exports a finding
// again when it aggregates new occurrences.
func GuardDuty(spec GuardDutySpec) []Counted {
	r := rand.New(rand.NewPCG(spec.Seed, 0x6d))
	detector := fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
	kinds := guardDutyKinds()
	type seen struct {
		id, instance string
		kind         guardDutyKind
		created      time.Time
		count        int
	}
	newFinding := func(kind guardDutyKind, at time.Time) seen {
		return seen{id: fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64()), instance: fmt.Sprintf("i-%017x", r.Uint64()&0xfffffffffffffff), kind: kind, created: at, count: 1}
	}
	var earlier []seen
	var out []Counted
	for i := 0; i < spec.Objects; i++ {
		t0 := spec.Start.Add(time.Duration(float64(spec.Span) * float64(i) / float64(max(spec.Objects, 1)))).UTC()
		var b bytes.Buffer
		n, highs := 0, 0
		write := func(f seen, at time.Time) {
			finding := map[string]any{"schemaVersion": "2.0", "accountId": spec.Account, "region": spec.Region, "partition": "aws", "id": f.id,
				"arn": fmt.Sprintf("arn:aws:guardduty:%s:%s:detector/%s/finding/%s", spec.Region, spec.Account, detector, f.id), "type": f.kind.typ,
				"resource": map[string]any{"resourceType": "Instance", "instanceDetails": map[string]any{"instanceId": f.instance, "instanceType": "t3.medium",
					"networkInterfaces": []any{map[string]any{"privateIpAddress": "10.0.0.23", "subnetId": "subnet-0a1b2c3d4e5f60718", "vpcId": "vpc-0a1b2c3d4e5f60718"}}}},
				"service": map[string]any{"serviceName": "guardduty", "detectorId": detector, "action": f.kind.action(r), "resourceRole": "TARGET",
					"eventFirstSeen": f.created.Format(time.RFC3339), "eventLastSeen": at.Format(time.RFC3339), "archived": false, "count": f.count},
				"severity": f.kind.sev, "createdAt": f.created.Format("2006-01-02T15:04:05.000Z"), "updatedAt": at.Format("2006-01-02T15:04:05.000Z"),
				"title": fmt.Sprintf(f.kind.title, f.instance), "description": fmt.Sprintf(f.kind.title, f.instance)}
			line, _ := json.Marshal(finding)
			b.Write(line)
			b.WriteByte('\n')
			n++
		}
		for j := 0; j < spec.RecordsPerObj; j++ {
			at := t0.Add(time.Duration(j) * 5 * time.Minute / time.Duration(max(spec.RecordsPerObj, 1)))
			if len(earlier) > 0 && r.IntN(5) == 0 {
				k := r.IntN(len(earlier))
				earlier[k].count += 1 + r.IntN(4)
				write(earlier[k], at)
				continue
			}
			f := newFinding(kinds[r.IntN(len(kinds))], at)
			earlier = append(earlier, f)
			write(f, at)
		}
		if holdsAttack(i, spec.Objects, spec.Highs) {
			at := t0.Add(time.Second)
			write(newFinding(guardDutyHigh(), at), at)
			highs++
		}
		uuid := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&0xffffffffffff)
		key := fmt.Sprintf("AWSLogs/%s/GuardDuty/%s/%s/%s.jsonl.gz", spec.Account, spec.Region, t0.Format("2006/01/02"), uuid)
		out = append(out, Counted{Object: Object{Key: key, Body: gzBytes(b.Bytes()), Records: n}, Matches: highs})
	}
	return out
}
