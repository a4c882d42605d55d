package segment

import "github.com/trawlhq/trawl/internal/ingest"

// The ingest vocabulary under the names the engine has always used: the
// catalog registers the same Segment descriptors the engine writes.
type (
	Batch   = ingest.Batch
	Segment = ingest.Segment
	Timings = ingest.Timings
)
