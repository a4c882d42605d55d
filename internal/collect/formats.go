package collect

import (
	"io"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/format/cloudtrail"
	"github.com/trawlhq/trawl/internal/interflow"
)

// decoder yields raw records of one object.
type decoder interface {
	Next() ([]byte, error)
	Offset() int64
}

// Format binds a sub type to its decoder and normalizer.
type Format struct {
	Schema     *interflow.Schema
	Class      string
	Category   string
	SkipReason func(key string) string
	NewDecoder func(r io.Reader, prov interflow.Provenance) decoder
	// NewNormalizer returns a normalizer for one goroutine (normalizers
	// reuse parse buffers between records).
	NewNormalizer func() func(raw []byte, rec interflow.Record) error
}

// FormatFor returns the format of a sub type, or false if Trawl cannot yet
// decode it.
func FormatFor(st connector.SubType) (Format, bool) {
	switch st {
	case connector.CloudTrail:
		return Format{
			Schema:     interflow.Events(),
			Class:      "cloudtrail",
			Category:   "paas",
			SkipReason: cloudtrail.SkipReason,
			NewDecoder: func(r io.Reader, _ interflow.Provenance) decoder { return cloudtrail.NewReader(r) },
			NewNormalizer: func() func([]byte, interflow.Record) error {
				n := &cloudtrail.Normalizer{}
				return n.Normalize
			},
		}, true
	}
	return Format{}, false
}
