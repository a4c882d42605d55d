package collect

import (
	"bytes"
	"fmt"
	"io"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/format/alb"
	"github.com/trawlhq/trawl/internal/format/cloudtrail"
	"github.com/trawlhq/trawl/internal/format/guardduty"
	"github.com/trawlhq/trawl/internal/format/r53resolver"
	"github.com/trawlhq/trawl/internal/format/s3access"
	"github.com/trawlhq/trawl/internal/format/vpcflow"
	"github.com/trawlhq/trawl/internal/format/waf"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/source"
)

// Decoder yields the raw records of one object and normalizes them. It is
// used by one goroutine (decoders reuse parse buffers between records).
type Decoder interface {
	Next() ([]byte, error)
	Offset() int64
	Normalize(raw []byte, rec *interflow.Record) error
}

// Format binds a sub type to its decoder.
type Format struct {
	Schema     *interflow.Schema
	Class      string
	Category   string
	SkipReason func(key string) string
	NewDecoder func(r io.Reader, obj source.Object) Decoder
}

type cloudtrailDecoder struct {
	*cloudtrail.Reader
	cloudtrail.Normalizer
}

func noSkip(string) string { return "" }

// FormatFor returns the format of a sub type.
func FormatFor(st connector.SubType) (Format, bool) {
	switch st {
	case connector.CloudTrail:
		return Format{
			Schema: interflow.Events(), Class: "cloudtrail", Category: "paas", SkipReason: cloudtrail.SkipReason,
			NewDecoder: func(r io.Reader, _ source.Object) Decoder { return &cloudtrailDecoder{Reader: cloudtrail.NewReader(r)} },
		}, true
	case connector.VPCFlow:
		return Format{
			Schema: interflow.Traffic(), Class: "vpcflow", Category: "paas", SkipReason: vpcflow.SkipReason,
			NewDecoder: func(r io.Reader, obj source.Object) Decoder {
				d := vpcflow.NewDecoder(r, obj.Key)
				d.SetDeliveryTime(obj.LastModified)
				return d
			},
		}, true
	case connector.WAF:
		return Format{
			Schema: interflow.Events(), Class: "aws_waf", Category: "waf", SkipReason: noSkip,
			NewDecoder: func(r io.Reader, obj source.Object) Decoder { return waf.NewDecoder(r, obj.Key) },
		}, true
	case connector.R53Resolver:
		return Format{
			Schema: interflow.Events(), Class: r53resolver.Class, Category: "paas", SkipReason: noSkip,
			NewDecoder: func(r io.Reader, _ source.Object) Decoder { return r53resolver.NewDecoder(r) },
		}, true
	case connector.ALB:
		return Format{
			Schema: interflow.Events(), Class: alb.Class, Category: "paas", SkipReason: alb.SkipReason,
			NewDecoder: func(r io.Reader, obj source.Object) Decoder { return alb.NewDecoder(r, obj.Key) },
		}, true
	case connector.S3Access:
		return Format{
			Schema: interflow.Events(), Class: s3access.Class, Category: "paas", SkipReason: s3access.SkipReason,
			NewDecoder: func(r io.Reader, obj source.Object) Decoder { return s3access.NewDecoder(r, obj.Key) },
		}, true
	case connector.GuardDuty:
		return Format{
			Schema: interflow.Events(), Class: guardduty.Class, Category: "paas", SkipReason: guardduty.SkipReason,
			NewDecoder: func(r io.Reader, _ source.Object) Decoder { return guardduty.NewDecoder(r) },
		}, true
	}
	return Format{}, false
}

// Renormalize decodes a quarantined record again from its stored bytes (a
// VPC flow entry carries its header line), for `trawl quarantine retry`.
func Renormalize(st connector.SubType, raw []byte, prov interflow.Provenance, pos int64) (*interflow.Record, error) {
	f, ok := FormatFor(st)
	if !ok {
		return nil, fmt.Errorf("sub type %q has no decoder", st)
	}
	dec := f.NewDecoder(bytes.NewReader(raw), source.Object{Key: prov.Key, LastModified: prov.LastModified})
	if c, ok := dec.(io.Closer); ok {
		defer c.Close()
	}
	rec := interflow.New(f.Schema)
	rec.Stamp(prov, pos, f.Class, f.Category)
	one, err := dec.Next()
	if err != nil {
		return rec, fmt.Errorf("still not decodable: %w", err)
	}
	if err := dec.Normalize(one, rec); err != nil {
		return rec, err
	}
	return rec, nil
}
