package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
)

// commitSalvaging commits a group of batches in one transaction. When the
// store refuses the group for a reason tied to its content (a value it
// cannot hold), it retries at a finer grain, per object and then per
// record by halves, and quarantines the record it still refuses, with the
// reason; everything else commits. Each smaller commit still advances the
// object's checkpoint together with its records, so exactly-once holds.
// Only a failure of the store itself (disk, lock, cancellation, or a
// commit that holds no record at all) fails the run. It returns how many
// records went to the quarantine instead of the ingest.
func commitSalvaging(ctx context.Context, st Store, bs []*ingest.Batch, log *slog.Logger) (int, error) {
	err := st.CommitMany(ctx, bs)
	if err == nil || storeFailure(ctx, err) {
		return 0, err
	}
	log.Warn("the lake refused a commit; retrying object by object", "objects", len(bs), "err", err)
	moved := 0
	for _, b := range bs {
		if len(bs) > 1 {
			if err := st.CommitMany(ctx, []*ingest.Batch{b}); err == nil {
				continue
			} else if storeFailure(ctx, err) {
				return moved, err
			}
		}
		s := &salvager{st: st, b: b, log: log,
			records:     b.Object.Records - int64(len(b.Sel)),
			quarantined: b.Object.Quarantined - int64(len(b.Quarantine))}
		if err := s.commitRows(ctx, b.Sel); err != nil {
			return moved + s.moved, err
		}
		if err := s.finish(ctx); err != nil {
			return moved + s.moved, err
		}
		moved += s.moved
	}
	return moved, nil
}

// storeFailure reports whether an error is the store's own (retrying the
// same data at a finer grain cannot help) rather than the content's.
func storeFailure(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ingest.ErrFenced) || errors.Is(err, ingest.ErrStoreUnavailable) || errors.Is(err, ingest.ErrCommitUnknown) {
		return true // fenced: another node holds the partition now; nothing of this may commit
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"no space left", "disk full", "i/o error", "io error", "could not set lock", "database is locked",
		"read-only", "out of memory", "database has been invalidated", "connection is closed", "sql: database is closed",
		// PostgreSQL (a shared catalog) out of reach or going away
		"connection refused", "connection reset", "broken pipe", "conn closed", "failed to connect", "i/o timeout",
		"unexpected eof", "sqlstate 57p", "sqlstate 08", "sqlstate 53", "bad connection"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// salvager commits one refused batch in pieces, in position order.
type salvager struct {
	st  Store
	b   *ingest.Batch
	log *slog.Logger
	// committed so far: the object's counters, and the next quarantine
	// entry of b not yet committed
	records, quarantined int64
	qi                   int
	moved                int
}

func (s *salvager) position(row int32) int64 { return s.b.Rows.Num(interflow.FPosition, int(row)) }

// commitRows commits rows (in position order); a part the store refuses
// is halved until the one refused record is found and quarantined.
func (s *salvager) commitRows(ctx context.Context, rows []int32) error {
	if len(rows) == 0 {
		return nil
	}
	err := s.piece(ctx, rows, nil)
	if err == nil || storeFailure(ctx, err) {
		return err
	}
	if len(rows) > 1 {
		mid := len(rows) / 2
		if err := s.commitRows(ctx, rows[:mid]); err != nil {
			return err
		}
		return s.commitRows(ctx, rows[mid:])
	}
	r := s.b.Rows.Row(int(rows[0]))
	pos := s.position(rows[0])
	raw, _ := r.Str(interflow.FRaw)
	s.log.Warn("the lake refused a record; quarantining it", "key", s.b.Object.Key, "position", pos, "err", err)
	q := ingest.QuarantineItem{Tenant: str(r, interflow.FTenant), Connector: str(r, interflow.FConnector), Bucket: str(r, interflow.FBucket),
		Key: s.b.Object.Key, Version: s.b.Object.Version, Position: pos, Scope: "record",
		Reason: fmt.Sprintf("the lake could not store this record: %v", err), Raw: capBytes([]byte(raw), 64<<10)}
	if err := s.piece(ctx, nil, &q); err != nil {
		return fmt.Errorf("quarantine the record the lake refused (%s#%d): %w", s.b.Object.Key, pos, err)
	}
	s.moved++
	return nil
}

func str(r *interflow.Record, i int) string { v, _ := r.Str(i); return v }

func capBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// piece commits rows, or one extra quarantine entry, with the batch's
// quarantine entries up to the same position and a checkpoint just past
// it.
func (s *salvager) piece(ctx context.Context, rows []int32, extra *ingest.QuarantineItem) error {
	last := int64(0)
	if len(rows) > 0 {
		last = s.position(rows[len(rows)-1])
	} else {
		last = extra.Position
	}
	j := s.qi
	for j < len(s.b.Quarantine) && s.b.Quarantine[j].Position <= last && s.b.Quarantine[j].Scope == "record" {
		j++
	}
	qs := append([]ingest.QuarantineItem(nil), s.b.Quarantine[s.qi:j]...)
	if extra != nil {
		qs = append(qs, *extra)
	}
	obj := s.b.Object
	obj.Position, obj.Done = last+1, false
	obj.Records = s.records + int64(len(rows))
	obj.Quarantined = s.quarantined + int64(len(qs))
	piece := &ingest.Batch{ConnectorID: s.b.ConnectorID, Tenant: s.b.Tenant, Schema: s.b.Schema, Rows: s.b.Rows, Sel: rows, Quarantine: qs, Object: obj, Lease: s.b.Lease}
	if err := s.st.CommitMany(ctx, []*ingest.Batch{piece}); err != nil {
		return err
	}
	s.qi, s.records, s.quarantined = j, obj.Records, obj.Quarantined
	return nil
}

// finish commits the batch's remaining quarantine entries and its own
// checkpoint. If the store refuses the entries' bytes, they are kept
// without them, the reason saying so.
func (s *salvager) finish(ctx context.Context) error {
	rest := append([]ingest.QuarantineItem(nil), s.b.Quarantine[s.qi:]...)
	obj := s.b.Object
	obj.Records = s.records
	obj.Quarantined = s.quarantined + int64(len(rest))
	piece := &ingest.Batch{ConnectorID: s.b.ConnectorID, Tenant: s.b.Tenant, Schema: s.b.Schema, Rows: s.b.Rows, Quarantine: rest, Object: obj, Lease: s.b.Lease}
	err := s.st.CommitMany(ctx, []*ingest.Batch{piece})
	if err == nil || storeFailure(ctx, err) || len(rest) == 0 {
		return err
	}
	for i := range rest {
		rest[i].Reason += fmt.Sprintf(" (its bytes could not be stored: %v)", err)
		rest[i].Raw = nil
	}
	return s.st.CommitMany(ctx, []*ingest.Batch{piece})
}
