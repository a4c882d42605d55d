package detect

import (
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
)

// sigmaFields maps the field names Sigma rules use for AWS logs (the logs'
// own: CloudTrail's JSON paths, VPC flow log's field names, WAF's JSON
// paths) onto Interflow fields. Interflow's own names are accepted too.
var sigmaFields = map[string]string{
	// CloudTrail
	"eventName": "event_name", "eventSource": "event_source", "eventType": "event_type", "eventID": "event_id",
	"eventCategory": "event_category", "eventVersion": "event_version", "awsRegion": "cloud.region",
	"recipientAccountId": "cloud.account_id", "userAgent": "user_agent", "errorCode": "error_code",
	"errorMessage": "error_message", "readOnly": "read_only", "requestID": "request_id", "managementEvent": "management_event",
	"userIdentity.type": "user.type", "userIdentity.arn": "user.arn", "userIdentity.userName": "user.name",
	"userIdentity.accountId": "user.account_id", "userIdentity.accessKeyId": "user.access_key_id",
	"userIdentity.sessionContext.attributes.mfaAuthenticated": "session_mfa",
	// sourceIPAddress is an address or a service's name: see fieldFor.
	// VPC flow logs
	"srcaddr": "srcip", "dstaddr": "dstip", "srcport": "srcport", "dstport": "dstport", "protocol": "protocol",
	"packets": "packets", "bytes": "bytes", "action": "action", "log-status": "log_status",
	"interface-id": "interface_id", "account-id": "cloud.account_id", "region": "cloud.region",
	// WAF
	"httpRequest.clientIp": "srcip", "httpRequest.country": "http.country", "httpRequest.uri": "http.uri",
	"httpRequest.args": "http.args", "httpRequest.httpMethod": "http.method", "httpRequest.httpVersion": "http.version",
	"httpRequest.requestId": "request_id", "terminatingRuleId": "rule_id", "terminatingRuleType": "rule_type",
	"webaclId": "web_acl",
}

const fieldHint = "use a CloudTrail, VPC flow or WAF field (eventName, requestParameters.bucketName, srcaddr, dstport, httpRequest.clientIp, ...) or an Interflow field name (docs/interflow.md)"

// fieldFor maps a Sigma field name onto an Interflow field. value decides
// sourceIPAddress: an address or a CIDR block is srcip, a name src_host.
func fieldFor(name, value string) (string, bool) {
	if name == "sourceIPAddress" {
		v := strings.Trim(value, "*")
		if _, err := netip.ParseAddr(v); err == nil {
			return "srcip", true
		}
		if _, err := netip.ParsePrefix(v); err == nil {
			return "srcip", true
		}
		return "src_host", true
	}
	if f, ok := sigmaFields[name]; ok {
		return f, true
	}
	for _, s := range interflow.Schemas() {
		if _, ok := s.Lookup(name); ok {
			return name, true
		}
	}
	// Any other path of a JSON record (CloudTrail, WAF) is read from raw:
	// requestParameters.bucketName is raw.requestParameters.bucketName.
	if jsonKey.MatchString(name) {
		return query.RawPrefix + name, true
	}
	return "", false
}

var jsonKey = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// fieldMatch compiles "field|modifier...: value or list".
func fieldMatch(k, v *yaml.Node, jsonRaw bool) (query.Node, error) {
	parts := strings.Split(k.Value, "|")
	name, mods := parts[0], parts[1:]
	var all, cidr bool
	shape := ""
	for _, m := range mods {
		switch m {
		case "contains", "startswith", "endswith":
			if shape != "" {
				return nil, errAt(k, "%s: use one of contains, startswith and endswith", k.Value)
			}
			shape = m
		case "all":
			all = true
		case "cidr":
			cidr = true
		case "re":
			if shape != "" {
				return nil, errAt(k, "%s: re does not combine with contains, startswith or endswith", k.Value)
			}
			shape = m
		default:
			return nil, errAt(k, "%s: unknown modifier %q; Trawl supports contains, startswith, endswith, re, cidr and all", k.Value, m)
		}
	}
	var values []*yaml.Node
	switch v.Kind {
	case yaml.ScalarNode:
		values = []*yaml.Node{v}
	case yaml.SequenceNode:
		values = v.Content
	default:
		return nil, errAt(v, "%s: a value is a scalar or a list of scalars", name)
	}
	if len(values) == 0 {
		return nil, errAt(v, "%s: an empty list matches nothing", name)
	}
	if len(values) > maxValues {
		return nil, errAt(v, "%s: %d values; at most %d", name, len(values), maxValues)
	}
	var out query.Node
	for _, val := range values {
		if val.Kind != yaml.ScalarNode {
			return nil, errAt(val, "%s: a value is a scalar", name)
		}
		field, ok := fieldFor(name, val.Value)
		if !ok {
			return nil, errAt(k, "field %q has no Trawl field; %s", name, fieldHint)
		}
		if !jsonRaw && strings.HasPrefix(field, query.RawPrefix) {
			return nil, errAt(k, "field %q: VPC flow logs have no such field (%s)", name, "srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, action, log-status, interface-id, account-id")
		}
		var n query.Node
		switch {
		case val.Tag == "!!null":
			if shape != "" || cidr {
				return nil, errAt(val, "%s: null cannot take a modifier", k.Value)
			}
			n = query.Not{X: query.Exists{Field: field}}
		case cidr:
			p, err := netip.ParsePrefix(val.Value)
			if err != nil {
				return nil, errAt(val, "%s: %q is not a CIDR block (10.0.0.0/8)", k.Value, val.Value)
			}
			if field == "src_host" {
				field = "srcip"
			}
			n = query.Term{Field: field, Op: "=", Value: p.String()}
		case shape == "re":
			if strings.HasPrefix(field, query.RawPrefix) {
				return nil, errAt(k, "%s: re works on the fields Trawl stores, not on paths of the raw record", k.Value)
			}
			if _, err := regexp.Compile(val.Value); err != nil {
				return nil, errAt(val, "%s: %q is not a regular expression (RE2 syntax): %v", k.Value, val.Value, err)
			}
			n = query.Term{Field: field, Op: "=", Value: val.Value, Regex: true}
		default:
			w, wild := sigmaValue(val.Value)
			switch shape {
			case "contains":
				w, wild = "\x00*"+w+"\x00*", true
			case "startswith":
				w, wild = w+"\x00*", true
			case "endswith":
				w, wild = "\x00*"+w, true
			}
			n = query.Term{Field: field, Op: "=", Value: w, Wildcard: wild}
		}
		if all {
			out = and(out, n)
		} else {
			out = or(out, n)
		}
	}
	return out, nil
}

// sigmaValue reads a Sigma value: unescaped * and ? are wildcards (marked
// as the query package marks them, a NUL before the character), \* \? and
// \\ are literal.
func sigmaValue(s string) (string, bool) {
	var b strings.Builder
	wild := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\') {
			b.WriteByte(s[i+1])
			i++
			continue
		}
		if c == '*' || c == '?' {
			wild = true
			b.WriteByte(0)
		}
		b.WriteByte(c)
	}
	return b.String(), wild
}

// names returns the selection names matching a pattern (* wildcards), sorted.
func names(searches map[string]query.Node, pattern string) []string {
	var out []string
	for n := range searches {
		if query.MatchWild(query.Wildcard(strings.ReplaceAll(pattern, "*", "\x00*")), n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
