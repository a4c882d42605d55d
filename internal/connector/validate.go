package connector

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/prefix"
)

// Problem is one invalid field and what to do about it.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found, so a user fixes them in one go.
type ValidationError struct {
	Problems []Problem `json:"problems"`
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return "invalid connector: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Validate reports every problem with the connector at once.
func (c *Connector) Validate() error {
	var e ValidationError
	switch {
	case c.Name == "":
		e.add("name", "required")
	case len(c.Name) > 128:
		e.add("name", "at most 128 characters")
	case !printableASCII(c.Name):
		e.add("name", "use printable ASCII characters only")
	}
	if c.Tenant == "" {
		e.add("tenant", "required")
	} else if !identifier(c.Tenant) || strings.HasPrefix(c.Tenant, ".") {
		// A tenant names folders (tenant=…) and Iceberg namespaces: "." and
		// ".." are not names there.
		e.add("tenant", "use letters, digits, '.', '-' and '_' only, not starting with '.' (at most 64)")
	}
	if c.Category != CategoryPaaS {
		e.add("category", "must be %q", CategoryPaaS)
	}
	if c.Type != TypeCloudTrail {
		e.add("type", "must be %q", TypeCloudTrail)
	}
	if c.Function != FunctionCollect {
		e.add("function", "must be %q", FunctionCollect)
	}
	if c.RunOn != "" && c.RunOn != AnyNode && !identifier(c.RunOn) {
		e.add("run_on", "a node name of letters, digits, '-' and '_', or * for any node of a shared catalog")
	}
	switch c.SubType {
	case CloudTrail, VPCFlow, R53Resolver, ALB, GuardDuty:
		if c.FileType != FileGzip {
			e.add("file_type", "%s logs are delivered gzip-compressed: use file type gzip", c.SubType)
		}
	case WAF, S3Access:
		// WAF through Firehose may deliver text; S3 writes server access
		// logs as text, and gzip copies of them read the same (gzip is
		// detected by its magic bytes either way).
		if c.FileType != FileGzip && c.FileType != FileText {
			e.add("file_type", "must be gzip or text for %s", c.SubType)
		}
	case "":
		e.add("sub_type", "required: %s", SubTypeChoices())
	default:
		e.add("sub_type", "%q is not supported: use %s", c.SubType, SubTypeChoices())
	}
	if msg := BucketNameProblem(c.Bucket); msg != "" {
		e.add("bucket", "%s", msg)
	}
	if _, err := prefix.Parse(c.Prefix, prefix.Options{AllowWildcard: c.SubType != WAF}); err != nil {
		var pe *prefix.Error
		if errors.As(err, &pe) {
			e.add("prefix", "%s (at position %d)", pe.Msg, pe.Pos)
		} else {
			e.add("prefix", "%v", err)
		}
	}
	if !c.IsLocal() {
		c.validateCredentials(&e)
	}
	if c.Region != "" && !KnownRegion(c.Region) {
		e.add("region", "%q is not an AWS region code: use one such as us-east-1", c.Region)
	}
	seen := map[string]bool{}
	for i, r := range c.Regions {
		switch {
		case !KnownRegion(r):
			e.add(fmt.Sprintf("regions[%d]", i), "%q is not an AWS region code: list log regions such as us-east-1,eu-west-1, or none to collect every region", r)
		case seen[r]:
			e.add(fmt.Sprintf("regions[%d]", i), "%q is listed twice", r)
		}
		seen[r] = true
	}
	if c.Endpoint != "" {
		if msg := urlProblem(c.Endpoint, "http", "https", "file"); msg != "" {
			e.add("endpoint", "%s", msg)
		}
	}
	if c.ProxyURI != "" {
		if msg := urlProblem(c.ProxyURI, "http", "https", "socks5"); msg != "" {
			e.add("proxy_uri", "%s", msg)
		}
	}
	c.validateQueue(&e)
	if c.Interval != 0 && c.Interval.D() < 10e9 {
		e.add("interval", "at least 10s")
	}
	if c.Lookback < 0 || c.Lookback.D() > 7*24*time.Hour {
		e.add("lookback", "between 0 and 7 days (default 1h)")
	}
	for i, f := range c.Filters {
		if f.Action != "drop" && f.Action != "keep" {
			e.add(fmt.Sprintf("filters[%d].action", i), "must be drop or keep")
		}
		if strings.TrimSpace(f.Query) == "" {
			e.add(fmt.Sprintf("filters[%d].query", i), "required")
		}
	}
	if len(e.Problems) > 0 {
		return &e
	}
	return nil
}

// CheckImmutable reports the general fields an edit tried to change.
func CheckImmutable(old, upd *Connector) error {
	var e ValidationError
	check := func(field, a, b string) {
		if a != b {
			e.add(field, "is fixed at creation and cannot be changed (was %q): create a new connector instead", a)
		}
	}
	check("name", old.Name, upd.Name)
	check("tenant", old.Tenant, upd.Tenant)
	check("category", old.Category, upd.Category)
	check("type", old.Type, upd.Type)
	check("function", old.Function, upd.Function)
	check("run_on", old.RunOn, upd.RunOn)
	if len(e.Problems) > 0 {
		return &e
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func identifier(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// accessKeyID checks an access key ID. AWS's are 16 to 128 letters and
// digits; S3-compatible stores (a custom endpoint) choose their own (MinIO
// takes three characters), so for them only what can be signed is
// checked: up to 128 characters, none that would break the Authorization
// header (space, '/', ',', '=').
func accessKeyID(s string, aws bool) bool {
	if len(s) > 128 || aws && len(s) < 16 || len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
		if !ok && (aws || !strings.ContainsRune("-.+@", rune(c))) {
			return false
		}
	}
	return true
}

// BucketNameProblem returns why name is not a valid general-purpose S3 bucket
// name, or "" if it is.
func BucketNameProblem(name string) string {
	switch {
	case name == "":
		return "required"
	case len(name) < 3 || len(name) > 63:
		return "a bucket name is 3 to 63 characters long"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return fmt.Sprintf("character %q at position %d: bucket names use lowercase letters, digits, '.' and '-' only", c, i)
		}
	}
	first, last := name[0], name[len(name)-1]
	if first == '.' || first == '-' || last == '.' || last == '-' {
		return "a bucket name begins and ends with a letter or digit"
	}
	if strings.Contains(name, "..") {
		return "a bucket name has no two adjacent periods"
	}
	if net.ParseIP(name) != nil {
		return "a bucket name is not formatted as an IP address"
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return fmt.Sprintf("a bucket name does not start with %q", p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return fmt.Sprintf("a bucket name does not end with %q", s)
		}
	}
	return ""
}

func urlProblem(raw string, schemes ...string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("not a valid URL: %v", err)
	}
	ok := false
	for _, s := range schemes {
		if u.Scheme == s {
			ok = true
		}
	}
	if !ok {
		return fmt.Sprintf("scheme %q is not supported: use %s", u.Scheme, strings.Join(schemes, ", "))
	}
	if u.Scheme == "file" {
		if u.Path == "" || !strings.HasPrefix(u.Path, "/") {
			return "a file endpoint is an absolute folder path, e.g. file:///srv/exports"
		}
		return ""
	}
	if u.Host == "" {
		return "the URL has no host, e.g. https://s3.example.com"
	}
	if u.User != nil {
		return "the URL carries a user name or password: give credentials in the connector's credential fields, never in a URL (a URL is shown and logged)"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("port %q is not a port number (1 to 65535)", p)
		}
	}
	return ""
}

func (c *Connector) validateCredentials(e *ValidationError) {
	if c.Credentials != CredRole {
		if c.RoleARN != "" {
			e.add("role_arn", "only with credentials role")
		}
		if c.ExternalID != "" {
			e.add("external_id", "only with credentials role")
		}
		if c.STSEndpoint != "" {
			e.add("sts_endpoint", "only with credentials role")
		}
	}
	switch c.Credentials {
	case CredKeys:
		c.validateKeys(e, true)
	case CredRole:
		if c.RoleARN == "" {
			e.add("role_arn", "required with credentials role, e.g. arn:aws:iam::123456789012:role/TrawlLogReader")
		} else if !roleARN.MatchString(c.RoleARN) {
			e.add("role_arn", "%q is not a role ARN: write it as arn:aws:iam::123456789012:role/NAME", c.RoleARN)
		}
		if c.ExternalID != "" && (!externalID.MatchString(c.ExternalID) || len(c.ExternalID) > 1224) {
			e.add("external_id", "2 to 1224 characters of letters, digits and +=,.@:/-; or leave it empty and Trawl uses the tenant's own")
		}
		if c.STSEndpoint != "" {
			if msg := urlProblem(c.STSEndpoint, "http", "https"); msg != "" {
				e.add("sts_endpoint", "%s", msg)
			}
		}
		c.validateKeys(e, false)
	case CredAmbient:
		if c.AccessKeyID != "" || c.SecretAccessKey.IsSet() {
			e.add("credentials", "ambient uses the server's own identity: leave the access key ID and secret empty, or choose keys")
		}
	case "":
		e.add("credentials", "choose how Trawl signs in to AWS: keys (an access key ID and secret access key), role (a role ARN to assume with an external ID) or ambient (the server's own identity, for operators)")
	default:
		e.add("credentials", "%q is not a credential kind: use keys, role or ambient", c.Credentials)
	}
}

// validateKeys checks the access key pair; for a role it is optional (the
// keys Trawl assumes the role from), but both halves or neither.
func (c *Connector) validateKeys(e *ValidationError, required bool) {
	if !required && c.AccessKeyID == "" && !c.SecretAccessKey.IsSet() {
		return
	}
	if c.AccessKeyID == "" {
		e.add("access_key_id", "required with credentials %s when a secret access key is given", c.Credentials)
	} else if c.Endpoint == "" && !accessKeyID(c.AccessKeyID, true) {
		e.add("access_key_id", "an AWS access key ID is 16 to 128 letters, digits or _ (AWS's pattern [\\w]+), e.g. AKIAIOSFODNN7EXAMPLE; for an S3-compatible store with keys of its own form, set its endpoint (endpoint)")
	} else if c.Endpoint != "" && !accessKeyID(c.AccessKeyID, false) {
		e.add("access_key_id", "an access key ID is 1 to 128 letters, digits and _-.+@ characters")
	}
	if !c.SecretAccessKey.IsSet() {
		e.add("secret_access_key", "required with credentials %s when an access key ID is given", c.Credentials)
	}
}

var (
	roleARN    = regexp.MustCompile(`^arn:aws(-cn|-us-gov|-iso[a-z]?)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$`)
	externalID = regexp.MustCompile(`^[A-Za-z0-9+=,.@:/_-]{2,}$`)
)

// validateQueue checks the optional SQS queue settings.
func (c *Connector) validateQueue(e *ValidationError) {
	if c.QueueURL == "" {
		for _, f := range []struct {
			name string
			set  bool
		}{{"queue_region", c.QueueRegion != ""}, {"queue_endpoint", c.QueueEndpoint != ""}, {"queue_receivers", c.QueueReceivers != 0},
			{"queue_visibility", c.QueueVisibility != 0}, {"queue_ignored", c.QueueIgnored != ""}} {
			if f.set {
				e.add(f.name, "only with a queue: set queue_url too")
			}
		}
		return
	}
	if c.IsLocal() {
		e.add("queue_url", "a local folder (file:// endpoint) has no S3 notifications: remove the queue, or read the bucket from S3")
	}
	if msg := urlProblem(c.QueueURL, "https", "http"); msg != "" {
		e.add("queue_url", "%s; an SQS queue URL looks like https://sqs.us-east-1.amazonaws.com/123456789012/trawl-cloudtrail", msg)
	} else if msg := queueURLProblem(c.QueueURL); msg != "" {
		e.add("queue_url", "%s", msg)
	} else if r := QueueURLRegion(c.QueueURL); r != "" && c.QueueRegion != "" && r != c.QueueRegion {
		e.add("queue_region", "%q, but the queue URL is in %s: leave queue_region empty, or give the queue's own URL", c.QueueRegion, r)
	}
	if c.QueueRegion != "" && !KnownRegion(c.QueueRegion) {
		e.add("queue_region", "%q is not an AWS region code: use the queue's region, such as us-east-1", c.QueueRegion)
	}
	if c.QueueEndpoint != "" {
		if msg := urlProblem(c.QueueEndpoint, "http", "https"); msg != "" {
			e.add("queue_endpoint", "%s", msg)
		}
	}
	if c.QueueReceivers < 0 || c.QueueReceivers > 32 {
		e.add("queue_receivers", "between 1 and 32 receivers per node (default 2)")
	}
	if v := c.QueueVisibility.D(); v != 0 && (v < time.Second || v > 12*time.Hour || v%time.Second != 0) {
		e.add("queue_visibility", "whole seconds between 1s and 12h, as SQS takes them (default 5m)")
	}
	if c.QueueIgnored != "" && c.QueueIgnored != QueueIgnoredDelete && c.QueueIgnored != QueueIgnoredKeep {
		e.add("queue_ignored", "%q: use delete (messages announcing nothing to collect are deleted) or keep (left to the queue's redrive policy)", c.QueueIgnored)
	}
}

// QueueURLRegion is the region an AWS queue URL's host names, or "": the
// forms sqs.REGION.amazonaws.com(.cn), REGION.queue.amazonaws.com (the
// legacy one) and a VPC endpoint's vpce-….sqs.REGION.vpce.amazonaws.com.
func QueueURLRegion(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	parts := strings.Split(strings.ToLower(u.Hostname()), ".")
	for i := 0; i+1 < len(parts); i++ {
		switch {
		case parts[i] == "sqs" && KnownRegion(parts[i+1]):
			return parts[i+1]
		case parts[i+1] == "queue" && KnownRegion(parts[i]):
			return parts[i]
		}
	}
	return ""
}

// QueueURLEndpoint is where a queue's requests go when no endpoint is
// given: a VPC endpoint's URL names its own host, which is then the
// endpoint (the SDK would otherwise go to the public one); AWS's public
// URLs need none ("").
func QueueURLEndpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	if strings.HasSuffix(strings.ToLower(u.Hostname()), ".vpce.amazonaws.com") {
		return u.Scheme + "://" + u.Host
	}
	return ""
}

// queueName is what SQS accepts as a queue name (a FIFO queue's ends in
// .fifo).
var queueName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// queueURLProblem checks the path of a queue URL: /ACCOUNT/NAME, the
// account twelve digits, the name SQS's, nothing after it.
func queueURLProblem(raw string) string {
	u, _ := url.Parse(raw)
	example := "an SQS queue URL looks like https://sqs.us-east-1.amazonaws.com/123456789012/trawl-cloudtrail (the queue's page in the SQS console shows it)"
	if u.RawQuery != "" || u.Fragment != "" {
		return "the queue URL has a query or fragment: " + example
	}
	acct, name, ok := strings.Cut(strings.Trim(u.Path, "/"), "/")
	switch {
	case !ok || strings.Contains(name, "/"):
		return fmt.Sprintf("%q is not a queue URL: it ends in /ACCOUNT/QUEUE-NAME; %s", raw, example)
	case len(acct) != 12 || strings.Trim(acct, "0123456789") != "":
		return fmt.Sprintf("account %q in the queue URL is not a 12-digit AWS account ID; %s", acct, example)
	case !queueName.MatchString(strings.TrimSuffix(name, ".fifo")):
		return fmt.Sprintf("queue name %q: SQS queue names are 1 to 80 letters, digits, '-' and '_'", name)
	}
	return ""
}
