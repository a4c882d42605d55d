package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// AuditResult is the digest audit's verdict on one hour of one account and
// region of a connector (see internal/audit).
type AuditResult struct {
	ConnectorID string
	Account     string
	Region      string
	Hour        time.Time
	Status      string
	Files       int // log files the digest lists
	Missing     []string
	Altered     []string
	Unlisted    []string
	Reason      string
	Kind        string // the reason's kind (audit.BadSignature, ...), for programs
	Digest      string // the digest object's key
	UpdatedAt   time.Time

	// MissingMore, AlteredMore and UnlistedMore count the keys beyond the
	// lists (the audit keeps at most a hundred of each).
	MissingMore, AlteredMore, UnlistedMore int
}

// SaveAudit stores audit results, replacing earlier ones of the same
// hours, in one transaction.
func (l *Catalog) SaveAudit(ctx context.Context, rs []AuditResult) error {
	if len(rs) == 0 {
		return nil
	}
	now := time.Now().UTC()
	// Two audits of one connector (a run's refresh, an operator's) replace
	// the same rows: DuckDB would abort one of them on the conflict.
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	return l.withTx(ctx, func(conn *catConn) error {
		for _, r := range rs {
			// An upsert, not delete-then-insert: nodes of a shared
			// catalog audit the same hours at the same moment.
			_, err := conn.ExecContext(ctx, `INSERT INTO audit_results (connector_id, account, region, hour, status, files,
   missing, altered, unlisted, reason, digest, updated_at, kind) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
 ON CONFLICT (connector_id, account, region, hour) DO UPDATE SET status = excluded.status, files = excluded.files,
   missing = excluded.missing, altered = excluded.altered, unlisted = excluded.unlisted, reason = excluded.reason,
   digest = excluded.digest, updated_at = excluded.updated_at, kind = excluded.kind`,
				r.ConnectorID, r.Account, r.Region, r.Hour.UTC(), r.Status, r.Files, keysJSON(r.Missing, r.MissingMore), keysJSON(r.Altered, r.AlteredMore),
				keysJSON(r.Unlisted, r.UnlistedMore), r.Reason, r.Digest, now, r.Kind)
			if err != nil {
				return fmt.Errorf("lake: audit of %s %s %s: %w", r.Account, r.Region, r.Hour, err)
			}
		}
		return nil
	})
}

// cappedKeys is how a key list with more keys than it holds is stored:
// the column keeps its JSON array form otherwise (and for rows written
// before lists were capped).
type cappedKeys struct {
	Keys []string `json:"keys"`
	More int      `json:"more"`
}

func keysJSON(keys []string, more int) any {
	if len(keys) == 0 && more == 0 {
		return nil
	}
	var b []byte
	if more > 0 {
		b, _ = json.Marshal(cappedKeys{keys, more})
	} else {
		b, _ = json.Marshal(keys)
	}
	return string(b)
}

// parseKeys reads a stored key list, in either form.
func parseKeys(s string, keys *[]string, more *int) error {
	if s == "" {
		return nil
	}
	if strings.HasPrefix(s, "{") {
		var ck cappedKeys
		if err := json.Unmarshal([]byte(s), &ck); err != nil {
			return err
		}
		*keys, *more = ck.Keys, ck.More
		return nil
	}
	return json.Unmarshal([]byte(s), keys)
}

// AuditResults returns a connector's stored audit results for hours in
// [from, to), oldest first (every hour when both are zero).
func (l *Catalog) AuditResults(ctx context.Context, connectorID string, from, to time.Time) ([]AuditResult, error) {
	return l.AuditPage(ctx, connectorID, from, to, nil, 0)
}

// AuditCursor is the last result of a page: the next page starts after
// its hour, account and region (the results' order).
type AuditCursor struct {
	Hour            time.Time
	Account, Region string
}

// AuditPage returns at most limit (0: all) of a connector's stored audit
// results for hours in [from, to) after the cursor (nil: from the
// first), oldest first.
func (l *Catalog) AuditPage(ctx context.Context, connectorID string, from, to time.Time, after *AuditCursor, limit int) ([]AuditResult, error) {
	if to.IsZero() {
		to = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	q := `SELECT account, region, hour, status, files, coalesce(missing,''), coalesce(altered,''),
 coalesce(unlisted,''), coalesce(reason,''), coalesce(digest,''), updated_at, coalesce(kind,'') FROM audit_results
 WHERE connector_id = ? AND hour >= ? AND hour < ?`
	args := []any{connectorID, from.UTC(), to.UTC()}
	if after != nil {
		// Spelled out rather than as a row comparison, which not every
		// catalog database plans alike.
		q += ` AND (hour > ? OR (hour = ? AND (account > ? OR (account = ? AND region > ?))))`
		h := after.Hour.UTC()
		args = append(args, h, h, after.Account, after.Account, after.Region)
	}
	q += ` ORDER BY hour, account, region`
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("lake: audit results of %s: %w", connectorID, err)
	}
	defer rows.Close()
	var out []AuditResult
	for rows.Next() {
		r := AuditResult{ConnectorID: connectorID}
		var missing, altered, unlisted string
		if err := rows.Scan(&r.Account, &r.Region, &r.Hour, &r.Status, &r.Files, &missing, &altered, &unlisted, &r.Reason, &r.Digest, &r.UpdatedAt, &r.Kind); err != nil {
			return nil, err
		}
		r.Hour, r.UpdatedAt = r.Hour.UTC(), r.UpdatedAt.UTC()
		for _, p := range []struct {
			s    string
			dst  *[]string
			more *int
		}{{missing, &r.Missing, &r.MissingMore}, {altered, &r.Altered, &r.AlteredMore}, {unlisted, &r.Unlisted, &r.UnlistedMore}} {
			if err := parseKeys(p.s, p.dst, p.more); err != nil {
				return nil, fmt.Errorf("lake: audit result of %s: %w", r.Hour, err)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ObjectsModified returns the checkpoints of a connector's objects last
// modified in [from, to): what the audit compares digests with.
func (l *Catalog) ObjectsModified(ctx context.Context, connectorID string, from, to time.Time) (map[string]ObjectState, error) {
	rows, err := l.db.QueryContext(ctx, objectStateColumns+`
 FROM objects WHERE connector_id = ? AND last_modified >= ? AND last_modified < ?`, connectorID, from.UTC(), to.UTC())
	if err != nil {
		return nil, fmt.Errorf("lake: checkpoints of %s: %w", connectorID, err)
	}
	out := map[string]ObjectState{}
	return out, scanObjectStates(rows, out)
}

// SavePublicKeys caches CloudTrail public keys (DER) by fingerprint; a
// fingerprint already known keeps its key.
func (l *Catalog) SavePublicKeys(ctx context.Context, keys map[string][]byte, source string) error {
	now := time.Now().UTC()
	for fp, der := range keys {
		_, err := l.db.ExecContext(ctx, `INSERT INTO public_keys VALUES (?,?,?,?) ON CONFLICT (fingerprint) DO NOTHING`, fp, der, source, now)
		if err != nil {
			return fmt.Errorf("lake: public key %s: %w", fp, err)
		}
	}
	return nil
}

// PublicKeys returns the cached public keys (DER) by fingerprint.
func (l *Catalog) PublicKeys(ctx context.Context) (map[string][]byte, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT fingerprint, der FROM public_keys`)
	if err != nil {
		return nil, fmt.Errorf("lake: public keys: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var fp string
		var der []byte
		if err := rows.Scan(&fp, &der); err != nil {
			return nil, err
		}
		out[fp] = der
	}
	return out, rows.Err()
}
