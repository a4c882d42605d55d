package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
)

// Commit writes a batch in one transaction.
func (l *Lake) Commit(ctx context.Context, b *ingest.Batch) error {
	return l.CommitMany(ctx, []*ingest.Batch{b})
}

// CommitMany writes several batches (of one connector) atomically: their
// rows become segments, one per index, tenant and day, written and synced
// first; then one catalog transaction registers the segments, stores the
// quarantined input and advances every checkpoint. Many small objects
// thus cost one commit, not one each. Callers may commit concurrently:
// segments are written in parallel, and only the short catalog
// transaction is serialised.
func (l *Lake) CommitMany(ctx context.Context, bs []*ingest.Batch) error {
	if len(bs) == 0 {
		return nil
	}
	segs, err := l.Write(ctx, bs)
	raised := 0
	if err == nil {
		raised, err = l.Register(ctx, bs, segs)
		err = l.settle(ctx, err, segs)
	} else {
		l.Remove(segs)
	}
	if err != nil {
		n := 0
		for _, b := range bs {
			n += len(b.Sel)
		}
		return fmt.Errorf("lake: commit %d records of %d objects (first %s): %w", n, len(bs), bs[0].Object.Key, err)
	}
	if raised > 0 {
		l.ingestAlerts.Add(int64(raised))
		l.alertsRaised.Store(true)
	}
	if len(segs) > 0 {
		// (The detector also delivers the alerts raised here.)
		l.wakeDetector()
		l.wakePublisher()
	}
	return nil
}

// settle ends a registration of segs that failed with err: their files
// are deleted when the transaction surely did not take effect. A COMMIT
// whose outcome the catalog could not confirm is resolved by asking
// whether the first segment is registered (they all are, or none): if it
// is, the commit succeeded after all; if the catalog cannot say, the
// files stay (the sweep at the next open removes them if unregistered).
func (l *Lake) settle(ctx context.Context, err error, segs []ingest.Segment) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, ingest.ErrCommitUnknown) {
		l.Remove(segs)
		return err
	}
	if len(segs) == 0 {
		return err
	}
	ok, qerr := l.Registered(context.WithoutCancel(ctx), segs[0].ID)
	if qerr != nil {
		return err
	}
	if ok {
		return nil
	}
	l.Remove(segs)
	return fmt.Errorf("the commit did not take effect: %w", errors.Unwrap(err))
}

// ResolveRecord stores a quarantined record that now decodes (as a small
// segment), and removes it from the quarantine, in one transaction.
func (l *Lake) ResolveRecord(ctx context.Context, item ingest.QuarantineItem, rec *interflow.Record) error {
	b := ingest.RecordsBatch(item.ConnectorID, ingest.ObjectState{}, rec)
	segs, err := l.Write(ctx, []*ingest.Batch{b})
	if err == nil {
		err = l.settle(ctx, l.Catalog.ResolveRecord(ctx, item, segs), segs)
	} else {
		l.Remove(segs)
	}
	if err != nil {
		return fmt.Errorf("lake: resolve quarantined record %s#%d: %w", item.Key, item.Position, err)
	}
	l.wakePublisher()
	return nil
}

// Committed is signalled after a commit registered segments for the
// detector (one signal may stand for many commits).
func (l *Lake) Committed() <-chan struct{} { return l.committed }

// wakeDetector signals Committed without waiting: a commit never waits
// for the detector.
func (l *Lake) wakeDetector() {
	select {
	case l.committed <- struct{}{}:
	default:
	}
}
