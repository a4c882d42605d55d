package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/connector"
)

// ErrNotFound is returned for a missing catalog object.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when an edit lost a race (stale version) or a
// name is taken.
var ErrConflict = errors.New("conflict")

// StoredConnector is a connector with its sealed secret.
type StoredConnector struct {
	connector.Connector
	SealedSecret string
}

// EnsureTenant records a tenant if it is new.
func (l *Catalog) EnsureTenant(ctx context.Context, name string) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO tenants VALUES (?, ?) ON CONFLICT DO NOTHING`, name, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("lake: tenant %s: %w", name, err)
	}
	return nil
}

// Tenants lists tenant names.
func (l *Catalog) Tenants(ctx context.Context) ([]string, error) {
	out, err := queryStrings(ctx, l.db, `SELECT name FROM tenants ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("lake: tenants: %w", err)
	}
	return out, nil
}

// TenantExternalID returns the tenant's own generated sts:ExternalId,
// creating it (from fresh, which must be random) the first time. It is
// claimed for the tenant like any external ID, so no other tenant can use it.
func (l *Catalog) TenantExternalID(ctx context.Context, tenant, fresh string) (string, error) {
	if _, err := l.db.ExecContext(ctx, `INSERT INTO tenant_external_ids VALUES (?, ?) ON CONFLICT DO NOTHING`, tenant, fresh); err != nil {
		return "", fmt.Errorf("lake: external ID of tenant %s: %w", tenant, err)
	}
	var id string
	if err := l.db.QueryRowContext(ctx, `SELECT external_id FROM tenant_external_ids WHERE tenant = ?`, tenant).Scan(&id); err != nil {
		return "", fmt.Errorf("lake: external ID of tenant %s: %w", tenant, err)
	}
	if err := l.ClaimExternalID(ctx, id, tenant); err != nil {
		return "", err
	}
	return id, nil
}

// ClaimExternalID binds an external ID to a tenant for good (a deleted
// connector does not free it). It returns ErrConflict when another tenant
// holds it.
func (l *Catalog) ClaimExternalID(ctx context.Context, id, tenant string) error {
	if _, err := l.db.ExecContext(ctx, `INSERT INTO external_ids VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, id, tenant, time.Now().UTC()); err != nil {
		return fmt.Errorf("lake: claim external ID: %w", err)
	}
	var owner string
	if err := l.db.QueryRowContext(ctx, `SELECT tenant FROM external_ids WHERE external_id = ?`, id).Scan(&owner); err != nil {
		return fmt.Errorf("lake: claim external ID: %w", err)
	}
	if owner != tenant {
		return fmt.Errorf("external ID in use by another tenant: %w", ErrConflict)
	}
	return nil
}

func encodeConnector(c *connector.Connector) (string, error) {
	cp := *c
	cp.SecretAccessKey = connector.Secret{}
	b, err := json.Marshal(&cp)
	return string(b), err
}

// InsertConnector stores a new connector; the (tenant, name) pair is unique.
func (l *Catalog) InsertConnector(ctx context.Context, c *connector.Connector, sealed string) error {
	cfg, err := encodeConnector(c)
	if err != nil {
		return err
	}
	err = l.withTx(ctx, func(conn *catConn) error {
		var n int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM connectors WHERE tenant = ? AND name = ?`, c.Tenant, c.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("connector %q already exists in tenant %q: %w", c.Name, c.Tenant, ErrConflict)
		}
		_, err := conn.ExecContext(ctx, `INSERT INTO connectors VALUES (?, ?, ?, ?, ?, ?)`, c.ID, c.Tenant, c.Name, cfg, sealed, c.Version)
		return err
	})
	if err != nil && !errors.Is(err, ErrConflict) && uniqueViolation(err) {
		// Lost a race with a concurrent insert of the same name.
		return fmt.Errorf("connector %q already exists in tenant %q: %w", c.Name, c.Tenant, ErrConflict)
	}
	return err
}

// UpdateConnector replaces a connector if its stored version is ifVersion.
func (l *Catalog) UpdateConnector(ctx context.Context, c *connector.Connector, sealed string, ifVersion int64) error {
	cfg, err := encodeConnector(c)
	if err != nil {
		return err
	}
	return l.withTx(ctx, func(conn *catConn) error {
		var v int64
		err := conn.QueryRowContext(ctx, `SELECT version FROM connectors WHERE id = ?`, c.ID).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("connector %s: %w", c.ID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if v != ifVersion {
			return fmt.Errorf("connector %s was changed by someone else (version %d, you edited %d): reload and retry: %w", c.Name, v, ifVersion, ErrConflict)
		}
		_, err = conn.ExecContext(ctx, `UPDATE connectors SET config = ?, secret = ?, version = ? WHERE id = ?`, cfg, sealed, c.Version, c.ID)
		return err
	})
}

// DeleteConnector removes a connector and its checkpoints. Its records stay
// in the lake: they are evidence, and retention is a separate decision.
func (l *Catalog) DeleteConnector(ctx context.Context, id string) error {
	return l.withTx(ctx, func(conn *catConn) error {
		res, err := conn.ExecContext(ctx, `DELETE FROM connectors WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("connector %s: %w", id, ErrNotFound)
		}
		if _, err := conn.ExecContext(ctx, `DELETE FROM objects WHERE connector_id = ?`, id); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, `DELETE FROM audit_results WHERE connector_id = ?`, id); err != nil {
			return err
		}
		_, err = conn.ExecContext(ctx, `DELETE FROM partitions WHERE connector_id = ?`, id)
		return err
	})
}

// Connectors lists connectors, of one tenant when tenant is not empty.
func (l *Catalog) Connectors(ctx context.Context, tenant string) ([]StoredConnector, error) {
	q := `SELECT config, secret FROM connectors`
	var args []any
	if tenant != "" {
		q += ` WHERE tenant = ?`
		args = append(args, tenant)
	}
	q += ` ORDER BY tenant, name`
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("lake: list connectors: %w", err)
	}
	defer rows.Close()
	var out []StoredConnector
	for rows.Next() {
		var cfg string
		var sealed sql.NullString
		if err := rows.Scan(&cfg, &sealed); err != nil {
			return nil, err
		}
		var sc StoredConnector
		if err := json.Unmarshal([]byte(cfg), &sc.Connector); err != nil {
			return nil, fmt.Errorf("lake: connector config: %w", err)
		}
		sc.SecretAccessKey = connector.Secret{}
		sc.SealedSecret = sealed.String
		out = append(out, sc)
	}
	return out, rows.Err()
}

// Connector returns one connector by ID.
func (l *Catalog) Connector(ctx context.Context, id string) (*StoredConnector, error) {
	var cfg string
	var sealed sql.NullString
	err := l.db.QueryRowContext(ctx, `SELECT config, secret FROM connectors WHERE id = ?`, id).Scan(&cfg, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("connector %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("lake: connector %s: %w", id, err)
	}
	var sc StoredConnector
	if err := json.Unmarshal([]byte(cfg), &sc.Connector); err != nil {
		return nil, fmt.Errorf("lake: connector config: %w", err)
	}
	sc.SecretAccessKey = connector.Secret{}
	sc.SealedSecret = sealed.String
	return &sc, nil
}

// Run is one collection run of one connector.
type Run struct {
	ID             string     `json:"id"`
	ConnectorID    string     `json:"connector_id"`
	StartedAt      time.Time  `json:"started_at"`
	EndedAt        *time.Time `json:"ended_at,omitempty"`
	Result         string     `json:"result"` // running, ok, failed, partial
	Status         int        `json:"status,omitempty"`
	Reason         string     `json:"reason,omitempty"`
	Recommendation string     `json:"recommendation,omitempty"`
	Objects        int64      `json:"objects"`
	Records        int64      `json:"records"`
	Bytes          int64      `json:"bytes"`
	Skipped        int64      `json:"skipped"`
	Quarantined    int64      `json:"quarantined"`
	Dropped        int64      `json:"dropped"`
	Errors         int64      `json:"errors"`
	NewestObject   *time.Time `json:"newest_object,omitempty"`
	Node           string     `json:"node,omitempty"` // the node that made the run
}

// SaveRun inserts or updates a run.
func (l *Catalog) SaveRun(ctx context.Context, r *Run) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO runs (id, connector_id, started_at, ended_at, result, status, reason, recommendation,
 objects, records, bytes, skipped, quarantined, dropped, errors, newest_object, node) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT (id) DO UPDATE SET ended_at = excluded.ended_at, result = excluded.result, status = excluded.status,
 reason = excluded.reason, recommendation = excluded.recommendation, objects = excluded.objects, records = excluded.records,
 bytes = excluded.bytes, skipped = excluded.skipped, quarantined = excluded.quarantined, dropped = excluded.dropped,
 errors = excluded.errors, newest_object = excluded.newest_object`,
		r.ID, r.ConnectorID, r.StartedAt, r.EndedAt, r.Result, r.Status, r.Reason, r.Recommendation,
		r.Objects, r.Records, r.Bytes, r.Skipped, r.Quarantined, r.Dropped, r.Errors, r.NewestObject, r.Node)
	if err != nil {
		return fmt.Errorf("lake: save run: %w", err)
	}
	return nil
}

// EndInterruptedRuns marks node's runs still "running" as interrupted:
// called at start, when no run of this node can be in flight. Other nodes'
// runs (a shared catalog) are theirs to end; node "" ends every run (the
// embedded catalog, which one process holds).
func (l *Catalog) EndInterruptedRuns(ctx context.Context, node, reason string) (int64, error) {
	res, err := l.db.ExecContext(ctx, `UPDATE runs SET result = 'interrupted', ended_at = ?, status = 499, reason = ?
 WHERE result = 'running' AND (? = '' OR node = ? OR node IS NULL)`, time.Now().UTC(), reason, node, node)
	if err != nil {
		return 0, fmt.Errorf("lake: end interrupted runs: %w", err)
	}
	return res.RowsAffected()
}

// Runs returns the newest runs of a connector.
func (l *Catalog) Runs(ctx context.Context, connectorID string, limit int) ([]Run, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT id, connector_id, started_at, ended_at, result, coalesce(status,0), coalesce(reason,''),
 coalesce(recommendation,''), objects, records, bytes, skipped, quarantined, dropped, errors, newest_object, coalesce(node,'')
 FROM runs WHERE connector_id = ? ORDER BY started_at DESC LIMIT ?`, connectorID, limit)
	if err != nil {
		return nil, fmt.Errorf("lake: runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var ended, newest sql.NullTime
		if err := rows.Scan(&r.ID, &r.ConnectorID, &r.StartedAt, &ended, &r.Result, &r.Status, &r.Reason, &r.Recommendation,
			&r.Objects, &r.Records, &r.Bytes, &r.Skipped, &r.Quarantined, &r.Dropped, &r.Errors, &newest, &r.Node); err != nil {
			return nil, err
		}
		if ended.Valid {
			t := ended.Time
			r.EndedAt = &t
		}
		if newest.Valid {
			t := newest.Time
			r.NewestObject = &t
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Totals are a connector's all-time counts, from its checkpoints.
type Totals struct {
	Objects     int64      `json:"objects"`
	Records     int64      `json:"records"`
	Quarantined int64      `json:"quarantined"`
	Bytes       int64      `json:"bytes"`
	Newest      *time.Time `json:"newest_object,omitempty"`
}

// ConnectorTotals sums a connector's checkpoints.
func (l *Catalog) ConnectorTotals(ctx context.Context, connectorID string) (Totals, error) {
	var t Totals
	var newest sql.NullTime
	err := l.db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE done), coalesce(sum(records),0), coalesce(sum(quarantined),0),
 coalesce(sum(size) FILTER (WHERE done),0), max(last_modified) FILTER (WHERE done) FROM objects WHERE connector_id = ?`, connectorID).
		Scan(&t.Objects, &t.Records, &t.Quarantined, &t.Bytes, &newest)
	if err != nil {
		return t, fmt.Errorf("lake: totals: %w", err)
	}
	if newest.Valid {
		n := newest.Time
		t.Newest = &n
	}
	return t, nil
}

// LogAction appends an entry to the actor log: who did what to which
// object (the API's /api/v1/audit; not the digest audit).
func (l *Catalog) LogAction(ctx context.Context, actor, tenant, action, target, detail string) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)`, time.Now().UTC(), actor, tenant, action, target, detail)
	if err != nil {
		return fmt.Errorf("lake: audit: %w", err)
	}
	return nil
}

// Meta reads a metadata value.
func (l *Catalog) Meta(ctx context.Context, k string) (string, error) {
	var v string
	err := l.db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = ?`, k).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetMeta writes a metadata value.
func (l *Catalog) SetMeta(ctx context.Context, k, v string) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO meta VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, k, v)
	return err
}

// MetaOnce writes a metadata value unless one is there, and returns the
// value that is: of several processes writing at once, one value wins.
func (l *Catalog) MetaOnce(ctx context.Context, k, v string) (string, error) {
	if _, err := l.db.ExecContext(ctx, `INSERT INTO meta VALUES (?, ?) ON CONFLICT (k) DO NOTHING`, k, v); err != nil {
		return "", fmt.Errorf("lake: meta %s: %w", k, err)
	}
	return l.Meta(ctx, k)
}

// uniqueViolation reports whether err is a unique constraint's refusal,
// in DuckDB's words or PostgreSQL's (SQLSTATE 23505).
func uniqueViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "constraint violation") || strings.Contains(msg, "Constraint Error") ||
		strings.Contains(msg, "duplicate key value") || strings.Contains(msg, "SQLSTATE 23505")
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// Token is an API token's record; only its hash is stored.
type Token struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant,omitempty"` // empty: root scope
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// InsertToken stores a token hash.
func (l *Catalog) InsertToken(ctx context.Context, t Token, hash string) error {
	var tenant any
	if t.Tenant != "" {
		tenant = t.Tenant
	}
	_, err := l.db.ExecContext(ctx, `INSERT INTO tokens VALUES (?, ?, ?, ?, ?)`, t.ID, hash, tenant, t.Name, t.CreatedAt)
	if err != nil {
		return fmt.Errorf("lake: token: %w", err)
	}
	return nil
}

// TokenByHash finds a token by the hash of its secret.
func (l *Catalog) TokenByHash(ctx context.Context, hash string) (*Token, error) {
	var t Token
	var tenant sql.NullString
	err := l.db.QueryRowContext(ctx, `SELECT id, tenant, coalesce(name,''), created_at FROM tokens WHERE hash = ?`, hash).Scan(&t.ID, &tenant, &t.Name, &t.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	t.Tenant = tenant.String
	return &t, nil
}

// Tokens lists tokens (never their secrets).
func (l *Catalog) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT id, coalesce(tenant,''), coalesce(name,''), created_at FROM tokens ORDER BY created_at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		if err := rows.Scan(&t.ID, &t.Tenant, &t.Name, &t.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteToken revokes a token.
func (l *Catalog) DeleteToken(ctx context.Context, id string) error {
	res, err := l.db.ExecContext(ctx, `DELETE FROM tokens WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	return nil
}

// ActorEntry is one audit log line.
type ActorEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Tenant string    `json:"tenant"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail"`
}

// ActorLog returns the newest actor log entries, of one tenant when given.
func (l *Catalog) ActorLog(ctx context.Context, tenant string, limit int) ([]ActorEntry, error) {
	q := `SELECT "at", coalesce(actor,''), coalesce(tenant,''), action, coalesce(target,''), coalesce(detail,'') FROM audit`
	var args []any
	if tenant != "" {
		q += ` WHERE tenant = ?`
		args = append(args, tenant)
	}
	q += ` ORDER BY "at" DESC LIMIT ?`
	args = append(args, limit)
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ActorEntry
	for rows.Next() {
		var e ActorEntry
		if err := rows.Scan(&e.At, &e.Actor, &e.Tenant, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
