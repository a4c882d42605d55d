package ingest

import (
	"errors"
	"time"

	"github.com/trawlhq/trawl/internal/interflow"
)

// ObjectState is the checkpoint of one object of one connector: how many
// records (Position) of which version of it are committed, and whether it is
// finished.
type ObjectState struct {
	Key          string
	Version      string
	Position     int64
	Done         bool
	Records      int64
	Quarantined  int64
	Size         int64
	LastModified time.Time
	// SHA256 is the hex SHA-256 of the object's uncompressed content,
	// hashed while it was decompressed (CloudTrail objects, for the
	// digest audit); empty until the object is read to its end.
	SHA256 string
}

// QuarantineItem is input that could not be decoded, kept with the reason.
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
	// not (apiv1.QuarantineItem is how the API writes them).
	Raw       []byte     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	RetriedAt *time.Time `json:"retried_at,omitempty"`
}

// Batch is what commits atomically for one object: the rows it yielded
// from the previous checkpoint position to Object.Position (rows Sel of a
// worker's columnar batch), the input quarantined on the way, and the new
// checkpoint.
type Batch struct {
	ConnectorID string
	Tenant      string
	Schema      *interflow.Schema
	Object      ObjectState
	Rows        *interflow.Batch
	Sel         []int32
	Quarantine  []QuarantineItem
	// Lease, when set, is the partition lease the batch was collected
	// under: the commit checks it is still held (fencing).
	Lease *Lease
	// Rules, when set, are the single-event detection rules every row of
	// the batch was evaluated with as it was stored, and Hits what they
	// matched: the commit stores the alerts and marks the segments read
	// by those rules in its own transaction. Without them (a salvaged
	// piece, a resolved record) the detector reads the segments later.
	Rules *RuleSet
	Hits  []Hit
}

// RuleSet is the single-event detection rules a run evaluates at ingest:
// a tenant's enabled rules of one index, as the detector would apply
// them, with the window alerts are counted in (Step).
type RuleSet struct {
	Rules []DetectRule
	Step  time.Duration
}

// DetectRule is what an alert names of the rule that raised it; Query is
// the hunt it was evaluated as (coverage is kept per query).
type DetectRule struct{ ID, Title, Level, Query string }

// Hit is a stored record a rule (RuleSet.Rules[Rule]) matched at ingest.
type Hit struct {
	Rule int
	ID   string
	Time time.Time
}

// RecordsBatch makes a Batch of records (all of one tenant and schema):
// for tests and tools.
func RecordsBatch(connectorID string, obj ObjectState, recs ...*interflow.Record) *Batch {
	s := interflow.Events()
	tenant := ""
	if len(recs) > 0 {
		s = recs[0].Schema
		tenant, _ = recs[0].Str(interflow.FTenant)
	}
	rows := interflow.NewBatch(s)
	sel := make([]int32, len(recs))
	for i, r := range recs {
		rows.Append(r)
		sel[i] = int32(i)
	}
	return &Batch{ConnectorID: connectorID, Tenant: tenant, Schema: s, Object: obj, Rows: rows, Sel: sel}
}

// Lease is the lease a batch was collected under.
type Lease struct {
	Partition string
	Holder    string
	Epoch     int64
}

// Segment is one segment file as the catalog registers it and the
// segment engine reads it.
type Segment struct {
	ID        string
	Index     string
	Tenant    string
	Day       time.Time
	Path      string // relative to the lake's root
	Rows      int64
	Bytes     int64
	MinTS     time.Time
	MaxTS     time.Time
	RowGroups int
	Level     int // 0 when written by ingest; compaction adds one
}

// ErrFenced means a commit's lease was taken over: nothing was committed.
var ErrFenced = errors.New("the partition's lease was taken over by another node")

// ErrStoreUnavailable wraps a failure to put a segment in the store: the
// commit fails as a whole (no record of it is to blame) and is retried at
// the next run.
var ErrStoreUnavailable = errors.New("the lake's store refused or could not be reached")

// ErrCommitUnknown marks a COMMIT that failed without saying whether it
// took effect (a connection lost mid-commit): its files are kept (the
// sweep at the next open removes them if they were not registered) and
// its records are not retried piecemeal; the next run's checkpoints tell.
var ErrCommitUnknown = errors.New("the catalog did not confirm the commit")
