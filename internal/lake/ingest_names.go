package lake

import "github.com/trawlhq/trawl/internal/ingest"

// The ingest vocabulary under the names this package has always used.
type (
	ObjectState    = ingest.ObjectState
	QuarantineItem = ingest.QuarantineItem
	Batch          = ingest.Batch
	Lease          = ingest.Lease
	Segment        = ingest.Segment
	Timings        = ingest.Timings
)
