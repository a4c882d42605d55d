// Package awspolicy writes the IAM policies a connector needs, valid and
// minimal: s3:ListBucket limited by an s3:prefix condition to the prefixes
// Trawl lists, s3:GetObject on the keys it reads, kms:Decrypt on the key
// that encrypts them, and for a role the trust policy with its external
// ID. The connection test takes its recommendations from the same
// statements, so what it tells a user to add is exactly what is generated.
package awspolicy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/prefix"
)

// Statement IDs, one per permission, so a user can find each in IAM.
const (
	SidList    = "TrawlListLogPrefix"
	SidRead    = "TrawlReadLogObjects"
	SidDecrypt = "TrawlDecryptLogObjects"
	SidKeys    = "TrawlReadCloudTrailPublicKeys"
	// SidQueue and SidQueueDecrypt are the queue's (event-driven collection).
	SidQueue        = "TrawlReceiveObjectNotifications"
	SidQueueDecrypt = "TrawlDecryptObjectNotifications"
	SidTrust        = "TrawlAssumeRoleWithExternalID"
)

// KMSPlaceholder stands for the key ARN when none was given.
const KMSPlaceholder = "arn:aws:kms:REGION:ACCOUNT-ID:key/KEY-ID (replace with the key that encrypts the logs, or remove this statement if the bucket does not use SSE-KMS)"

// PrincipalPlaceholder stands for the identity Trawl assumes the role from
// when neither the connector nor the operator names it.
const PrincipalPlaceholder = "arn:aws:iam::TRAWL-ACCOUNT-ID:root (replace with the ARN of the user or role Trawl signs in as)"

// principalForm is what a trust policy's AWS principal may be: an account
// ID, or the ARN of an account's root, a user, a role or a session.
var principalForm = regexp.MustCompile(`^([0-9]{12}|arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[^\s]+)$`)

// CheckPrincipal refuses a principal a trust policy must not name: a
// wildcard ("*", or * or ? in an ARN) lets every AWS account, not just
// Trawl's, assume the role (the external ID is then all that guards it).
// Empty is allowed: the policy then shows PrincipalPlaceholder.
func CheckPrincipal(p string) error {
	if p == "" {
		return nil
	}
	if strings.ContainsAny(p, "*?") {
		return fmt.Errorf("%q is a wildcard: a trust policy for it lets any AWS account assume the role; give the ARN of the user or role Trawl signs in as, e.g. arn:aws:iam::111122223333:role/trawl", p)
	}
	if !principalForm.MatchString(p) {
		return fmt.Errorf("%q is not an AWS principal: give the ARN of the user or role Trawl signs in as, e.g. arn:aws:iam::111122223333:role/trawl, or a 12-digit account ID", p)
	}
	return nil
}

// Statement is one IAM policy statement.
type Statement struct {
	Sid       string            `json:"Sid"`
	Effect    string            `json:"Effect"`
	Principal map[string]string `json:"Principal,omitempty"`
	Action    any               `json:"Action"` // one action, or a list

	Resource  any                            `json:"Resource,omitempty"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Policies are what one connector needs: the permissions (for the IAM user
// of keys, or attached to the role) and, for a role, its trust policy.
type Policies struct {
	Permissions Document  `json:"permissions_policy"`
	Trust       *Document `json:"trust_policy,omitempty"`
}

// Options add what the connector does not know.
type Options struct {
	// KMSKeyARN is the key that encrypts the logs (SSE-KMS), if any.
	KMSKeyARN string
	// Principal is the ARN Trawl assumes the role from (role only).
	Principal string
	// QueueKMSKeyARN is the key that encrypts the connector's queue
	// (SQS SSE-KMS), if any.
	QueueKMSKeyARN string
}

// For writes the policies for a connector.
func For(c *connector.Connector, opt Options) (*Policies, error) {
	if err := opt.check(c); err != nil {
		return nil, err
	}
	t, err := prefix.Parse(c.Prefix, prefix.Options{AllowWildcard: c.SubType != connector.WAF})
	if err != nil {
		return nil, fmt.Errorf("prefix %q: %w", c.Prefix, err)
	}
	list, objects := t.PolicyPatterns()
	if d := prefix.DigestPrefix(c.Prefix); c.SubType == connector.CloudTrail && d != c.Prefix {
		// The digest audit reads CloudTrail-Digest/ beside CloudTrail/.
		dt, err := prefix.Parse(d, prefix.Options{AllowWildcard: true})
		if err != nil {
			return nil, fmt.Errorf("digest prefix %q: %w", d, err)
		}
		dl, do := dt.PolicyPatterns()
		// Both lists start at the same folder (an Organization ID's,
		// where the accounts are discovered): it is listed once.
		list, objects = unique(append(list, dl...)), unique(append(objects, do...))
	}
	p := &Policies{Permissions: Document{Version: "2012-10-17"}}
	ls := Statement{Sid: SidList, Effect: "Allow", Action: "s3:ListBucket", Resource: "arn:aws:s3:::" + c.Bucket}
	if len(list) > 0 {
		ls.Condition = map[string]map[string][]string{"StringLike": {"s3:prefix": list}}
	}
	var res []string
	for _, o := range objects {
		res = append(res, "arn:aws:s3:::"+c.Bucket+"/"+o)
	}
	key := opt.KMSKeyARN
	if key == "" {
		key = KMSPlaceholder
	}
	p.Permissions.Statement = []Statement{ls,
		{Sid: SidRead, Effect: "Allow", Action: "s3:GetObject", Resource: oneOrMany(res)},
		{Sid: SidDecrypt, Effect: "Allow", Action: "kms:Decrypt", Resource: key},
	}
	if c.SubType == connector.CloudTrail {
		// The audit verifies digests with CloudTrail's public keys; the
		// action has no resource-level permissions.
		p.Permissions.Statement = append(p.Permissions.Statement, Statement{Sid: SidKeys, Effect: "Allow", Action: "cloudtrail:ListPublicKeys", Resource: "*"})
	}
	if c.QueueURL != "" {
		p.Permissions.Statement = append(p.Permissions.Statement, queueStatements(c, opt)...)
	}
	if c.Credentials == connector.CredRole {
		principal := opt.Principal
		if principal == "" {
			principal = PrincipalPlaceholder
		}
		p.Trust = &Document{Version: "2012-10-17", Statement: []Statement{{
			Sid: SidTrust, Effect: "Allow", Principal: map[string]string{"AWS": principal}, Action: "sts:AssumeRole",
			Condition: map[string]map[string][]string{"StringEquals": {"sts:ExternalId": {c.ExternalID}}},
		}}}
	}
	return p, nil
}

// unique drops repeated strings, keeping the first of each in place.
func unique(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func oneOrMany(s []string) any {
	if len(s) == 1 {
		return s[0]
	}
	return s
}

// Statement returns the permission statement with sid.
func (p *Policies) Statement(sid string) (Statement, bool) {
	for _, s := range p.Permissions.Statement {
		if s.Sid == sid {
			return s, true
		}
	}
	return Statement{}, false
}

// Recommendation tells a user whose connection test met 403 at a check
// (list, read or decrypt) exactly which statement to add, as JSON they can
// paste.
func (p *Policies) Recommendation(check string) string {
	sid, what := SidList, "Add s3:ListBucket"
	switch check {
	case "read":
		sid, what = SidRead, "Add s3:GetObject"
	case "decrypt":
		sid, what = SidDecrypt, "Add kms:Decrypt (in the key policy too)"
	case "queue":
		sid, what = SidQueue, "Add the queue's actions (and check the queue's access policy)"
	}
	s, _ := p.Statement(sid)
	b, _ := json.Marshal(s)
	return fmt.Sprintf("%s to the policy of the identity Trawl signs in as (trawl connector policy prints it whole): %s", what, b)
}

// queueStatements let Trawl read and delete the notifications of the
// connector's queue, and decrypt them when the queue is encrypted.
func queueStatements(c *connector.Connector, opt Options) []Statement {
	out := []Statement{{Sid: SidQueue, Effect: "Allow",
		Action:   []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"},
		Resource: QueueARN(c.QueueURL, c.QueueRegion)}}
	if opt.QueueKMSKeyARN != "" {
		out = append(out, Statement{Sid: SidQueueDecrypt, Effect: "Allow", Action: "kms:Decrypt", Resource: opt.QueueKMSKeyARN})
	}
	return out
}

// QueueARN is the ARN of the queue at an SQS queue URL
// (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME becomes
// arn:aws:sqs:REGION:ACCOUNT:NAME); region stands in when the host does
// not name one.
func QueueARN(queueURL, region string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return queueURL
	}
	acct, name, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	host := u.Hostname()
	partition := "aws"
	switch {
	case strings.HasSuffix(host, ".amazonaws.com.cn"):
		partition = "aws-cn"
	case strings.Contains(host, "-gov-"):
		partition = "aws-us-gov"
	}
	if r := connector.QueueURLRegion(queueURL); r != "" {
		region = r
	}
	return fmt.Sprintf("arn:%s:sqs:%s:%s:%s", partition, region, acct, name)
}

// kmsKeyARN is a KMS key's ARN: kms:Decrypt is granted on keys, and an
// alias ARN in Resource grants nothing.
var kmsKeyARN = regexp.MustCompile(`^arn:aws(-cn|-us-gov|-iso[a-z]?)?:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]{1,128}$`)

// check refuses options that would write a policy granting other than
// what they name.
func (o Options) check(c *connector.Connector) error {
	for _, k := range []struct{ flag, v string }{{"kms_key_arn", o.KMSKeyARN}, {"queue_kms_key_arn", o.QueueKMSKeyARN}} {
		if k.v != "" && !kmsKeyARN.MatchString(k.v) {
			return &connector.ValidationError{Problems: []connector.Problem{{Field: k.flag,
				Message: fmt.Sprintf("%q is not a KMS key ARN: give the key's ARN, e.g. arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab (an alias or * would grant other keys, or none)", k.v)}}}
		}
	}
	if o.QueueKMSKeyARN != "" && c.QueueURL == "" {
		return &connector.ValidationError{Problems: []connector.Problem{{Field: "queue_kms_key_arn", Message: "the connector has no queue: set its queue URL first"}}}
	}
	return nil
}
