// Package connector holds the connector model: what a security team configures
// to point Trawl at one S3 location, and the rules that make a configuration
// valid. It knows nothing about S3, storage or scheduling.
package connector

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SubType is the kind of AWS log a connector reads.
type SubType string

// Sub types Trawl collects.
const (
	CloudTrail SubType = "cloudtrail"
	VPCFlow    SubType = "vpcflow"
	WAF        SubType = "waf"
	// R53Resolver is Route 53 Resolver (VPC Resolver) query logs.
	R53Resolver SubType = "r53resolver"
	// ALB is Application Load Balancer access logs.
	ALB SubType = "alb"
	// S3Access is Amazon S3 server access logs.
	S3Access SubType = "s3access"
	// GuardDuty is Amazon GuardDuty findings exported to S3.
	GuardDuty SubType = "guardduty"
)

// SubTypes are the sub types Trawl collects, in the order help lists them.
func SubTypes() []SubType {
	return []SubType{CloudTrail, VPCFlow, WAF, R53Resolver, ALB, S3Access, GuardDuty}
}

// SubTypeChoices names the sub types for help and errors:
// "cloudtrail, vpcflow, waf, r53resolver, alb, s3access or guardduty".
func SubTypeChoices() string {
	st := SubTypes()
	names := make([]string, len(st))
	for i, s := range st {
		names[i] = string(s)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Credential kinds.
const (
	CredKeys    = "keys"
	CredRole    = "role"
	CredAmbient = "ambient"
)

// File types of the objects in the bucket.
const (
	FileGzip = "gzip"
	FileText = "text"
)

// General fields are fixed for every connector Trawl manages today; they are
// stored so that the model matches what users see in other consoles.
const (
	CategoryPaaS     = "PaaS"
	TypeCloudTrail   = "AWS CloudTrail"
	FunctionCollect  = "Collect"
	DefaultInterval  = 5 * time.Minute
	DefaultStartBack = 24 * time.Hour
	DefaultLookback  = time.Hour
	// DefaultQueueInterval is the polling interval of a connector with a
	// queue: the safety net, not the way objects arrive.
	DefaultQueueInterval   = time.Hour
	DefaultQueueReceivers  = 2
	DefaultQueueVisibility = 5 * time.Minute
	QueueIgnoredDelete     = "delete"
	QueueIgnoredKeep       = "keep"
)

// Masked is what a secret looks like whenever it leaves Trawl. Sending it back
// on an edit means "keep the stored secret".
const Masked = "********"

// Secret is a write-only string. Its formatting and JSON encoding never reveal
// the value, so a connector can be logged or returned without leaking it.
type Secret struct{ v string }

// NewSecret wraps a plaintext secret.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the plaintext. Only the S3 client and the catalog's sealing
// code should call it.
func (s Secret) Reveal() string { return s.v }

// IsSet reports whether a secret value is present.
func (s Secret) IsSet() bool { return s.v != "" }

// IsMasked reports whether the value is the mask sent back by a client.
func (s Secret) IsMasked() bool { return s.v == Masked }

func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return Masked
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `connector.Secret{"` + s.String() + `"}` }

// Format keeps every fmt verb from printing the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// MarshalJSON never emits the plaintext.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON accepts the plaintext from a client.
func (s *Secret) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &s.v) }

// AnyNode as a connector's run-on node lets every node of a shared catalog
// run it; they share its partitions through leases.
const AnyNode = "*"

// Connector is one configured collection from one S3 location.
type Connector struct {
	ID string `json:"id"`

	// General fields, fixed at creation.
	Name     string `json:"name"`
	Tenant   string `json:"tenant"`
	Category string `json:"category"`
	Type     string `json:"type"`
	Function string `json:"function"`
	RunOn    string `json:"run_on"` // a node, or AnyNode

	Enabled bool    `json:"enabled"`
	SubType SubType `json:"sub_type"`

	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
	// Credentials is how Trawl authenticates to AWS, chosen explicitly:
	// keys (an access key ID and secret), role (STS AssumeRole of RoleARN
	// with ExternalID, from the keys when given, else from the server's
	// identity), or ambient (the server's own identity: environment,
	// instance or pod role; root only). Leaving the keys blank never falls
	// back to the server's identity for keys.
	Credentials     string `json:"credentials,omitempty"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey Secret `json:"secret_access_key"`
	// RoleARN is the role to assume (credentials role).
	RoleARN string `json:"role_arn,omitempty"`
	// ExternalID is the sts:ExternalId the role's trust policy requires.
	// Left empty, Trawl fills in the tenant's own generated one; no two
	// tenants ever share one.
	ExternalID string `json:"external_id,omitempty"`
	// STSEndpoint overrides the STS endpoint (a private endpoint, tests).
	STSEndpoint string `json:"sts_endpoint,omitempty"`
	FileType    string `json:"file_type"`
	// Region is the bucket's region: it signs requests and picks the S3
	// endpoint. It never narrows what is collected (Regions does).
	Region string `json:"region,omitempty"`
	// Regions, when not empty, is the only log regions collected: the
	// region folders (CloudTrail, VPC flow, WAF, ALB, date-partitioned S3
	// server access logs, GuardDuty) of other regions are
	// skipped, and Test names them. Empty collects every region, which is
	// what an organization or multi-region trail needs.
	Regions   []string `json:"regions,omitempty"`
	ProxyURI  string   `json:"proxy_uri,omitempty"`
	Endpoint  string   `json:"endpoint,omitempty"`
	PathStyle bool     `json:"path_style,omitempty"`

	// Start is how far back the first run reaches: objects last modified
	// before it are not collected.
	Start time.Time `json:"start"`
	// Interval between scheduled runs.
	Interval Duration `json:"interval"`
	// Lookback is how far before the newest collected object each run
	// lists again, to catch objects AWS delivers late under an earlier key.
	Lookback Duration `json:"lookback,omitempty"`
	// Filters are log filter rules in the search language (issue: filters).
	Filters []Filter `json:"filters,omitempty"`

	// QueueURL, when set, is an SQS queue that S3 (directly, or through
	// SNS or EventBridge) notifies of each new object: objects are
	// collected seconds after delivery, and polling every Interval
	// (default hourly then) is only the safety net for notifications
	// that never came. The queue is read with the bucket's credentials.
	QueueURL string `json:"queue_url,omitempty"`
	// QueueRegion signs the queue's requests (default: the region in the
	// queue URL's host, else Region).
	QueueRegion string `json:"queue_region,omitempty"`
	// QueueEndpoint is where the queue's requests go (a VPC endpoint, an
	// SQS-compatible server); empty: AWS's endpoint of QueueRegion.
	QueueEndpoint string `json:"queue_endpoint,omitempty"`
	// QueueReceivers is how many receivers read the queue at once on each
	// node (default 2).
	QueueReceivers int `json:"queue_receivers,omitempty"`
	// QueueVisibility is how long a received message stays hidden from
	// other receivers; Trawl extends it while the message's objects are
	// being collected, so a long read never makes it visible again
	// (default 5m).
	QueueVisibility Duration `json:"queue_visibility,omitempty"`
	// QueueIgnored is what becomes of a message that announces nothing to
	// collect (S3's test event, a body that is not a notification, an
	// object of another bucket or outside the prefix, a deletion):
	// "delete" it (default), or "keep" it for the queue's redrive policy
	// (it is hidden again for longer each time it comes back).
	QueueIgnored string `json:"queue_ignored,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Version increases on every edit; the API uses it as the ETag.
	Version int64 `json:"version"`
}

// Filter is one log filter rule applied before storage.
type Filter struct {
	Action string `json:"action"` // "drop" or "keep"
	Query  string `json:"query"`
}

// Duration marshals as a Go duration string ("5m0s") for humans.
type Duration time.Duration

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D returns the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalJSON reads "5m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("interval %q: %w (use a duration such as 5m)", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("interval: want a duration such as \"5m\" or seconds: %w", err)
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}

// IsLocal reports whether the connector reads a local folder (file:// endpoint)
// instead of S3: forensic import of exported logs, and the demo.
func (c *Connector) IsLocal() bool { return len(c.Endpoint) >= 7 && c.Endpoint[:7] == "file://" }

// ApplyDefaults fills fields a user need not give. now is the creation time.
func (c *Connector) ApplyDefaults(now time.Time, node string) {
	if c.Category == "" {
		c.Category = CategoryPaaS
	}
	if c.Type == "" {
		c.Type = TypeCloudTrail
	}
	if c.Function == "" {
		c.Function = FunctionCollect
	}
	if c.RunOn == "" {
		c.RunOn = node
	}
	if c.FileType == "" {
		c.FileType = FileGzip
		if c.SubType == S3Access {
			// S3 delivers server access logs uncompressed.
			c.FileType = FileText
		}
	}
	switch {
	case c.Credentials != "" || c.IsLocal():
	case c.RoleARN != "":
		c.Credentials = CredRole
	case c.AccessKeyID != "" || c.SecretAccessKey.IsSet():
		c.Credentials = CredKeys
	}
	if c.Start.IsZero() {
		c.Start = now.Add(-DefaultStartBack)
	}
	if c.Interval == 0 {
		c.Interval = Duration(DefaultInterval)
		if c.QueueURL != "" {
			c.Interval = Duration(DefaultQueueInterval)
		}
	}
	if c.QueueURL != "" {
		if c.QueueReceivers == 0 {
			c.QueueReceivers = DefaultQueueReceivers
		}
		if c.QueueVisibility == 0 {
			c.QueueVisibility = Duration(DefaultQueueVisibility)
		}
		if c.QueueIgnored == "" {
			c.QueueIgnored = QueueIgnoredDelete
		}
		if c.QueueRegion == "" {
			c.QueueRegion = QueueURLRegion(c.QueueURL)
		}
		if c.QueueRegion == "" {
			c.QueueRegion = c.Region
		}
		if c.QueueEndpoint == "" {
			c.QueueEndpoint = QueueURLEndpoint(c.QueueURL)
		}
	}
	if c.Lookback == 0 {
		c.Lookback = Duration(DefaultLookback)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.UpdatedAt = now
}

// Index is the lake index the connector's records land in.
func (c *Connector) Index() string {
	if c.SubType == VPCFlow {
		return "traffic"
	}
	return "aws_events"
}

// MarshalRequest encodes a connector for a request to Trawl's API: like
// json.Marshal, but carrying the plaintext secret when a new one was given
// (json.Marshal always writes the mask). A masked or absent secret is left
// out, which the server reads as "keep the stored secret". Only the API
// client calls it; responses and logs never carry the plaintext.
func (c *Connector) MarshalRequest() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "secret_access_key")
	if c.SecretAccessKey.IsSet() && !c.SecretAccessKey.IsMasked() {
		v, err := json.Marshal(c.SecretAccessKey.Reveal())
		if err != nil {
			return nil, err
		}
		m["secret_access_key"] = v
	}
	return json.Marshal(m)
}
