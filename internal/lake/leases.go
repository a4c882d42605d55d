package lake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// A lease lets one node at a time collect a partition of a connector (an
// account and region, or a folder) when several nodes share a catalog. It
// expires unless renewed; whoever takes an expired lease raises its epoch,
// and every commit checks that its lease still has the epoch it was taken
// with (fencing): a node that lost its lease, paused or cut off, commits
// nothing over the new holder.

// Lease is the lease a batch was collected under.
type Lease struct {
	Partition string
	Holder    string
	Epoch     int64
}

// ErrFenced means a commit's lease was taken over: nothing was committed.
var ErrFenced = errors.New("the partition's lease was taken over by another node")

// Leases claims, renews and releases leases for one process. Its holder
// name is the node's plus a random instance. A node restarted (after a
// crash or kill -9) takes its own node's leases back at once, with a new
// epoch, so an old instance of it that is only paused is fenced too; other
// nodes wait for a lease to expire. Node names must be unique.
type Leases struct {
	l      *Lake
	node   string
	holder string
	ttl    time.Duration
}

// Leases returns the lease keeper of this process on node, with leases
// lasting ttl.
func (l *Lake) Leases(node string, ttl time.Duration) *Leases {
	raw := make([]byte, 4)
	_, _ = rand.Read(raw)
	return &Leases{l: l, node: node, holder: node + "/" + hex.EncodeToString(raw), ttl: ttl}
}

// Shared reports whether other processes may share the catalog (it is in
// PostgreSQL), so partitions are leased.
func (l *Lake) Shared() bool { return l.db.pg }

// Holder is this process's holder name.
func (x *Leases) Holder() string { return x.holder }

// TTL is how long a lease lasts unless renewed.
func (x *Leases) TTL() time.Duration { return x.ttl }

// Claim takes the partitions that are free, expired or already this
// holder's, and returns them with their epochs.
func (x *Leases) Claim(ctx context.Context, connectorID string, partitions []string) (map[string]Lease, error) {
	out := map[string]Lease{}
	for _, p := range partitions {
		now := time.Now().UTC()
		_, err := x.l.db.ExecContext(ctx, `INSERT INTO leases VALUES (?, ?, ?, ?, 1, ?)
 ON CONFLICT (connector_id, part) DO UPDATE SET
   epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch ELSE leases.epoch + 1 END,
   node = excluded.node, holder = excluded.holder, expires_at = excluded.expires_at
 WHERE leases.holder = excluded.holder OR leases.node = excluded.node OR leases.expires_at <= ?`, connectorID, p, x.node, x.holder, now.Add(x.ttl), now)
		if err != nil {
			return nil, fmt.Errorf("lake: lease %s of %s: %w", p, connectorID, err)
		}
		var holder string
		var epoch int64
		if err := x.l.db.QueryRowContext(ctx, `SELECT holder, epoch FROM leases WHERE connector_id = ? AND part = ?`, connectorID, p).Scan(&holder, &epoch); err != nil {
			return nil, fmt.Errorf("lake: lease %s of %s: %w", p, connectorID, err)
		}
		if holder == x.holder {
			out[p] = Lease{Partition: p, Holder: holder, Epoch: epoch}
		}
	}
	return out, nil
}

// Renew extends the leases; it reports ErrFenced when one was lost.
func (x *Leases) Renew(ctx context.Context, connectorID string, held map[string]Lease) error {
	until := time.Now().UTC().Add(x.ttl)
	for p, ls := range held {
		res, err := x.l.db.ExecContext(ctx, `UPDATE leases SET expires_at = ? WHERE connector_id = ? AND part = ? AND holder = ? AND epoch = ?`,
			until, connectorID, p, ls.Holder, ls.Epoch)
		if err != nil {
			return fmt.Errorf("lake: renew lease %s of %s: %w", p, connectorID, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("lake: lease %s of %s: %w", p, connectorID, ErrFenced)
		}
	}
	return nil
}

// Release lets the leases go at once (the next run, on any node, may take
// them without waiting for them to expire).
func (x *Leases) Release(ctx context.Context, connectorID string, held map[string]Lease) {
	now := time.Now().UTC()
	for p, ls := range held {
		_, _ = x.l.db.ExecContext(ctx, `UPDATE leases SET expires_at = ? WHERE connector_id = ? AND part = ? AND holder = ? AND epoch = ?`,
			now, connectorID, p, ls.Holder, ls.Epoch)
	}
}

// checkLeases is the fencing of a commit: inside its transaction, every
// lease its batches were collected under must still be theirs.
func checkLeases(ctx context.Context, conn *catConn, bs []*Batch) error {
	seen := map[Lease]bool{}
	for _, b := range bs {
		if b.Lease == nil || seen[*b.Lease] {
			continue
		}
		seen[*b.Lease] = true
		q := `SELECT holder, epoch FROM leases WHERE connector_id = ? AND part = ?`
		if conn.db.pg {
			q += ` FOR UPDATE` // a takeover waits for this commit, or this commit sees it
		}
		var holder string
		var epoch int64
		err := conn.QueryRowContext(ctx, q, b.ConnectorID, b.Lease.Partition).Scan(&holder, &epoch)
		if err != nil || holder != b.Lease.Holder || epoch != b.Lease.Epoch {
			return fmt.Errorf("lake: commit of %s (partition %s, epoch %d): %w", b.Object.Key, b.Lease.Partition, b.Lease.Epoch, ErrFenced)
		}
	}
	return nil
}
