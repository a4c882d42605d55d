package catalog

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Alert is a detection rule's finding: the rule, the window and group it
// concerns, and the records that raised it.
type Alert struct {
	ID          string    `json:"id"`
	Tenant      string    `json:"tenant"`
	RuleID      string    `json:"rule_id"`
	Rule        string    `json:"rule"`
	Level       string    `json:"level"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Group       string    `json:"group,omitempty"`
	Count       int64     `json:"count"`
	Records     []string  `json:"records"`
	Query       string    `json:"query"`
	Time        time.Time `json:"time"`

	// Triage (triage.go).
	Status      string    `json:"status"`
	CloseReason string    `json:"close_reason,omitempty"`
	Assignee    string    `json:"assignee,omitempty"`
	Notes       []Note    `json:"notes,omitempty"`
	UpdatedAt   time.Time `json:"updated_at,omitempty"`
	UpdatedBy   string    `json:"updated_by,omitempty"`
}

// alertID is deterministic: the same rule, window and group is one alert
// whichever node or run finds it.
func alertID(a *Alert) string {
	h := sha256.Sum256([]byte(a.Tenant + "\x00" + a.RuleID + "\x00" + a.WindowStart.UTC().Format(time.RFC3339Nano) + "\x00" + a.Group))
	return hex.EncodeToString(h[:16])
}

// SaveAlerts stores alerts and moves the rule's mark from "from" (the
// zero time: no mark yet) to doneTo, in one transaction. The move is a
// compare-and-set: when another process moved the mark meanwhile (two
// nodes evaluating at once), nothing is stored and ErrConflict is
// returned, so a window is never evaluated twice nor half. An alert
// already stored (same tenant, rule, window and group, raised by the
// detector at ingest) takes in the new records (mergeAlerts).
// It returns how many alerts were new.
func (l *Catalog) SaveAlerts(ctx context.Context, tenant, ruleID string, alerts []Alert, from, doneTo time.Time) (int, error) {
	// Serialised with the commits, which merge alerts and number detector
	// passes too (DuckDB would abort one of two such transactions).
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	n := 0
	err := l.withTx(ctx, func(conn *catConn) error {
		n = 0
		var moved int64
		if from.IsZero() {
			res, err := conn.ExecContext(ctx, `INSERT INTO rule_marks VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, tenant, ruleID, doneTo.UTC())
			if err != nil {
				return err
			}
			moved, _ = res.RowsAffected()
		} else {
			res, err := conn.ExecContext(ctx, `UPDATE rule_marks SET done_to = ? WHERE tenant = ? AND rule_id = ? AND done_to = ?`,
				doneTo.UTC(), tenant, ruleID, from.UTC())
			if err != nil {
				return err
			}
			moved, _ = res.RowsAffected()
		}
		if moved != 1 {
			return fmt.Errorf("rule %s of tenant %s was evaluated by another process meanwhile: %w", ruleID, tenant, ErrConflict)
		}
		var err error
		n, err = mergeAlerts(ctx, conn, alerts, l.db.pg, false)
		return err
	})
	if !errors.Is(err, ErrConflict) && isConflict(err) {
		// DuckDB's optimistic concurrency: another transaction moved the
		// mark first.
		err = fmt.Errorf("rule %s of tenant %s: %w: %w", ruleID, tenant, ErrConflict, err)
	}
	if err != nil {
		return 0, fmt.Errorf("lake: save alerts: %w", err)
	}
	return n, nil
}

// ResetRuleMark forgets how far a tenant's rule was evaluated, so its
// next evaluation is a first one, looking back the rule lookback: for a
// rule enabled again or replaced, whose windows before the mark hold
// records it never read (the alerts it raised before are merged, not
// raised twice).
func (l *Catalog) ResetRuleMark(ctx context.Context, tenant, ruleID string) error {
	if _, err := l.db.ExecContext(ctx, `DELETE FROM rule_marks WHERE tenant = ? AND rule_id = ?`, tenant, ruleID); err != nil {
		return fmt.Errorf("lake: reset the mark of rule %s of tenant %s: %w", ruleID, tenant, err)
	}
	return nil
}

// RuleMark is how far a tenant's rule has been evaluated (ok false: never).
func (l *Catalog) RuleMark(ctx context.Context, tenant, ruleID string) (time.Time, bool, error) {
	var t time.Time
	err := l.db.QueryRowContext(ctx, `SELECT done_to FROM rule_marks WHERE tenant = ? AND rule_id = ?`, tenant, ruleID).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("lake: rule mark: %w", err)
	}
	return t.UTC(), true, nil
}

// AlertQuery selects stored alerts.
type AlertQuery struct {
	Tenants []string // nil: every tenant (root)
	Since   time.Time
	Level   string
	RuleID  string
	Status  string // "": any
	Limit   int
}

// Alerts returns stored alerts, newest window first.
func (l *Catalog) Alerts(ctx context.Context, q AlertQuery) ([]Alert, error) {
	where, args := "window_start >= ?", []any{q.Since.UTC()}
	if q.Tenants != nil {
		if len(q.Tenants) == 0 {
			return nil, nil
		}
		where += " AND tenant IN (" + placeholders(len(q.Tenants)) + ")"
		for _, t := range q.Tenants {
			args = append(args, t)
		}
	}
	if q.Level != "" {
		where += " AND level = ?"
		args = append(args, q.Level)
	}
	if q.RuleID != "" {
		where += " AND rule_id = ?"
		args = append(args, q.RuleID)
	}
	if q.Status != "" {
		where += " AND coalesce(status, 'open') = ?"
		args = append(args, q.Status)
	}
	limit := q.Limit
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	out, err := l.queryAlerts(ctx, `WHERE `+where+` ORDER BY window_start DESC, rule_id, group_key LIMIT `+fmt.Sprint(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("lake: alerts: %w", err)
	}
	return out, nil
}

// queryAlerts reads the alerts a WHERE ... clause selects.
func (l *Catalog) queryAlerts(ctx context.Context, clause string, args ...any) ([]Alert, error) {
	return scanAlerts(l.db.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts `+clause, args...))
}

// AlertCount is the number of stored alerts of one tenant, rule and level.
type AlertCount struct {
	Tenant, RuleID, Level string
	N                     int64
}

// AlertCounts counts the stored alerts by tenant, rule and level.
func (l *Catalog) AlertCounts(ctx context.Context) ([]AlertCount, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT tenant, rule_id, level, count(*) FROM alerts GROUP BY tenant, rule_id, level ORDER BY 1, 2, 3`)
	if err != nil {
		return nil, fmt.Errorf("lake: alert counts: %w", err)
	}
	defer rows.Close()
	var out []AlertCount
	for rows.Next() {
		var c AlertCount
		if err := rows.Scan(&c.Tenant, &c.RuleID, &c.Level, &c.N); err != nil {
			return nil, fmt.Errorf("lake: alert counts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// StoredRule is a tenant's rule (YAML), or a tenant's switch of a built-in
// rule (Builtin, YAML empty).
type StoredRule struct {
	Tenant, ID, YAML string
	Enabled, Builtin bool
}

// Rules returns a tenant's rules and built-in switches.
func (l *Catalog) Rules(ctx context.Context, tenant string) ([]StoredRule, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT tenant, id, yaml, enabled, builtin FROM rules WHERE tenant = ? ORDER BY id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("lake: rules: %w", err)
	}
	defer rows.Close()
	var out []StoredRule
	for rows.Next() {
		var r StoredRule
		if err := rows.Scan(&r.Tenant, &r.ID, &r.YAML, &r.Enabled, &r.Builtin); err != nil {
			return nil, fmt.Errorf("lake: rules: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PutRule stores a tenant's rule or built-in switch, replacing one with
// the same id.
func (l *Catalog) PutRule(ctx context.Context, r StoredRule) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO rules VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, id) DO UPDATE SET
 yaml = excluded.yaml, enabled = excluded.enabled, builtin = excluded.builtin, updated_at = excluded.updated_at`,
		r.Tenant, r.ID, r.YAML, r.Enabled, r.Builtin, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("lake: save rule %s: %w", r.ID, err)
	}
	return nil
}

// EnableRule switches a tenant's stored rule on or off.
func (l *Catalog) EnableRule(ctx context.Context, tenant, id string, on bool) error {
	res, err := l.db.ExecContext(ctx, `UPDATE rules SET enabled = ?, updated_at = ? WHERE tenant = ? AND id = ?`, on, time.Now().UTC(), tenant, id)
	if err != nil {
		return fmt.Errorf("lake: switch rule %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("rule %s of tenant %s: %w", id, tenant, ErrNotFound)
	}
	return nil
}

// DeleteRule deletes a tenant's rule; it reports whether there was one.
func (l *Catalog) DeleteRule(ctx context.Context, tenant, id string) (bool, error) {
	res, err := l.db.ExecContext(ctx, `DELETE FROM rules WHERE tenant = ? AND id = ? AND NOT builtin`, tenant, id)
	if err != nil {
		return false, fmt.Errorf("lake: delete rule %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Webhook is where a tenant's new alerts are posted.
type Webhook struct{ Tenant, URL string }

// SetWebhook sets (url "" clears) a tenant's webhook. A first webhook
// (none was set) receives what is raised from then on: the alerts raised
// while there was nowhere to send them are marked notified. Changing the
// URL keeps the alerts not yet delivered (a failed delivery, say): they go
// to the new URL, never silently dropped.
func (l *Catalog) SetWebhook(ctx context.Context, tenant, url string) error {
	err := l.withTx(ctx, func(conn *catConn) error {
		now := time.Now().UTC()
		if url == "" {
			_, err := conn.ExecContext(ctx, `DELETE FROM webhooks WHERE tenant = ?`, tenant)
			return err
		}
		var had int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM webhooks WHERE tenant = ?`, tenant).Scan(&had); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO webhooks (tenant, url, updated_at) VALUES (?, ?, ?) ON CONFLICT (tenant) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at`,
			tenant, url, now); err != nil {
			return err
		}
		if had > 0 {
			return nil
		}
		_, err := conn.ExecContext(ctx, `UPDATE alerts SET notified_at = ? WHERE tenant = ? AND notified_at IS NULL`, now, tenant)
		return err
	})
	if err != nil {
		return fmt.Errorf("lake: set the webhook of tenant %s: %w", tenant, err)
	}
	return nil
}

// Webhooks lists the tenants' webhooks (tenant "" : all).
func (l *Catalog) Webhooks(ctx context.Context, tenant string) ([]Webhook, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT tenant, url FROM webhooks WHERE ? = '' OR tenant = ? ORDER BY tenant`, tenant, tenant)
	if err != nil {
		return nil, fmt.Errorf("lake: webhooks: %w", err)
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		var w Webhook
		if err := rows.Scan(&w.Tenant, &w.URL); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// Unnotified returns up to limit of a tenant's alerts its webhook has not
// taken yet, oldest first.
func (l *Catalog) Unnotified(ctx context.Context, tenant string, limit int) ([]Alert, error) {
	out, err := l.queryAlerts(ctx, `WHERE tenant = ? AND notified_at IS NULL ORDER BY created_at, id LIMIT `+fmt.Sprint(limit), tenant)
	if err != nil {
		return nil, fmt.Errorf("lake: alerts to notify: %w", err)
	}
	return out, nil
}

// MarkNotified records that the webhook took these alerts.
func (l *Catalog) MarkNotified(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{time.Now().UTC()}
	for _, id := range ids {
		args = append(args, id)
	}
	_, err := l.db.ExecContext(ctx, `UPDATE alerts SET notified_at = ? WHERE id IN (`+placeholders(len(ids))+`)`, args...)
	if err != nil {
		return fmt.Errorf("lake: mark alerts notified: %w", err)
	}
	return nil
}

// RuleFailure is why a tenant's rule could not be evaluated, and since when.
type RuleFailure struct {
	Tenant, RuleID, Reason string
	At                     time.Time
}

// SetRuleFailure records that a tenant's rule failed to evaluate (the
// newest reason replaces an older one).
func (l *Catalog) SetRuleFailure(ctx context.Context, f RuleFailure) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO rule_failures VALUES (?, ?, ?, ?) ON CONFLICT (tenant, rule_id) DO UPDATE SET
 reason = excluded.reason, failed_at = excluded.failed_at`, f.Tenant, f.RuleID, f.Reason, f.At.UTC())
	if err != nil {
		return fmt.Errorf("lake: record the failure of rule %s of tenant %s: %w", f.RuleID, f.Tenant, err)
	}
	return nil
}

// ClearRuleFailure forgets a rule's failure (it evaluated, or was replaced
// or deleted).
func (l *Catalog) ClearRuleFailure(ctx context.Context, tenant, ruleID string) error {
	if _, err := l.db.ExecContext(ctx, `DELETE FROM rule_failures WHERE tenant = ? AND rule_id = ?`, tenant, ruleID); err != nil {
		return fmt.Errorf("lake: clear the failure of rule %s of tenant %s: %w", ruleID, tenant, err)
	}
	return nil
}

// RuleFailures lists the rules that failed to evaluate (tenant "": every
// tenant's), by tenant and rule.
func (l *Catalog) RuleFailures(ctx context.Context, tenant string) ([]RuleFailure, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT tenant, rule_id, reason, failed_at FROM rule_failures WHERE ? = '' OR tenant = ? ORDER BY tenant, rule_id`, tenant, tenant)
	if err != nil {
		return nil, fmt.Errorf("lake: failed rules: %w", err)
	}
	defer rows.Close()
	var out []RuleFailure
	for rows.Next() {
		var f RuleFailure
		if err := rows.Scan(&f.Tenant, &f.RuleID, &f.Reason, &f.At); err != nil {
			return nil, fmt.Errorf("lake: failed rules: %w", err)
		}
		f.At = f.At.UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}
