package catalog

import "github.com/trawlhq/trawl/internal/ingest"

// The ingest vocabulary under the names the catalog has always used: a
// commit's batches, their checkpoints, quarantine and leases, and the
// Segment descriptors the registry holds (the engine's).
type (
	ObjectState    = ingest.ObjectState
	QuarantineItem = ingest.QuarantineItem
	Batch          = ingest.Batch
	Lease          = ingest.Lease
	Segment        = ingest.Segment
	Timings        = ingest.Timings
)
