package gen

import (
	"bytes"
	"fmt"
	"sort"
	"time"
)

// MixedSpec describes a bucket holding all three sub types, with the bad
// cases Trawl must quarantine.
type MixedSpec struct {
	Seed          uint64
	Account       string
	Region        string
	Start         time.Time
	Span          time.Duration
	Objects       int // per sub type
	RecordsPerObj int
	PadBytes      int  // CloudTrail record padding
	Bad           bool // add a corrupt object, a truncated one and a bad line
}

// Manifest is the ground truth of a generated bucket.
type Manifest struct {
	Seed    uint64         `json:"seed"`
	Records map[string]int `json:"records"` // by sub type
	Objects map[string]int `json:"objects"` // by sub type
	// Quarantine is what must end up quarantined: scope and key.
	Quarantine []QuarantineCase `json:"quarantine"`
	// Prefixes are the connector prefixes, by sub type.
	Prefixes map[string]string `json:"prefixes"`
	// PublicKeyFingerprint names the key that signed the digests, if any
	// (its public key is in the --public-keys-out file).
	PublicKeyFingerprint string `json:"public_key_fingerprint,omitempty"`
	// Alerts are what the built-in detection rules must raise over the
	// planted attacks, and nothing else: a rule id and its five-minute
	// window (a single-event rule's).
	Alerts []ExpectedAlert `json:"alerts"`
}

// ExpectedAlert is one alert the planted attacks must raise.
type ExpectedAlert struct {
	RuleID string    `json:"rule_id"`
	Window time.Time `json:"window_start"`
	// Windowed: a count rule's, raised on schedule once its window
	// closed; the others are raised at ingest, whatever their window.
	Windowed bool `json:"windowed,omitempty"`
}

// plantedRules says which built-in rule each planted step is written to
// trip (the step's fields are chosen for it in attackRecord): a console
// sign-in without MFA, AdministratorAccess attached, logging stopped.
var plantedRules = map[string]string{"ConsoleLogin": "trawl-ct-002", "AttachUserPolicy": "trawl-ct-016", "StopLogging": "trawl-ct-003"}

// expectedBursts lists the WAF SQL injection bursts the planted blocks
// make: more than 10 from the attacker's address in a five-minute window
// (the built-in rule trawl-waf-001).
func expectedBursts(objs []Object) []ExpectedAlert {
	n := map[time.Time]int{}
	for _, o := range objs {
		for _, p := range o.Planted {
			n[p.Time.UTC().Truncate(5*time.Minute)]++
		}
	}
	var out []ExpectedAlert
	for w, c := range n {
		if c > 10 {
			out = append(out, ExpectedAlert{RuleID: "trawl-waf-001", Window: w, Windowed: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Window.Before(out[j].Window) })
	return out
}

// expectedAlerts lists one alert per rule and five-minute window holding a
// planted step.
func expectedAlerts(objs []Object) []ExpectedAlert {
	seen := map[ExpectedAlert]bool{}
	var out []ExpectedAlert
	for _, o := range objs {
		for _, p := range o.Planted {
			rule, ok := plantedRules[p.EventName]
			if !ok {
				continue
			}
			a := ExpectedAlert{RuleID: rule, Window: p.Time.UTC().Truncate(5 * time.Minute)}
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Window.Equal(out[j].Window) {
			return out[i].Window.Before(out[j].Window)
		}
		return out[i].RuleID < out[j].RuleID
	})
	return out
}

// QuarantineCase is one expected quarantine entry.
type QuarantineCase struct {
	SubType string `json:"sub_type"`
	Key     string `json:"key"`
	Scope   string `json:"scope"`
}

// Mixed generates the objects and their manifest, deterministically.
func Mixed(s MixedSpec) ([]Object, Manifest) {
	m := Manifest{Seed: s.Seed, Records: map[string]int{}, Objects: map[string]int{}, Prefixes: map[string]string{
		"cloudtrail":  "AWSLogs/" + s.Account + "/CloudTrail",
		"vpcflow":     "AWSLogs/" + s.Account + "/vpcflowlogs",
		"waf":         "AWSLogs/" + s.Account + "/WAFLogs",
		"r53resolver": "AWSLogs/" + s.Account + "/vpcdnsquerylogs",
		"alb":         "AWSLogs/" + s.Account + "/elasticloadbalancing",
		// S3 server access logs in the flat key format, named by time in
		// one folder (the layout whose listing must not grow with history).
		"s3access":  "s3-access-logs",
		"guardduty": "AWSLogs/" + s.Account + "/GuardDuty",
	}}
	var out []Object
	for _, o := range CloudTrail(CloudTrailSpec{Seed: s.Seed, Accounts: []string{s.Account}, Regions: []string{s.Region}, Start: s.Start, Span: s.Span,
		Objects: s.Objects, RecordsPerObj: s.RecordsPerObj, Attacks: true, PadBytes: s.PadBytes}) {
		out = append(out, o)
		m.Records["cloudtrail"] += o.Records
		m.Objects["cloudtrail"]++
	}
	m.Alerts = expectedAlerts(out)
	for _, f := range VPCFlow(FlowSpec{Seed: s.Seed, Account: s.Account, Region: s.Region, Start: s.Start, Span: s.Span, Objects: s.Objects, RecordsPerObj: s.RecordsPerObj}) {
		out = append(out, f.Object)
		m.Records["vpcflow"] += f.Records
		m.Objects["vpcflow"]++
	}
	var wafs []Object
	for _, w := range WAF(WAFSpec{Seed: s.Seed, Account: s.Account, Region: s.Region, WebACL: "acl", Start: s.Start, Span: s.Span, Objects: s.Objects, RecordsPerObj: s.RecordsPerObj}) {
		wafs = append(wafs, w.Object)
		out = append(out, w.Object)
		m.Records["waf"] += w.Records
		m.Objects["waf"]++
	}
	m.Alerts = append(m.Alerts, expectedBursts(wafs)...)
	for _, q := range Resolver(ResolverSpec{Seed: s.Seed, Account: s.Account, Region: s.Region, VPC: "vpc-0a1b2c3d4e5f60718", Start: s.Start, Span: s.Span,
		Objects: s.Objects, RecordsPerObj: s.RecordsPerObj, Blocks: 2}) {
		out = append(out, q.Object)
		m.Records["r53resolver"] += q.Records
		m.Objects["r53resolver"]++
	}
	for _, a := range ALB(ALBSpec{Seed: s.Seed, Account: s.Account, Region: s.Region, LB: "shop", Start: s.Start, Span: s.Span,
		Objects: s.Objects, RecordsPerObj: s.RecordsPerObj}) {
		out = append(out, a.Object)
		m.Records["alb"] += a.Records
		m.Objects["alb"]++
	}
	for _, a := range S3Access(S3AccessSpec{Seed: s.Seed, Account: s.Account, Region: s.Region, Bucket: "shop-assets", Prefix: "s3-access-logs/",
		Start: s.Start, Span: s.Span, Objects: s.Objects, RecordsPerObj: s.RecordsPerObj}) {
		out = append(out, a.Object)
		m.Records["s3access"] += a.Records
		m.Objects["s3access"]++
	}
	// Findings are few beside the logs: a tenth of the records per object.
	// The two High findings raise trawl-gd-001 when a guardduty connector
	// reads them (like the DNS blocks, they are not in m.Alerts, which
	// lists what the CloudTrail, VPC flow and WAF rules must raise).
	for _, g := range GuardDuty(GuardDutySpec{Seed: s.Seed, Account: s.Account, Region: s.Region, Start: s.Start, Span: s.Span,
		Objects: s.Objects, RecordsPerObj: max(s.RecordsPerObj/10, 1), Highs: 2}) {
		out = append(out, g.Object)
		m.Records["guardduty"] += g.Records
		m.Objects["guardduty"]++
	}
	if s.Bad {
		day := s.Start.UTC().Format("2006/01/02/")
		corrupt := Object{Key: fmt.Sprintf("AWSLogs/%s/CloudTrail/%s/%s%s_CloudTrail_%s_corrupt.json.gz", s.Account, s.Region, day, s.Account, s.Region),
			Body: append([]byte{0x1f, 0x8b, 8, 0}, bytes.Repeat([]byte{0xba, 0xd0}, 700)...)}
		out = append(out, corrupt)
		m.Objects["cloudtrail"]++
		m.Quarantine = append(m.Quarantine, QuarantineCase{"cloudtrail", corrupt.Key, "object"})

		whole := WAF(WAFSpec{Seed: s.Seed + 1, Account: s.Account, Region: s.Region, WebACL: "acl", Start: s.Start, Span: time.Minute, Objects: 1, RecordsPerObj: 20, Plain: true})[0]
		lines := bytes.SplitAfter(whole.Body, []byte("\n"))
		cut := append(bytes.Join(lines[:12], nil), lines[12][:len(lines[12])/2]...)
		trunc := Object{Key: fmt.Sprintf("AWSLogs/%s/WAFLogs/%s/acl/%struncated.log.gz", s.Account, s.Region, day), Body: gzBytes(cut)}
		out = append(out, trunc)
		m.Records["waf"] += 12
		m.Objects["waf"]++
		m.Quarantine = append(m.Quarantine, QuarantineCase{"waf", trunc.Key, "object"})

		t0 := s.Start.Unix()
		text := fmt.Sprintf("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"+
			"2 %[1]s eni-1 10.0.0.1 10.0.0.2 1 22 6 1 40 %[2]d %[2]d REJECT OK\n"+
			"2 %[1]s eni-1 10.0.0.1 10.0.0.2 1 22 6 1 40 %[2]d REJECT OK\n"+
			"2 %[1]s eni-1 10.0.0.1 10.0.0.2 1 443 6 1 40 %[2]d %[2]d ACCEPT OK\n", s.Account, t0)
		bad := Object{Key: fmt.Sprintf("AWSLogs/%s/vpcflowlogs/%s/%sbad-line.log.gz", s.Account, s.Region, day), Body: gzBytes([]byte(text))}
		out = append(out, bad)
		m.Records["vpcflow"] += 2
		m.Objects["vpcflow"]++
		m.Quarantine = append(m.Quarantine, QuarantineCase{"vpcflow", bad.Key, "record"})
	}
	return out, m
}
