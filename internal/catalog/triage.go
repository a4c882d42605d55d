package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Alert triage, as a SOC works alerts (Elastic Security's status and
// assignee, Splunk's notable events): every alert has a status (open,
// acknowledged, closed with a reason), an assignee and notes. A merge of
// new records into an alert (the detector's and the schedule's) keeps
// them: triage is the analysts', evaluation never resets it.

// triageDDL adds the triage columns to a catalog made before them (new
// catalogs have them in catalogDDL, whose tables a catalog migration copies).
func triageDDL() []string {
	return []string{
		`ALTER TABLE alerts ADD COLUMN IF NOT EXISTS status VARCHAR DEFAULT 'open'`,
		`ALTER TABLE alerts ADD COLUMN IF NOT EXISTS close_reason VARCHAR DEFAULT ''`,
		`ALTER TABLE alerts ADD COLUMN IF NOT EXISTS assignee VARCHAR DEFAULT ''`,
		`ALTER TABLE alerts ADD COLUMN IF NOT EXISTS notes VARCHAR DEFAULT '[]'`,
		`ALTER TABLE alerts ADD COLUMN IF NOT EXISTS updated_at TIMESTAMP`,
		`ALTER TABLE alerts ADD COLUMN IF NOT EXISTS updated_by VARCHAR DEFAULT ''`,
		`ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS status_changes BOOLEAN DEFAULT FALSE`,
	}
}

func (l *Catalog) migrateTriage(ctx context.Context) error {
	for _, stmt := range triageDDL() {
		if _, err := l.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("lake: add alert triage (%.40s...): %w", stmt, err)
		}
	}
	return nil
}

// Note is an analyst's note on an alert.
type Note struct {
	Author string    `json:"author"`
	At     time.Time `json:"at"`
	Text   string    `json:"text"`
}

// MaxNotes bounds an alert's notes (the oldest are kept: the first
// analyst's reasoning matters as much as the last's).
const MaxNotes = 200

// AlertChange is a triage change of one alert; nil fields stay as they are.
type AlertChange struct {
	Status   *string
	Reason   *string // with Status closed; cleared when it reopens
	Assignee *string
	Note     string // appended when not empty
	Actor    string
	At       time.Time
}

// UpdateAlert applies a triage change to an alert of one of tenants (nil:
// any tenant) and returns the alert as it now is, with whether anything
// changed. A missing alert, or another tenant's, is ErrNotFound.
func (l *Catalog) UpdateAlert(ctx context.Context, id string, tenants []string, ch AlertChange) (*Alert, bool, error) {
	// Two analysts (or a bulk action and the detector) changing one alert
	// at once: DuckDB refuses the second transaction; it is tried again on
	// the alert as the first left it.
	for attempt := 1; ; attempt++ {
		a, changed, err := l.updateAlert(ctx, id, tenants, ch)
		if err == nil || !isConflict(err) || attempt == 8 || ctx.Err() != nil {
			return a, changed, err
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(time.Duration(attempt*attempt) * 10 * time.Millisecond):
		}
	}
}

// ErrTooManyNotes refuses a note to an alert that holds MaxNotes.
var ErrTooManyNotes = errors.New("the alert holds the most notes it keeps")

func (l *Catalog) updateAlert(ctx context.Context, id string, tenants []string, ch AlertChange) (*Alert, bool, error) {
	var out *Alert
	changed := false
	err := l.withTx(ctx, func(conn *catConn) error {
		lock := ""
		if l.db.pg {
			lock = " FOR UPDATE"
		}
		as, err := scanAlerts(conn.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`+lock, id))
		if err != nil {
			return err
		}
		if len(as) == 0 || !inTenants(as[0].Tenant, tenants) {
			return fmt.Errorf("alert %s: %w", id, ErrNotFound)
		}
		a := as[0]
		if ch.Note != "" && len(a.Notes) >= MaxNotes {
			return fmt.Errorf("alert %s has %d notes: %w", id, len(a.Notes), ErrTooManyNotes)
		}
		changed = applyChange(&a, ch)
		out = &a
		if !changed {
			return nil
		}
		notes, _ := json.Marshal(a.Notes)
		if _, err := conn.ExecContext(ctx, `UPDATE alerts SET status = ?, close_reason = ?, assignee = ?, notes = ?, updated_at = ?, updated_by = ? WHERE id = ?`,
			a.Status, a.CloseReason, a.Assignee, string(notes), a.UpdatedAt, a.UpdatedBy, id); err != nil {
			return err
		}
		return requeueForChanges(ctx, conn, id)
	})
	if err != nil {
		return nil, false, fmt.Errorf("lake: update alert %s: %w", id, err)
	}
	return out, changed, nil
}

// requeueForChanges has a changed alert posted again to its tenant's
// webhook when that webhook takes status changes: queued in the change's
// own transaction, so no change is lost.
func requeueForChanges(ctx context.Context, conn *catConn, id string) error {
	_, err := conn.ExecContext(ctx, `UPDATE alerts SET notified_at = NULL WHERE id = ?
 AND EXISTS (SELECT 1 FROM webhooks WHERE webhooks.tenant = alerts.tenant AND webhooks.status_changes)`, id)
	return err
}

// applyChange applies ch to a, reporting whether anything changed.
func applyChange(a *Alert, ch AlertChange) bool {
	before := *a
	if ch.Status != nil {
		a.Status = *ch.Status
		if a.Status != "closed" {
			a.CloseReason = ""
		}
	}
	if ch.Reason != nil && a.Status == "closed" {
		a.CloseReason = *ch.Reason
	}
	if ch.Assignee != nil {
		a.Assignee = *ch.Assignee
	}
	changed := a.Status != before.Status || a.CloseReason != before.CloseReason || a.Assignee != before.Assignee
	if ch.Note != "" {
		a.Notes = append(a.Notes, Note{Author: ch.Actor, At: ch.At.UTC(), Text: ch.Note})
		changed = true
	}
	if changed {
		a.UpdatedAt, a.UpdatedBy = ch.At.UTC(), ch.Actor
	}
	return changed
}

func inTenants(t string, tenants []string) bool {
	if tenants == nil {
		return true
	}
	for _, x := range tenants {
		if x == t {
			return true
		}
	}
	return false
}

// alertColumns are the columns scanAlerts reads, in its order.
const alertColumns = `id, tenant, rule_id, rule, level, window_start, window_end, group_key, count, records, query, created_at,
 coalesce(status, 'open'), coalesce(close_reason, ''), coalesce(assignee, ''), coalesce(notes, '[]'), updated_at, coalesce(updated_by, '')`

// scanAlerts reads alerts from a query of alertColumns.
func scanAlerts(rows *sql.Rows, err error) ([]Alert, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		var a Alert
		var recs, notes string
		var updated sql.NullTime
		if err := rows.Scan(&a.ID, &a.Tenant, &a.RuleID, &a.Rule, &a.Level, &a.WindowStart, &a.WindowEnd, &a.Group, &a.Count, &recs, &a.Query, &a.Time,
			&a.Status, &a.CloseReason, &a.Assignee, &notes, &updated, &a.UpdatedBy); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(recs), &a.Records)
		if err := json.Unmarshal([]byte(notes), &a.Notes); err != nil {
			return nil, fmt.Errorf("the notes of alert %s: %w", a.ID, err)
		}
		a.WindowStart, a.WindowEnd, a.Time = a.WindowStart.UTC(), a.WindowEnd.UTC(), a.Time.UTC()
		if updated.Valid {
			a.UpdatedAt = updated.Time.UTC()
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// SetWebhookStatusChanges says whether a tenant's webhook also receives
// its alerts' triage changes (ErrNotFound: the tenant has no webhook).
func (l *Catalog) SetWebhookStatusChanges(ctx context.Context, tenant string, on bool) error {
	res, err := l.db.ExecContext(ctx, `UPDATE webhooks SET status_changes = ? WHERE tenant = ?`, on, tenant)
	if err != nil {
		return fmt.Errorf("lake: webhook of tenant %s: %w", tenant, err)
	}
	if n, _ := res.RowsAffected(); n == 0 && on {
		return fmt.Errorf("webhook of tenant %s: %w", tenant, ErrNotFound)
	}
	return nil
}

// WebhookStatusChanges reports whether a tenant's webhook receives triage
// changes.
func (l *Catalog) WebhookStatusChanges(ctx context.Context, tenant string) (bool, error) {
	var on sql.NullBool
	err := l.db.QueryRowContext(ctx, `SELECT status_changes FROM webhooks WHERE tenant = ?`, tenant).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lake: webhook of tenant %s: %w", tenant, err)
	}
	return on.Bool, nil
}

// RuleException excludes what its query matches from a tenant's rule, with
// who added it and why.
type RuleException struct {
	ID      string    `json:"id"`
	Tenant  string    `json:"tenant"`
	RuleID  string    `json:"rule_id"`
	Query   string    `json:"query"`
	Reason  string    `json:"reason"`
	Author  string    `json:"author"`
	Created time.Time `json:"created_at"`
}

// AddRuleException stores an exception.
func (l *Catalog) AddRuleException(ctx context.Context, e RuleException) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO rule_exceptions VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Tenant, e.RuleID, e.Query, e.Reason, e.Author, e.Created.UTC())
	if err != nil {
		return fmt.Errorf("lake: add an exception to rule %s: %w", e.RuleID, err)
	}
	return nil
}

// DeleteRuleException deletes a tenant's exception (ErrNotFound: none).
func (l *Catalog) DeleteRuleException(ctx context.Context, tenant, ruleID, id string) error {
	res, err := l.db.ExecContext(ctx, `DELETE FROM rule_exceptions WHERE tenant = ? AND rule_id = ? AND id = ?`, tenant, ruleID, id)
	if err != nil {
		return fmt.Errorf("lake: delete exception %s of rule %s: %w", id, ruleID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("exception %s of rule %s: %w", id, ruleID, ErrNotFound)
	}
	return nil
}

// RuleExceptions lists a tenant's exceptions, by rule and age.
func (l *Catalog) RuleExceptions(ctx context.Context, tenant string) ([]RuleException, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT id, tenant, rule_id, query, reason, author, created_at FROM rule_exceptions WHERE tenant = ? ORDER BY rule_id, created_at, id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("lake: rule exceptions: %w", err)
	}
	defer rows.Close()
	var out []RuleException
	for rows.Next() {
		var e RuleException
		if err := rows.Scan(&e.ID, &e.Tenant, &e.RuleID, &e.Query, &e.Reason, &e.Author, &e.Created); err != nil {
			return nil, fmt.Errorf("lake: rule exceptions: %w", err)
		}
		e.Created = e.Created.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// MergeAlerts stores alerts found outside the schedule (a rule run over a
// past period): an alert already stored (same tenant, rule, window and
// group) takes in the new records, so running twice adds nothing. No
// rule mark moves. It returns how many alerts were new.
func (l *Catalog) MergeAlerts(ctx context.Context, alerts []Alert) (int, error) {
	// Serialised with the commits, which merge alerts and number detector
	// passes too (DuckDB would abort one of two such transactions).
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	n := 0
	err := l.withTx(ctx, func(conn *catConn) error {
		var err error
		n, err = mergeAlerts(ctx, conn, alerts, l.db.pg, false)
		return err
	})
	if errors.Is(err, ErrConflict) || isConflict(err) {
		// Two runs of one rule at once: the other's alerts are the same.
		return 0, fmt.Errorf("lake: store alerts: another evaluation stored them meanwhile, run again: %w", err)
	}
	if err != nil {
		return 0, fmt.Errorf("lake: store alerts: %w", err)
	}
	return n, nil
}
