package detect

import (
	"fmt"
	"regexp"
	"strings"
)

// Rule ids name rules in URLs, on the command line and in metrics'
// labels, so they are kept to a plain, documented set (docs/detections.md).
const (
	MaxIDLength = 128
	// BuiltinPrefix begins every built-in rule's id; a tenant's rule may
	// not begin with it in any case (TRAWL-ct-001 beside trawl-ct-001
	// would pass for the built-in one).
	BuiltinPrefix = "trawl-"
)

var idChars = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// CheckID says what is wrong with a rule id, or nil: 1 to 128 letters,
// digits, '.', '_' and '-', not starting with '.'.
func CheckID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("the rule id is empty: give one of letters, digits, '.', '_' and '-'")
	case len(id) > MaxIDLength:
		return fmt.Errorf("the rule id is %d characters long; at most %d", len(id), MaxIDLength)
	case !idChars.MatchString(id):
		return fmt.Errorf("rule id %.64q: use letters, digits, '.', '_' and '-' only", id)
	case strings.HasPrefix(id, "."):
		return fmt.Errorf("rule id %q: it must not start with '.'", id)
	}
	return nil
}

// Reserved reports whether an id is the built-in rules' (starts with
// BuiltinPrefix, in any case).
func Reserved(id string) bool {
	return len(id) >= len(BuiltinPrefix) && strings.EqualFold(id[:len(BuiltinPrefix)], BuiltinPrefix)
}

// served reports whether Trawl holds logs of a logsource service.
func served(service string) bool {
	switch service {
	case "cloudtrail", "vpcflow", "waf", "route53", "alb", "s3access", "guardduty":
		return true
	}
	return false
}

// CheckLogsource says why Trawl cannot serve the rule's logsource, or nil:
// it holds AWS logs (product aws) of CloudTrail, VPC flow, WAF, Route 53
// Resolver (service route53), Application Load Balancer access logs
// (service alb), S3 server access logs (service s3access) and GuardDuty
// findings (service guardduty; SigmaHQ names no service for any of the
// three); a rule without a service reads the AWS Events index's records.
func (r *Rule) CheckLogsource() error {
	ls := r.Logsource
	switch {
	case ls.Product != "" && ls.Product != "aws":
		return fmt.Errorf("logsource product %.64q: Trawl holds AWS logs only: write product: aws", ls.Product)
	case ls.Service != "" && !served(ls.Service):
		return fmt.Errorf("logsource service %.64q: Trawl holds cloudtrail, vpcflow, waf, route53 (Resolver query), alb (Application Load Balancer access) and s3access (S3 server access) logs and guardduty findings: write one of them", ls.Service)
	case ls.Category != "":
		return fmt.Errorf("logsource category %.64q: Trawl serves AWS logs by service, not category: remove it and write service: cloudtrail, vpcflow, waf, route53, alb, s3access or guardduty", ls.Category)
	}
	return nil
}
