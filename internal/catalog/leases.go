package catalog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"errors"
	"github.com/trawlhq/trawl/internal/ingest"
)

// A lease lets one node at a time collect a partition of a connector (an
// account and region, or a folder) when several nodes share a catalog. It
// expires unless renewed; whoever takes an expired lease raises its epoch,
// and every commit checks that its lease still has the epoch it was taken
// with (fencing): a node that lost its lease, paused or cut off, commits
// nothing over the new holder.

// Leases claims, renews and releases leases for one process. Its holder
// name is the node's plus a random instance. A node restarted (after a
// crash or kill -9) takes its own node's leases back at once, with a new
// epoch, so an old instance of it that is only paused is fenced too; other
// nodes wait for a lease to expire. Node names must be unique.
type Leases struct {
	l      *Catalog
	node   string
	holder string
	ttl    time.Duration
}

// Leases returns the lease keeper of this process on node, with leases
// lasting ttl.
func (l *Catalog) Leases(node string, ttl time.Duration) *Leases {
	raw := make([]byte, 4)
	_, _ = rand.Read(raw)
	return &Leases{l: l, node: node, holder: node + "/" + hex.EncodeToString(raw), ttl: ttl}
}

// Shared reports whether other processes may share the catalog (it is in
// PostgreSQL), so partitions are leased.
func (l *Catalog) Shared() bool { return l.db.pg }

// Holder is this process's holder name.
func (x *Leases) Holder() string { return x.holder }

// TTL is how long a lease lasts unless renewed.
func (x *Leases) TTL() time.Duration { return x.ttl }

// Claim takes up to limit of the partitions that are free, expired or
// already this node's (limit <= 0: all it can), and returns them with
// their epochs. Leases exist only in a shared (PostgreSQL) catalog: a
// process alone on its catalog collects every partition.
//
// The claim is one transaction: partitions never leased get a free row,
// then the free, expired or own rows are locked (a share with FOR UPDATE
// SKIP LOCKED, longest expired first, so a dead node's partitions are
// taken before those another node released a moment ago) and taken. The
// commit's own FOR UPDATE on its lease orders it against a takeover.
func (x *Leases) Claim(ctx context.Context, connectorID string, partitions []string, limit int) (map[string]Lease, error) {
	if !x.l.db.pg {
		return nil, errors.New("lake: leases need a shared (PostgreSQL) catalog")
	}
	out := map[string]Lease{}
	if len(partitions) == 0 {
		return out, nil
	}
	// One order for every node's inserts, so two claims of new
	// partitions cannot wait on each other's rows in a cycle.
	partitions = append([]string(nil), partitions...)
	sort.Strings(partitions)
	err := x.l.withTx(ctx, func(conn *catConn) error {
		clear(out)
		if err := insertFreeLeases(ctx, conn, connectorID, partitions); err != nil {
			return err
		}
		now := time.Now().UTC()
		picked, err := x.pick(ctx, conn, connectorID, partitions, limit, now)
		if err != nil || len(picked) == 0 {
			return err
		}
		return x.take(ctx, conn, connectorID, picked, now, out)
	})
	if err != nil {
		return nil, fmt.Errorf("lake: lease partitions of %s: %w", connectorID, err)
	}
	return out, nil
}

// insertFreeLeases gives each partition never leased a free row: no
// holder, expired at the epoch's start, epoch 0 (the first claim makes
// it 1).
func insertFreeLeases(ctx context.Context, conn *catConn, connectorID string, partitions []string) error {
	var q strings.Builder
	args := make([]any, 0, 2*len(partitions))
	q.WriteString(`INSERT INTO leases VALUES `)
	for i, p := range partitions {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(`(?, ?, '', '', 0, TIMESTAMP '1970-01-01 00:00:00')`)
		args = append(args, connectorID, p)
	}
	q.WriteString(` ON CONFLICT (connector_id, part) DO NOTHING`)
	_, err := conn.ExecContext(ctx, q.String(), args...)
	return err
}

// pick locks the rows of the partitions this claim may take. A share
// (limit > 0) skips the rows another node is claiming at this moment and
// takes the next free ones, so nodes claiming at once split the
// partitions without queueing. A claim of all waits for each row in one
// order (deadlock-free): a node stalled inside a commit holds its lease
// row until PostgreSQL ends its session, and the partition is then taken
// over in this run, not skipped.
func (x *Leases) pick(ctx context.Context, conn *catConn, connectorID string, partitions []string, limit int, now time.Time) ([]string, error) {
	sel := `SELECT part FROM leases WHERE connector_id = ? AND part IN (` + placeholders(len(partitions)) + `)
 AND (holder = ? OR node = ? OR expires_at <= ?)`
	args := []any{connectorID}
	for _, p := range partitions {
		args = append(args, p)
	}
	args = append(args, x.holder, x.node, now)
	if limit > 0 {
		sel += ` ORDER BY expires_at, part LIMIT ? FOR UPDATE SKIP LOCKED`
		args = append(args, limit)
	} else {
		sel += ` ORDER BY part FOR UPDATE`
	}
	return queryStrings(ctx, conn, sel, args...)
}

// take takes the picked rows, locked by this transaction, in one
// statement, raising the epoch where the holder changes (a takeover, or
// a first claim) so the previous holder is fenced.
func (x *Leases) take(ctx context.Context, conn *catConn, connectorID string, picked []string, now time.Time, out map[string]Lease) error {
	args := []any{x.holder, x.node, x.holder, now.Add(x.ttl), connectorID}
	for _, p := range picked {
		args = append(args, p)
	}
	rows, err := conn.QueryContext(ctx, `UPDATE leases SET epoch = CASE WHEN holder = ? THEN epoch ELSE epoch + 1 END,
 node = ?, holder = ?, expires_at = ? WHERE connector_id = ? AND part IN (`+placeholders(len(picked))+`) RETURNING part, epoch`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		ls := Lease{Holder: x.holder}
		if err := rows.Scan(&ls.Partition, &ls.Epoch); err != nil {
			return err
		}
		out[ls.Partition] = ls
	}
	return rows.Err()
}

// Node is a Trawl process sharing the catalog, as its heartbeat shows it.
type Node struct {
	Name      string    `json:"name"`
	Addr      string    `json:"addr"`
	StartedAt time.Time `json:"started_at"`
	SeenAt    time.Time `json:"seen_at"`
}

// Heartbeat records that this node is alive (serving at addr, since
// started).
func (x *Leases) Heartbeat(ctx context.Context, addr string, started time.Time) error {
	_, err := x.l.db.ExecContext(ctx, `INSERT INTO nodes VALUES (?, ?, ?, ?)
 ON CONFLICT (node) DO UPDATE SET addr = excluded.addr, started_at = excluded.started_at, seen_at = excluded.seen_at`,
		x.node, addr, started.UTC(), time.Now().UTC())
	if err != nil {
		return fmt.Errorf("lake: heartbeat of node %s: %w", x.node, err)
	}
	return nil
}

// Nodes lists the nodes that ever beat, newest heartbeat first.
func (l *Catalog) Nodes(ctx context.Context) ([]Node, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT node, addr, started_at, seen_at FROM nodes ORDER BY seen_at DESC, node`)
	if err != nil {
		return nil, fmt.Errorf("lake: nodes: %w", err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var n Node
		if err := rows.Scan(&n.Name, &n.Addr, &n.StartedAt, &n.SeenAt); err != nil {
			return nil, fmt.Errorf("lake: nodes: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// LiveNodes counts the nodes whose heartbeat is younger than within (at
// least 1: this one).
func (x *Leases) LiveNodes(ctx context.Context, within time.Duration) (int, error) {
	var n int
	err := x.l.db.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE seen_at > ? AND node <> ?`, time.Now().UTC().Add(-within), x.node).Scan(&n)
	if err != nil {
		return 1, fmt.Errorf("lake: live nodes: %w", err)
	}
	return n + 1, nil
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
			return fmt.Errorf("lake: lease %s of %s: %w", p, connectorID, ingest.ErrFenced)
		}
	}
	return nil
}

// Release lets the leases go at once (the next run, on any node, may take
// them without waiting for them to expire). A released lease has no
// holder: an expired lease that still names one belongs to a node that
// died or stalled (Orphaned).
func (x *Leases) Release(ctx context.Context, connectorID string, held map[string]Lease) {
	now := time.Now().UTC()
	for p, ls := range held {
		_, _ = x.l.db.ExecContext(ctx, `UPDATE leases SET expires_at = ?, holder = '', node = '' WHERE connector_id = ? AND part = ? AND holder = ? AND epoch = ?`,
			now, connectorID, p, ls.Holder, ls.Epoch)
	}
}

// Orphaned lists the connectors with a partition whose lease expired
// without being released: its node died or stalled, and the partition
// waits for another node to take it over.
func (x *Leases) Orphaned(ctx context.Context) ([]string, error) {
	out, err := queryStrings(ctx, x.l.db, `SELECT DISTINCT connector_id FROM leases WHERE holder <> '' AND expires_at <= ? AND part NOT LIKE '#%'`, time.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("lake: orphaned leases: %w", err)
	}
	return out, nil
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
			return fmt.Errorf("lake: commit of %s (partition %s, epoch %d): %w", b.Object.Key, b.Lease.Partition, b.Lease.Epoch, ingest.ErrFenced)
		}
	}
	return nil
}
