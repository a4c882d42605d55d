package app

import (
	"context"
	"errors"

	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
)

// RetryQuarantine reprocesses a connector's quarantine after a fix: records
// are decoded again from their stored bytes and stored once if they now
// decode; objects whose rest was quarantined are read again at the next run
// from their committed position, so nothing is stored twice.
func (a *App) RetryQuarantine(ctx context.Context, sc Scope, connectorID string) (*RetryResult, error) {
	c, err := a.GetConnector(ctx, sc, connectorID)
	if err != nil {
		return nil, err
	}
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	res := &RetryResult{}
	// A page at a time: the quarantine may hold many entries of 64 KB.
	after := ""
	for {
		items, err := a.lake.QuarantinedRecords(ctx, connectorID, after, retryPage)
		if err != nil {
			return res, err
		}
		if len(items) == 0 {
			break
		}
		after = items[len(items)-1].ID
		if err := a.retryPage(ctx, c, items, res); err != nil {
			return res, err
		}
	}
	if res.ObjectsQueued, err = a.lake.RequeueObjects(ctx, connectorID); err != nil {
		return res, err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, c.Tenant, "quarantine.retry", c.ID, c.Name)
	return res, nil
}

// retryPage is how many quarantined records a retry holds at once.
const retryPage = 100

func (a *App) retryPage(ctx context.Context, c *connector.Connector, items []ingest.QuarantineItem, res *RetryResult) error {
	keys := make([]string, 0, len(items))
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	states, err := a.lake.ObjectStatesOf(ctx, c.ID, keys)
	if err != nil {
		return err
	}
	for _, it := range items {
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
				return err
			}
			continue
		}
		if err := a.lake.ResolveRecord(ctx, it, rec); err != nil {
			if errors.Is(err, catalog.ErrNotFound) {
				continue
			}
			return err
		}
		res.Resolved++
	}
	return nil
}
