// Package apiv1 holds the request and response types of Trawl's HTTP API
// (/api/v1): what the server writes, and what the client and the CLI read.
// It depends on no storage, query engine or AWS SDK, so a program that only
// speaks the API links none of them. The app layer converts its storage
// types into these at its boundary.
package apiv1

import (
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/trawlhq/trawl/internal/connector"
)

// Run is one collection run of a connector, as its status and history show it.
type Run struct {
	ID             string     `json:"id"`
	ConnectorID    string     `json:"connector_id"`
	StartedAt      time.Time  `json:"started_at"`
	EndedAt        *time.Time `json:"ended_at,omitempty"`
	Result         string     `json:"result"` // running, ok, failed, partial
	Status         int        `json:"status,omitempty"`
	Reason         string     `json:"reason,omitempty"`
	Recommendation string     `json:"recommendation,omitempty"`
	Objects        int64      `json:"objects"`
	Records        int64      `json:"records"`
	Bytes          int64      `json:"bytes"`
	Skipped        int64      `json:"skipped"`
	Quarantined    int64      `json:"quarantined"`
	Dropped        int64      `json:"dropped"`
	Errors         int64      `json:"errors"`
	NewestObject   *time.Time `json:"newest_object,omitempty"`
	Node           string     `json:"node,omitempty"` // the node that made the run
}

// Totals sums a connector's collected objects.
type Totals struct {
	Objects     int64      `json:"objects"`
	Records     int64      `json:"records"`
	Quarantined int64      `json:"quarantined"`
	Bytes       int64      `json:"bytes"`
	Newest      *time.Time `json:"newest_object,omitempty"`
}

// Stats count what a run did.
type Stats struct {
	Objects         int64      `json:"objects"`      // objects finished
	Records         int64      `json:"records"`      // records stored
	Bytes           int64      `json:"bytes"`        // compressed bytes read
	Decompressed    int64      `json:"decompressed"` // decompressed bytes read
	Skipped         int64      `json:"skipped"`      // objects skipped by design (digests)
	Quarantined     int64      `json:"quarantined"`  // records or object remainders quarantined
	Dropped         int64      `json:"dropped"`      // records dropped by log filters
	Matched         int64      `json:"matched"`      // detection rule matches of stored records, evaluated as they were stored
	Errors          int64      `json:"errors"`       // objects that failed and will be retried
	Pending         int64      `json:"pending"`      // objects listed to collect
	Listings        int64      `json:"listings"`     // listing requests made
	Partitions      int64      `json:"partitions"`   // partitions found
	LeasedElsewhere int64      `json:"leased_elsewhere,omitempty"`
	Newest          *time.Time `json:"newest_object,omitempty"`
}

// Cursor is where the next page of a search starts.
type Cursor struct {
	Timestamp time.Time `json:"t"`
	ID        string    `json:"id"`
}

// Row is one record: its non-NULL fields by Interflow name.
type Row map[string]any

// SearchResult holds the newest rows and, when asked, the total count.
type SearchResult struct {
	Rows  []Row   `json:"rows"`
	Next  *Cursor `json:"next,omitempty"`
	Total *int64  `json:"total,omitempty"`
}

// QuarantineItem is input that could not be decoded, with the reason.
type QuarantineItem struct {
	ID          string `json:"id"`
	Tenant      string `json:"tenant"`
	ConnectorID string `json:"connector_id"`
	Connector   string `json:"connector"`
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	Version     string `json:"version"`
	Position    int64  `json:"position"` // record number, -1 for the rest of an object
	Offset      int64  `json:"offset"`   // decompressed byte offset, when known
	Scope       string `json:"scope"`    // "record" or "object"
	Reason      string `json:"reason"`
	// Raw holds the input's bytes exactly (at most 64 KB), valid UTF-8 or
	// not. In JSON it is "raw" when it is valid UTF-8, else "raw_base64".
	Raw       []byte     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	RetriedAt *time.Time `json:"retried_at,omitempty"`
}

type quarantineJSON QuarantineItem

// MarshalJSON writes Raw as text when it is valid UTF-8 and as base64
// otherwise, so the bytes survive exactly.
func (q QuarantineItem) MarshalJSON() ([]byte, error) {
	out := struct {
		quarantineJSON
		Raw   string `json:"raw,omitempty"`
		Raw64 []byte `json:"raw_base64,omitempty"`
	}{quarantineJSON: quarantineJSON(q)}
	if utf8.Valid(q.Raw) {
		out.Raw = string(q.Raw)
	} else {
		out.Raw64 = q.Raw
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (q *QuarantineItem) UnmarshalJSON(b []byte) error {
	var in struct {
		quarantineJSON
		Raw   string `json:"raw"`
		Raw64 []byte `json:"raw_base64"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*q = QuarantineItem(in.quarantineJSON)
	q.Raw = in.Raw64
	if in.Raw != "" {
		q.Raw = []byte(in.Raw)
	}
	return nil
}

// Failed reports whether the run failed.
func (r *RunResult) Failed() bool { return r.Run.Result != "ok" }

// Status is a connector's state for the console and the CLI.
type Status struct {
	Connector connector.Connector `json:"connector"`
	LastRun   *Run                `json:"last_run,omitempty"`
	Totals    Totals              `json:"totals"`
	LagSecond *float64            `json:"lag_seconds,omitempty"`
	LastTest  *LastCheck          `json:"last_test,omitempty"`
	NextRun   *time.Time          `json:"next_run,omitempty"`
	Running   bool                `json:"running"`
	// Failures counts the consecutive failed scheduled runs (the retry
	// backs off with them; next_run says when it is).
	Failures int `json:"consecutive_failures,omitempty"`
	// Integrity sums the digest audit of the last week (CloudTrail).
	Integrity *AuditSummary `json:"integrity,omitempty"`
	// Queue is what this node's receivers of the connector's SQS queue
	// did since it started (connectors with a queue).
	Queue *QueueStatus `json:"queue,omitempty"`
}

// QueueStatus counts one node's work on a connector's queue since it
// started, and the queue's own approximate counts.
type QueueStatus struct {
	Receivers int   `json:"receivers"`
	Received  int64 `json:"received"`
	Deleted   int64 `json:"deleted"`
	// Collected counts messages whose objects were all collected.
	Collected int64 `json:"collected"`
	// Ignored counts messages that announced nothing to collect, by
	// reason (test-event, unparseable, not-object-created, other-bucket,
	// outside, gone).
	Ignored map[string]int64 `json:"ignored"`
	// Failed counts messages left to come back after a failure; Deferred
	// those whose objects another run or node held.
	Failed   int64 `json:"failed"`
	Deferred int64 `json:"deferred"`
	// Visible, InFlight and Delayed are SQS's approximate counts.
	Visible  int64 `json:"visible"`
	InFlight int64 `json:"in_flight"`
	Delayed  int64 `json:"delayed"`
	// OldestInFlight is when the oldest message this node holds was sent.
	OldestInFlight *time.Time `json:"oldest_in_flight,omitempty"`
	// LatencyP50 and LatencyP95 are seconds from an object's event to its
	// records being searchable, over the last 1,000 objects.
	LatencyP50  float64    `json:"latency_p50_seconds,omitempty"`
	LatencyP95  float64    `json:"latency_p95_seconds,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

// LastCheck is the last connection test of a connector, shown with its
// status.
type LastCheck struct {
	At      time.Time `json:"at"`
	OK      bool      `json:"ok"`
	Summary string    `json:"summary"`
}

// AuditSummary counts a connector's audited hours by status, and the
// files missing or altered in them.
type AuditSummary struct {
	Hours        map[string]int `json:"hours"`
	MissingFiles int            `json:"missing_files"`
	AlteredFiles int            `json:"altered_files"`
	// TamperedDigests counts hours whose digest's signature does not
	// verify or whose chain is broken.
	TamperedDigests int       `json:"tampered_digests"`
	Since           time.Time `json:"since"`
}

// RunResult is the outcome of collecting one connector once.
type RunResult struct {
	ConnectorID string `json:"connector_id"`
	Connector   string `json:"connector"`
	Tenant      string `json:"tenant"`
	Run         Run    `json:"run"`
	Stats       Stats  `json:"stats"`
}

// RetryResult counts what a quarantine retry did.
type RetryResult struct {
	Resolved      int   `json:"resolved"`         // records that now decode and were stored
	StillBad      int   `json:"still_bad"`        // records that still do not decode
	ObjectsQueued int64 `json:"objects_requeued"` // objects to be read again at the next run
}

// ConnectionCheck is the outcome of a connection test.
type ConnectionCheck struct {
	OK       bool            `json:"ok"`
	Summary  string          `json:"summary"`
	Checks   []Check         `json:"checks"`
	Accounts []AccountResult `json:"accounts,omitempty"`
	// Preview is the first record of the newest object, normalized.
	Preview map[string]any `json:"preview,omitempty"`
	Object  string         `json:"object,omitempty"`
	// Found is what discovery found under the prefix and what the
	// connector will not collect, so a region or account left out is
	// never silent.
	Found *Found `json:"found,omitempty"`
}

// Check is one step of a connection test.
type Check struct {
	Name           string `json:"name"` // endpoint, credentials, list, read, decrypt, decode
	OK             bool   `json:"ok"`
	Skipped        bool   `json:"skipped,omitempty"`
	Status         int    `json:"status,omitempty"` // the HTTP status a failure maps to
	Explanation    string `json:"explanation,omitempty"`
	Recommendation string `json:"recommendation,omitempty"`
	Detail         string `json:"detail,omitempty"`
}

// AccountResult is the test of one account of a wildcard connector.
type AccountResult struct {
	Account string  `json:"account"`
	OK      bool    `json:"ok"`
	Checks  []Check `json:"checks"`
}

// Found is what a connection test's discovery saw: the accounts, the log
// regions and the folders the connector collects, and the folders it
// leaves out with the reason.
type Found struct {
	Accounts []string `json:"accounts"`
	Regions  []string `json:"regions"`
	// Folders are the partitions collected (the first maxFoundFolders of
	// them; FolderCount is how many there are).
	Folders     []string       `json:"folders"`
	FolderCount int            `json:"folder_count"`
	Excluded    []ExcludedPart `json:"excluded,omitempty"`
	// MissingRegions are regions the connector lists that no folder has.
	MissingRegions []string `json:"missing_regions,omitempty"`
}

// ExcludedPart is a folder the connector does not collect, and why.
type ExcludedPart struct {
	Prefix string `json:"prefix"`
	Reason string `json:"reason"`
}

// AuditResult is one hour's verdict of the digest audit.
type AuditResult struct {
	Connector string    `json:"connector"`
	Account   string    `json:"account"`
	Region    string    `json:"region"`
	Hour      time.Time `json:"hour"`
	Status    string    `json:"status"`
	Files     int       `json:"files"`
	Missing   []string  `json:"missing"`
	Altered   []string  `json:"altered"`
	Unlisted  []string  `json:"unlisted,omitempty"`
	Reason    string    `json:"reason"`
	// Kind says, for programs, why an hour is unverifiable (audit's
	// reason kinds: bad_signature and broken_chain mean tampering).
	Kind   string `json:"kind,omitempty"`
	Digest string `json:"digest,omitempty"`

	// MissingMore, AlteredMore and UnlistedMore count the keys beyond
	// the lists, which hold at most 100 each.
	MissingMore  int `json:"missing_more,omitempty"`
	AlteredMore  int `json:"altered_more,omitempty"`
	UnlistedMore int `json:"unlisted_more,omitempty"`
}

// AuditPage is a page of a connector's audit results, oldest hour first;
// Next, when set, is the cursor of the following page.
type AuditPage struct {
	Results []AuditResult `json:"results"`
	Next    string        `json:"next,omitempty"`
}

// Alert is a detection rule's finding, as users see it.
type Alert struct {
	ID          string    `json:"id"`
	Rule        string    `json:"rule"`    // the rule's title
	RuleID      string    `json:"rule_id"` // the rule's id
	Level       string    `json:"level"`
	Tenant      string    `json:"tenant"`
	Time        time.Time `json:"time"` // when it was raised
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Group       string    `json:"group,omitempty"` // the group-by value of a count rule
	Count       int64     `json:"count"`
	Records     []string  `json:"records"` // ids of the matching records (the first 100)
	Query       string    `json:"query"`   // the hunting query that finds them in the window

	// Triage: open, acknowledged or closed (with a reason: true-positive,
	// false-positive or benign), who works it, and the analysts' notes.
	Status      string     `json:"status"`
	CloseReason string     `json:"close_reason,omitempty"`
	Assignee    string     `json:"assignee,omitempty"`
	Notes       []Note     `json:"notes"`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
	UpdatedBy   string     `json:"updated_by,omitempty"`

	// Change is set in webhook deliveries: "raised" for a new alert,
	// "updated" for one whose triage changed (webhooks that take status
	// changes); the alert's id is the same, so a receiver updates in place.
	Change string `json:"change,omitempty"`
}

// Note is an analyst's note on an alert.
type Note struct {
	Author string    `json:"author"`
	At     time.Time `json:"at"`
	Text   string    `json:"text"`
}

// Alert statuses and close reasons.
const (
	AlertOpen         = "open"
	AlertAcknowledged = "acknowledged"
	AlertClosed       = "closed"
)

// AlertStatuses are the statuses triage accepts.
func AlertStatuses() []string { return []string{AlertOpen, AlertAcknowledged, AlertClosed} }

// AlertLevels are the levels of rules and their alerts, lowest first
// (Sigma's).
func AlertLevels() []string { return []string{"informational", "low", "medium", "high", "critical"} }

// CloseReasons are the reasons an alert is closed with.
func CloseReasons() []string { return []string{"true-positive", "false-positive", "benign"} }

// AlertUpdate is a triage change of an alert (PATCH /api/v1/alerts/{id});
// absent fields stay as they are. Reason goes with status closed; a note
// is appended.
type AlertUpdate struct {
	Status   *string `json:"status,omitempty"`
	Reason   *string `json:"reason,omitempty"`
	Assignee *string `json:"assignee,omitempty"`
	Note     string  `json:"note,omitempty"`
}

// AlertFilter selects alerts.
type AlertFilter struct {
	Tenant string
	Since  time.Time
	Level  string
	RuleID string
	Status string
	Limit  int
}

// RuleInfo is a detection rule as a tenant sees it: a built-in one (which
// it may switch off) or its own.
type RuleInfo struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Level   string `json:"level"`
	Service string `json:"service"`
	Tenant  string `json:"tenant"`
	Builtin bool   `json:"builtin"`
	Enabled bool   `json:"enabled"`
	Hunt    string `json:"query"`
	// Failed is why the rule's last evaluation failed ("" when it did
	// not): the rule is skipped, the others go on, until it is fixed.
	Failed   string     `json:"failed,omitempty"`
	FailedAt *time.Time `json:"failed_at,omitempty"`
	// Exceptions are the tenant's exclusions from the rule, applied at
	// every evaluation (Hunt includes them).
	Exceptions []RuleException `json:"exceptions,omitempty"`
}

// RuleException excludes what its query matches from a tenant's rule,
// with who added it and why.
type RuleException struct {
	ID      string    `json:"id"`
	RuleID  string    `json:"rule_id"`
	Tenant  string    `json:"tenant"`
	Query   string    `json:"query"`
	Reason  string    `json:"reason"`
	Author  string    `json:"author"`
	Created time.Time `json:"created_at"`
}

// RuleRun is what a run of a rule over a past period did
// (POST /api/v1/rules/{id}/run).
type RuleRun struct {
	Rule    string    `json:"rule"`
	Tenant  string    `json:"tenant"`
	From    time.Time `json:"from"` // the period evaluated, in the rule's windows
	To      time.Time `json:"to"`
	Windows int       `json:"windows"`
	Found   int       `json:"found"`  // alerts the period holds
	Alerts  int       `json:"alerts"` // of them, new ones (0 when run again)
}

// EvaluationReport says what one evaluation of the rules did.
type EvaluationReport struct {
	Rules   int `json:"rules"`
	Windows int `json:"windows"`
	// Covered are the windows of single-event rules whose every record the
	// detector had already read with the rule, so they were not searched
	// again (they count in Windows too).
	Covered int `json:"covered"`
	Alerts  int `json:"alerts"` // new ones
	Failed  int `json:"failed"` // rules that failed (marked, skipped; the others went on)
}

// NodeInfo is a node of a shared catalog as the others see it.
type NodeInfo struct {
	Name      string    `json:"name"`
	Addr      string    `json:"addr"`
	StartedAt time.Time `json:"started_at"`
	SeenAt    time.Time `json:"seen_at"`
	Live      bool      `json:"live"` // its heartbeat is younger than three lease periods
	This      bool      `json:"this"` // the node answering
}

// SearchRequest is one search as the API reads it (GET /api/v1/search and
// the queries beside it). Tenants is the tenant scope, set by the server
// from the authenticated identity, never by the caller; empty means all
// tenants (root scope).
type SearchRequest struct {
	Indices []string
	Tenants []string
	From    time.Time
	To      time.Time
	Query   string
	Limit   int
	// Before is a keyset cursor: return records older than it.
	Before *Cursor
}

// Token is an API token's record; only its hash is stored.
type Token struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant,omitempty"` // empty: root scope
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// ActorEntry is one line of the actor log (who did what).
type ActorEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Tenant string    `json:"tenant"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail"`
}

// RetentionSetting is how many UTC days of records are kept (today
// included; 0 keeps them forever) for the whole lake (no tenant), a tenant
// (no index) or a tenant's index. Retention is the same as text: "90d"
// or "forever".
type RetentionSetting struct {
	Tenant    string `json:"tenant,omitempty"`
	Index     string `json:"index,omitempty"`
	Days      int    `json:"days"`
	Retention string `json:"retention"`
	// SetBy is who set a tenant's or a tenant index's setting: "root"
	// (then a tenant's token may not change or remove it) or "tenant".
	SetBy string `json:"set_by,omitempty"`
}

// RetentionReport is the retention that applies: the lake's default (a
// stored one, or trawl serve --retention) and the settings of tenants and
// indexes (the most specific applies).
type RetentionReport struct {
	Default  RetentionSetting   `json:"default"`
	Settings []RetentionSetting `json:"settings"`
}

// RetentionChange sets a retention: Retention "90d", "forever" (or "0"),
// or "inherit" to remove the setting so the less specific one applies.
type RetentionChange struct {
	Tenant    string `json:"tenant,omitempty"`
	Index     string `json:"index,omitempty"`
	Retention string `json:"retention"`
}
