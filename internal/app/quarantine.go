package app

import (
	"context"
	"errors"

	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/lake"
)

// RetryResult counts what a quarantine retry did.
type RetryResult struct {
	Resolved      int   `json:"resolved"`         // records that now decode and were stored
	StillBad      int   `json:"still_bad"`        // records that still do not decode
	ObjectsQueued int64 `json:"objects_requeued"` // objects to be read again at the next run
}

// RetryQuarantine reprocesses a connector's quarantine after a fix: records
// are decoded again from their stored bytes and stored once if they now
// decode; objects whose rest was quarantined are read again at the next run
// from their committed position, so nothing is stored twice.
func (a *App) RetryQuarantine(ctx context.Context, sc Scope, connectorID string) (*RetryResult, error) {
	c, err := a.GetConnector(ctx, sc, connectorID)
	if err != nil {
		return nil, err
	}
	items, err := a.lake.Quarantine(ctx, lake.QuarantineFilter{ConnectorID: connectorID, Limit: 100000})
	if err != nil {
		return nil, err
	}
	states, err := a.lake.ObjectStates(ctx, connectorID)
	if err != nil {
		return nil, err
	}
	res := &RetryResult{}
	for _, it := range items {
		if it.Scope != "record" {
			continue
		}
		prov := interflow.Provenance{Tenant: c.Tenant, Connector: c.Name, Bucket: it.Bucket, Key: it.Key, ETag: it.Version,
			LastModified: states[it.Key].LastModified}
		rec, err := collect.Renormalize(c.SubType, it.Raw, prov, it.Position)
		if err != nil {
			res.StillBad++
			reason := err.Error()
			var re *format.RecordError
			if errors.As(err, &re) {
				reason = re.Reason
			}
			if err := a.lake.MarkRetried(ctx, it.ID, reason); err != nil {
				return res, err
			}
			continue
		}
		if err := a.lake.ResolveRecord(ctx, it, rec); err != nil {
			if errors.Is(err, lake.ErrNotFound) {
				continue
			}
			return res, err
		}
		res.Resolved++
	}
	if res.ObjectsQueued, err = a.lake.RequeueObjects(ctx, connectorID); err != nil {
		return res, err
	}
	_ = a.lake.Audit(ctx, sc.Actor, c.Tenant, "quarantine.retry", c.ID, c.Name)
	return res, nil
}
