package detect

import (
	"encoding/base64"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
)

// serviceFields maps the field names Sigma rules use for AWS logs (each
// service's own: CloudTrail's JSON paths, VPC flow log's field names,
// WAF's JSON paths, Route 53 Resolver's, ALB's and S3 server access
// logs' field names) onto
// Interflow fields. A rule maps a name only for its
// own logsource service (a CloudTrail rule's httpRequest.clientIp is a
// path of the CloudTrail record, which has none, not WAF's client
// address); a rule without a service maps a name any service has.
// Interflow's own names are accepted too.
var serviceFields = map[logsource]map[string]string{
	"cloudtrail": {
		"eventName": "event_name", "eventSource": "event_source", "eventType": "event_type", "eventID": "event_id",
		"eventCategory": "event_category", "eventVersion": "event_version", "awsRegion": "cloud.region",
		"recipientAccountId": "cloud.account_id", "userAgent": "user_agent", "errorCode": "error_code",
		"errorMessage": "error_message", "readOnly": "read_only", "requestID": "request_id", "managementEvent": "management_event",
		"userIdentity.type": "user.type", "userIdentity.arn": "user.arn", "userIdentity.userName": "user.name",
		"userIdentity.accountId": "user.account_id", "userIdentity.accessKeyId": "user.access_key_id",
		"userIdentity.sessionContext.attributes.mfaAuthenticated": "session_mfa",
		// sourceIPAddress is an address or a service's name: see fieldFor.
	},
	"vpcflow": {
		"srcaddr": "srcip", "dstaddr": "dstip", "srcport": "srcport", "dstport": "dstport", "protocol": "protocol",
		"packets": "packets", "bytes": "bytes", "action": "action", "log-status": "log_status",
		"interface-id": "interface_id", "account-id": "cloud.account_id", "region": "cloud.region",
	},
	"waf": {
		"httpRequest.clientIp": "srcip", "httpRequest.country": "http.country", "httpRequest.uri": "http.uri",
		"httpRequest.args": "http.args", "httpRequest.httpMethod": "http.method", "httpRequest.httpVersion": "http.version",
		"httpRequest.requestId": "request_id", "terminatingRuleId": "rule_id", "terminatingRuleType": "rule_type",
		"webaclId": "web_acl", "action": "action",
	},
	// Route 53 Resolver query logs, by AWS's field names.
	"route53": {
		"query_name": "dns.question.name", "query_type": "dns.question.type", "query_class": "dns.question.class",
		"rcode": "dns.response_code", "srcaddr": "srcip", "srcport": "srcport", "vpc_id": "vpc_id", "account_id": "cloud.account_id",
		"region": "cloud.region", "srcids.instance": "instance_id", "firewall_rule_action": "dns.firewall_action",
		"firewall_rule_group_id": "dns.firewall_rule_group", "version": "event_version",
	},
	// Application Load Balancer access logs, by the field names of AWS's
	// "Access log entries" table; client:port and target:port hold two
	// values each, named as AWS's Athena table for these logs names them
	// (client_ip, client_port, target_ip, target_port). SigmaHQ has no
	// logsource service for ELB logs: Trawl names it alb.
	"alb": {
		"type": "elb.type", "elb": "elb.name", "client_ip": "srcip", "client_port": "srcport", "target_ip": "dstip", "target_port": "dstport",
		"elb_status_code": "http.response_code", "target_status_code": "http.target_status", "received_bytes": "bytes_in",
		"sent_bytes": "bytes_out", "user_agent": "user_agent", "ssl_cipher": "tls.cipher", "ssl_protocol": "tls.protocol",
		"target_group_arn": "elb.target_group_arn", "trace_id": "elb.trace_id", "domain_name": "http.host",
		"actions_executed": "elb.actions", "error_reason": "elb.error_reason", "classification": "elb.classification",
	},
	// Amazon S3 server access logs, by the column names of the Athena
	// table AWS's documentation creates for them ("Using Amazon S3 server
	// access logs to identify requests"), the documented fields' names
	// having spaces. SigmaHQ has no logsource service for these logs:
	// Trawl names it s3access, as Elastic's AWS integration names them.
	"s3access": {
		"bucketowner": "s3.bucket_owner", "bucket_name": "s3.bucket", "remoteip": "srcip", "requester": "s3.requester",
		"requestid": "request_id", "operation": "s3.operation", "key": "s3.key", "httpstatus": "http.response_code",
		"errorcode": "error_code", "bytessent": "bytes_out", "objectsize": "s3.object_size", "totaltime": "s3.total_time_ms",
		"turnaroundtime": "s3.turnaround_time_ms", "referrer": "http.referer", "useragent": "user_agent", "versionid": "s3.version_id",
		"hostid": "s3.host_id", "sigv": "s3.signature_version", "ciphersuite": "tls.cipher", "authtype": "s3.auth_type",
		"endpoint": "http.host", "tlsversion": "tls.protocol", "accesspointarn": "s3.access_point_arn", "aclrequired": "s3.acl_required",
	},
}

// s3accessFields lists the S3 server access log field names a rule may
// use, for its errors.
const s3accessFields = "bucketowner, bucket_name, remoteip, requester, requestid, operation, key, httpstatus, errorcode, bytessent, objectsize, " +
	"totaltime, turnaroundtime, referrer, useragent, versionid, hostid, sigv, ciphersuite, authtype, endpoint, tlsversion, accesspointarn, " +
	"aclrequired; the request_uri is http.method, http.uri and http.version"

// guardDutyFields maps the JSON paths of a GuardDuty finding, as
// GuardDuty exports it (the API's camelCase member names: type, severity,
// resource.resourceType, service.action.actionType, ...), onto the
// Interflow fields that hold exactly their values. They apply to rules of
// service guardduty only: the finding's top-level names (id, type, title)
// are too generic to read for every record, and ALB's type is another
// field. Any other path under a documented top-level member
// (guardDutyMembers) is read from the raw finding, as CloudTrail's paths
// are. SigmaHQ names no logsource service for GuardDuty (its taxonomy
// names only cloudtrail for AWS): Trawl names it guardduty, as Elastic's
// AWS integration and others do.
var guardDutyFields = map[string]string{
	"id": "finding.id", "type": "finding.type", "severity": "finding.severity", "title": "finding.title", "description": "finding.description",
	"accountId": "cloud.account_id", "region": "cloud.region", "partition": "cloud.partition", "schemaVersion": "event_version",
	"resource.resourceType": "resource.type", "resource.instanceDetails.instanceId": "instance_id",
	"resource.accessKeyDetails.accessKeyId": "user.access_key_id", "resource.accessKeyDetails.userType": "user.type",
	"resource.s3BucketDetails.name": "resource.s3_buckets", "resource.eksClusterDetails.name": "resource.eks_cluster",
	"service.action.actionType": "finding.action_type", "service.count": "finding.count", "service.archived": "finding.archived",
	"service.resourceRole": "finding.resource_role", "service.additionalInfo.sample": "finding.sample",
	"service.action.awsApiCallAction.api": "event_name", "service.action.awsApiCallAction.serviceName": "event_source",
	"service.action.awsApiCallAction.errorCode": "error_code", "service.action.networkConnectionAction.connectionDirection": "finding.connection_direction",
	"service.action.dnsRequestAction.domain": "dns.question.name", "service.action.kubernetesApiCallAction.requestUri": "http.uri",
	"service.action.kubernetesApiCallAction.statusCode": "http.response_code",
}

// guardDutyMembers are the top-level members of a finding (GuardDuty API
// Reference, "Finding"): a guardduty rule's path must start with one.
var guardDutyMembers = map[string]bool{
	"schemaVersion": true, "accountId": true, "region": true, "partition": true, "id": true, "arn": true, "type": true, "resource": true,
	"service": true, "severity": true, "confidence": true, "createdAt": true, "updatedAt": true, "title": true, "description": true,
	"associatedAttackSequenceArn": true,
}

// guardDutyHint lists what a guardduty rule may name, for its errors.
const guardDutyHint = "a path of the finding as GuardDuty exports it, starting with schemaVersion, accountId, region, partition, id, arn, type, " +
	"resource, service, severity, confidence, createdAt, updatedAt, title, description or associatedAttackSequenceArn " +
	"(type, severity, resource.resourceType, service.action.actionType, service.action.awsApiCallAction.api, ...), or an Interflow field " +
	"such as finding.severity_label or finding.remote_ip (docs/interflow.md)"

// albFields lists the ALB field names a rule may use, for its errors.
const albFields = "type, elb, client_ip, client_port, target_ip, target_port, elb_status_code, target_status_code, received_bytes, sent_bytes, " +
	"user_agent, ssl_cipher, ssl_protocol, target_group_arn, trace_id, domain_name, actions_executed, error_reason, classification; " +
	"the request line is http.method, http.uri and http.version"

// logsource is the service a rule's logsource names ("" for none).
type logsource string

// jsonRaw reports whether the service's records are JSON (raw.<path>
// reads them): all but VPC flow, ALB and S3 server access logs, which
// are text lines.
func (s logsource) jsonRaw() bool { return s != "vpcflow" && s != "alb" && s != "s3access" }

// field is the Interflow field a Sigma field name maps onto for the
// service (for none: the field of the service that has the name; no two
// map one name apart).
func (s logsource) field(name string) (string, bool) {
	if s == "guardduty" {
		f, ok := guardDutyFields[name]
		return f, ok
	}
	if s != "" {
		f, ok := serviceFields[s][name]
		return f, ok
	}
	for _, m := range serviceFields {
		if f, ok := m[name]; ok {
			return f, true
		}
	}
	return "", false
}

// derived are the CloudTrail fields whose Interflow field is not the
// record's value as written: eventName and eventSource fall back to an
// Insights event's subject, recipientAccountId to the identity's account,
// user.name is the best name of the actor, sourceIPAddress is split into
// srcip and src_host, and the booleans are parsed. A rule's value test on
// them reads the record's own value (raw.<name>), so that it means what
// it says in Sigma. (Count rules still group by the Interflow field: see
// countField.)
var derived = map[string]bool{
	"eventName": true, "eventSource": true, "recipientAccountId": true, "userIdentity.userName": true,
	"userIdentity.sessionContext.attributes.mfaAuthenticated": true, "readOnly": true, "managementEvent": true,
	"sourceIPAddress": true,
}

const fieldHint = "use a CloudTrail, VPC flow or WAF field (eventName, requestParameters.bucketName, srcaddr, dstport, httpRequest.clientIp, ...) or an Interflow field name (docs/interflow.md)"

// target is where a Sigma field's values are read: field, an Interflow
// field or raw.<path>; raw, the record's own value (raw.<name>) when the
// logs are JSON and the name is a path of it, else "". Interflow stores
// no empty text, so presence and empty values are tested on raw.
type target struct{ field, raw string }

// fieldFor maps a Sigma field name onto where Trawl reads it.
func fieldFor(name string, ls logsource) (target, bool) {
	var t target
	jsonRaw := ls.jsonRaw()
	if jsonRaw && jsonKey.MatchString(name) {
		t.raw = query.RawPrefix + name
	}
	f, ok := ls.field(name)
	switch {
	case jsonRaw && derived[name] && (ls == "" || ls == "cloudtrail"):
		t.field = t.raw
	case ok:
		t.field = f
	case interflowField(name):
		t.field, t.raw = name, ""
	case t.raw != "":
		// Any other path of a JSON record (CloudTrail, WAF) is read from
		// raw: requestParameters.bucketName is raw.requestParameters.bucketName.
		t.field = t.raw
	default:
		return t, false
	}
	return t, true
}

// interflowType is the type of an Interflow field (-1: no index has it).
func interflowType(name string) interflow.Type {
	for _, s := range interflow.Schemas() {
		if i, ok := s.Lookup(name); ok {
			return s.Fields[i].Type
		}
	}
	return -1
}

// orderMatch compiles lt, lte, gt or gte: the field must hold numbers in
// Interflow (an integer or a double: a raw JSON value is text, which
// Trawl does not compare by order), and the value a number it can hold.
func orderMatch(k, val *yaml.Node, t target, m mods) (query.Node, error) {
	switch interflowType(t.field) {
	case interflow.Int:
		if _, err := strconv.ParseInt(val.Value, 10, 64); err != nil || val.Tag == "!!null" {
			return nil, errAt(val, "%s: %s compares an integer field; %q is not an integer", k.Value, m.orderName, val.Value)
		}
	case interflow.Float:
		if f, err := strconv.ParseFloat(val.Value, 64); err != nil || val.Tag == "!!null" || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errAt(val, "%s: %s compares a number field; %q is not a number", k.Value, m.orderName, val.Value)
		}
	default:
		return nil, errAt(k, "%s: %s compares numbers, and Trawl holds this field as text: use it on a number field, such as GuardDuty's severity, "+
			"ALB's elb_status_code or VPC flow's dstport and bytes", k.Value, m.orderName)
	}
	return query.Term{Field: t.field, Op: m.order, Value: val.Value}, nil
}

func interflowField(name string) bool {
	for _, s := range interflow.Schemas() {
		if _, ok := s.Lookup(name); ok {
			return true
		}
	}
	return false
}

// countField maps a count's field or group-by onto an Interflow field (a
// count groups by a column): sourceIPAddress groups by address. The rule's
// service names it first (a guardduty rule's type is finding.type, not
// ALB's), then any service.
func countField(name string, ls logsource) (string, bool) {
	if name == "sourceIPAddress" {
		return "srcip", true
	}
	if f, ok := ls.field(name); ok {
		return f, true
	}
	if f, ok := logsource("").field(name); ok {
		return f, true
	}
	return name, interflowField(name)
}

// ipFields are the Interflow fields that hold addresses, which cidr tests.
var ipFields = map[string]string{"sourceIPAddress": "srcip", "srcaddr": "srcip", "dstaddr": "dstip", "httpRequest.clientIp": "srcip",
	"client_ip": "srcip", "target_ip": "dstip", "remoteip": "srcip"}

var jsonKey = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// mods is a field's modifier chain.
type mods struct {
	shape                   string // "", contains, startswith, endswith
	all, cidr, cased, re    bool
	reFlags                 string // of i, m and s
	exists, fieldref        bool
	base64, base64off, wdsh bool
	order, orderName        string // lt, lte, gt or gte, and its query operator (<, <=, >, >=)
}

// unsupported are the modifiers of the specification Trawl refuses, with
// why.
var unsupported = map[string]string{
	"expand":  "expand placeholders need a placeholder set, which Trawl does not have",
	"utf16le": "CloudTrail values are JSON text, not UTF-16", "utf16be": "CloudTrail values are JSON text, not UTF-16",
	"utf16": "CloudTrail values are JSON text, not UTF-16", "wide": "CloudTrail values are JSON text, not UTF-16",
	"neq":    "write the value in a filter selection and negate it in the condition (not filter)",
	"minute": "Trawl has no time-part modifiers", "hour": "Trawl has no time-part modifiers", "day": "Trawl has no time-part modifiers",
	"week": "Trawl has no time-part modifiers", "month": "Trawl has no time-part modifiers", "year": "Trawl has no time-part modifiers",
}

const supported = "contains, startswith, endswith, all, re (with i, m, s), cidr, cased, exists, fieldref, base64, base64offset, windash, and lt, lte, gt, gte on number fields"

// orders are the numeric comparison modifiers, as query operators.
var orders = map[string]string{"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}

// parseMods reads the modifiers of "field|mod|mod".
func parseMods(k *yaml.Node, list []string) (mods, error) {
	var m mods
	for _, x := range list {
		switch x {
		case "contains", "startswith", "endswith":
			if m.shape != "" || m.re {
				return m, errAt(k, "%s: use one of contains, startswith, endswith and re", k.Value)
			}
			m.shape = x
		case "re":
			if m.shape != "" {
				return m, errAt(k, "%s: re does not combine with contains, startswith or endswith", k.Value)
			}
			m.re = true
		case "i", "m", "s":
			if !m.re {
				return m, errAt(k, "%s: %s qualifies re: write re|%s", k.Value, x, x)
			}
			m.reFlags += x
		case "all":
			m.all = true
		case "cidr":
			m.cidr = true
		case "cased":
			m.cased = true
		case "exists":
			m.exists = true
		case "fieldref":
			m.fieldref = true
		case "base64":
			m.base64 = true
		case "base64offset":
			m.base64off = true
		case "windash":
			m.wdsh = true
		case "lt", "lte", "gt", "gte":
			if m.order != "" {
				return m, errAt(k, "%s: use one of lt, lte, gt and gte", k.Value)
			}
			m.order, m.orderName = orders[x], x
		default:
			if why, ok := unsupported[x]; ok {
				return m, errAt(k, "%s: Trawl does not support the modifier %s: %s", k.Value, x, why)
			}
			return m, errAt(k, "%s: unknown modifier %q; Trawl supports %s", k.Value, x, supported)
		}
	}
	return m, m.check(k)
}

// check refuses combinations that have no meaning Trawl can keep.
func (m mods) check(k *yaml.Node) error {
	encoded := m.base64 || m.base64off || m.wdsh
	switch {
	case m.exists && (m.shape != "" || m.re || m.cidr || m.fieldref || encoded || m.all || m.cased):
		return errAt(k, "%s: exists takes true or false and no other modifier", k.Value)
	case m.fieldref && (m.shape != "" || m.re || m.cidr || encoded):
		return errAt(k, "%s: Trawl compares a fieldref for equality only (with cased), not with other modifiers", k.Value)
	case m.cidr && (m.shape != "" || m.re || m.cased || encoded):
		return errAt(k, "%s: cidr takes address blocks and no other modifier but all", k.Value)
	case m.re && (m.cased || encoded):
		return errAt(k, "%s: re is case-sensitive already (re|i ignores case) and takes no encoding", k.Value)
	case m.base64off && m.shape != "contains":
		return errAt(k, "%s: base64offset needs contains (base64offset|contains)", k.Value)
	case m.base64 && m.base64off:
		return errAt(k, "%s: use one of base64 and base64offset", k.Value)
	case m.order != "" && (m.shape != "" || m.re || m.cidr || m.cased || m.exists || m.fieldref || encoded):
		return errAt(k, "%s: lt, lte, gt and gte compare a number and take no other modifier but all", k.Value)
	}
	return nil
}

// fieldMatch compiles "field|modifier...: value or list".
func fieldMatch(k, v *yaml.Node, ls logsource) (query.Node, error) {
	jsonRaw := ls.jsonRaw()
	parts := strings.Split(k.Value, "|")
	name := parts[0]
	m, err := parseMods(k, parts[1:])
	if err != nil {
		return nil, err
	}
	t, ok := fieldFor(name, ls)
	if !ok && ls == "alb" {
		return nil, errAt(k, "field %q: Application Load Balancer access logs have no such field Trawl maps (%s)", name, albFields)
	}
	if !ok && ls == "s3access" {
		return nil, errAt(k, "field %q: S3 server access logs have no such field Trawl maps (%s)", name, s3accessFields)
	}
	if ls == "guardduty" && (!ok || t.field != name && !guardDutyMembers[strings.SplitN(name, ".", 2)[0]]) {
		// An Interflow name (t.field == name) is accepted as for any
		// service; a name of the finding must start with one of its
		// members, so a CloudTrail name or a misspelt one is refused.
		return nil, errAt(k, "field %q: a GuardDuty finding has no such member; use %s", name, guardDutyHint)
	}
	if !ok && !jsonRaw && jsonKey.MatchString(name) {
		return nil, errAt(k, "field %q: VPC flow logs have no such field (%s)", name, "srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, action, log-status, interface-id, account-id")
	}
	if !ok {
		return nil, errAt(k, "field %q has no Trawl field; %s", name, fieldHint)
	}
	values, err := scalars(v, name)
	if err != nil {
		return nil, err
	}
	var out query.Node
	for _, val := range values {
		n, err := valueMatch(k, val, name, t, m, ls)
		if err != nil {
			return nil, err
		}
		if m.all {
			out = and(out, n)
		} else {
			out = or(out, n)
		}
	}
	return out, nil
}

// scalars is a field's value or list of values.
func scalars(v *yaml.Node, name string) ([]*yaml.Node, error) {
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
	for _, val := range values {
		if val.Kind != yaml.ScalarNode {
			return nil, errAt(val, "%s: a value is a scalar", name)
		}
	}
	return values, nil
}

// valueMatch compiles one value of a field.
func valueMatch(k, val *yaml.Node, name string, t target, m mods, ls logsource) (query.Node, error) {
	jsonRaw := ls.jsonRaw()
	null := val.Tag == "!!null"
	if ls == "s3access" && val.Tag == "!!str" && val.Value == "-" && m == (mods{}) {
		// S3 writes "-" for an absent value and Trawl stores it absent:
		// a rule's requester: '-' (an anonymous request) means null.
		null = true
	}
	switch {
	case m.exists:
		b, err := strconv.ParseBool(val.Value)
		if err != nil || null {
			return nil, errAt(val, "%s: exists takes true or false", k.Value)
		}
		var n query.Node = query.Exists{Field: t.presence()}
		if !b {
			n = query.Not{X: n}
		}
		return n, nil
	case null:
		if m.shape != "" || m.cidr || m.re || m.fieldref || m.base64 || m.base64off || m.wdsh || m.order != "" {
			return nil, errAt(val, "%s: null cannot take a modifier", k.Value)
		}
		return query.Not{X: query.Exists{Field: t.presence()}}, nil
	case m.fieldref:
		o, ok := fieldFor(val.Value, ls)
		if !ok || (!jsonRaw && strings.HasPrefix(o.field, query.RawPrefix)) {
			return nil, errAt(val, "%s: fieldref names field %q, which has no Trawl field; %s", k.Value, val.Value, fieldHint)
		}
		// Both sides read as the record has them (Interflow drops "").
		return query.Term{Field: t.presence(), Op: "=", Value: o.presence(), Ref: true, Fold: !m.cased}, nil
	case m.order != "":
		return orderMatch(k, val, t, m)
	case m.cidr:
		ip, ok := ipFields[name]
		if !ok && interflowType(name) == interflow.IP {
			ip, ok = name, true // an Interflow address field: srcip, finding.remote_ip, ...
		}
		if !ok {
			return nil, errAt(k, "%s: cidr tests address fields (sourceIPAddress, srcaddr, dstaddr, httpRequest.clientIp, client_ip, target_ip, remoteip, or an Interflow address field such as srcip or finding.remote_ip)", k.Value)
		}
		p, err := netip.ParsePrefix(val.Value)
		if err != nil {
			return nil, errAt(val, "%s: %q is not a CIDR block (10.0.0.0/8)", k.Value, val.Value)
		}
		return query.Term{Field: ip, Op: "=", Value: p.String()}, nil
	case m.re:
		return regexMatch(k, val, t, m)
	}
	return stringMatch(k, val, t, m)
}

// presence is where a field's presence is read: the record's own key
// when there is one (Interflow drops empty text).
func (t target) presence() string {
	if t.raw != "" {
		return t.raw
	}
	return t.field
}

func regexMatch(k, val *yaml.Node, t target, m mods) (query.Node, error) {
	expr := val.Value
	if m.reFlags != "" {
		expr = "(?" + m.reFlags + ")" + expr
	}
	if _, err := regexp.Compile(expr); err != nil {
		return nil, errAt(val, "%s: %q is not a regular expression (RE2 syntax): %v", k.Value, val.Value, err)
	}
	// Its length is the query's to check, where evaluation compiles it
	// (rules add refuses it on detection; a stored one is marked failed).
	return query.Term{Field: t.field, Op: "=", Value: expr, Regex: true}, nil
}

// stringMatch compiles a string value: its encodings and windash variants
// (ORed), each with its wildcards and contains/startswith/endswith, and
// regardless of case unless cased. An empty value is tested on the
// record's own value, where Interflow holds none.
func stringMatch(k, val *yaml.Node, t target, m mods) (query.Node, error) {
	variants, err := m.variants(k, val)
	if err != nil {
		return nil, err
	}
	var out query.Node
	for _, s := range variants {
		w, wild := s, false
		if !m.base64 && !m.base64off {
			w, wild = sigmaValue(s)
		}
		switch m.shape {
		case "contains":
			w, wild = "\x00*"+w+"\x00*", true
		case "startswith":
			w, wild = w+"\x00*", true
		case "endswith":
			w, wild = "\x00*"+w, true
		}
		field := t.field
		if w == "" && t.raw != "" {
			field = t.raw
		}
		out = or(out, query.Term{Field: field, Op: "=", Value: w, Wildcard: wild, Fold: !m.cased})
	}
	return out, nil
}

// variants are the texts a value stands for: itself, its windash
// permutations, its Base64 encoding or its three base64offset forms.
func (m mods) variants(k, val *yaml.Node) ([]string, error) {
	vs := []string{val.Value}
	if m.wdsh {
		vs = windash(val.Value)
	}
	if len(vs) > maxValues {
		return nil, errAt(val, "%s: windash makes more than %d variants of %q", k.Value, maxValues, val.Value)
	}
	if !m.base64 && !m.base64off {
		return vs, nil
	}
	var out []string
	for _, v := range vs {
		if m.base64 {
			out = append(out, base64.StdEncoding.EncodeToString([]byte(v)))
			continue
		}
		out = append(out, base64Offsets(v)...)
	}
	return out, nil
}

// dashes are the characters windash makes interchangeable: -, /, the en
// dash, the em dash and the horizontal bar.
var dashes = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

// windash is every variant of s with each dash character replaced by each
// of the dashes (more than maxValues: the first maxValues+1).
func windash(s string) []string {
	out := []string{""}
	for _, r := range s {
		alts := []string{string(r)}
		if slices.Contains(dashes, string(r)) {
			alts = dashes
		}
		next := make([]string, 0, len(out)*len(alts))
		for _, p := range out {
			for _, a := range alts {
				next = append(next, p+a)
			}
		}
		if len(next) > maxValues {
			return next
		}
		out = next
	}
	return out
}

// base64Offsets are the three forms a text takes inside Base64 at the
// three byte offsets: the encoding of the text shifted by 0, 1 or 2 bytes,
// without the characters that depend on the bytes around it.
func base64Offsets(s string) []string {
	start := []int{0, 2, 3}
	var out []string
	for i := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, i), s...))
		end := len(enc)
		switch (len(s) + i) % 3 {
		case 1:
			end -= 3
		case 2:
			end -= 2
		}
		if end > start[i] {
			out = append(out, enc[start[i]:end])
		}
	}
	return out
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
