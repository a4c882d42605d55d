package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/connector"
)

// AlertUpdate is a triage change of an alert.
type AlertUpdate = apiv1.AlertUpdate

// AlertError is a triage change refused, with every problem.
type AlertError struct{ Problems []connector.Problem }

func (e *AlertError) Error() string                { return "invalid alert change: " + problemText(e.Problems) }
func (e *AlertError) Invalid() []connector.Problem { return e.Problems }

// Bounds of what an analyst writes on an alert.
const (
	maxNoteBytes     = 4000
	maxAssigneeBytes = 200
)

// UpdateAlert changes an alert's status, close reason, assignee or notes
// (another tenant's alert is not found) and records the change in the
// actor log.
func (a *App) UpdateAlert(ctx context.Context, sc Scope, id string, in AlertUpdate) (*Alert, error) {
	if err := checkAlertUpdate(in); err != nil {
		return nil, err
	}
	var tenants []string
	if !sc.Root {
		tenants = []string{sc.Tenant}
	}
	if in.Assignee != nil {
		t := strings.TrimSpace(*in.Assignee)
		in.Assignee = &t
	}
	ch := catalog.AlertChange{Status: in.Status, Reason: in.Reason, Assignee: in.Assignee, Note: strings.TrimSpace(in.Note), Actor: sc.Actor, At: a.now()}
	if ch.Reason == nil && in.Status != nil && *in.Status == apiv1.AlertClosed {
		return nil, &AlertError{Problems: []connector.Problem{{Field: "reason", Message: "closing an alert needs a reason: " + strings.Join(apiv1.CloseReasons(), ", ")}}}
	}
	a.triageMu.Lock()
	x, changed, err := a.lake.UpdateAlert(ctx, id, tenants, ch)
	a.triageMu.Unlock()
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	case errors.Is(err, catalog.ErrTooManyNotes):
		return nil, &AlertError{Problems: []connector.Problem{{Field: "note", Message: fmt.Sprintf("the alert holds %d notes, the most it keeps: summarise in a new alert's note or close it", catalog.MaxNotes)}}}
	case err != nil:
		return nil, err
	}
	if changed {
		_ = a.lake.LogAction(ctx, sc.Actor, x.Tenant, "alert.update", x.ID, changeText(in))
		// A webhook that takes status changes has the alert queued again
		// (in the update's transaction): deliver it now, not at the next
		// evaluation.
		a.startDelivery(x.Tenant)
	}
	out := publicAlert(*x)
	return &out, nil
}

// checkAlertUpdate reports every problem of a change at once.
func checkAlertUpdate(in AlertUpdate) error {
	var ps []connector.Problem
	if in.Status != nil && !slices.Contains(apiv1.AlertStatuses(), *in.Status) {
		ps = append(ps, connector.Problem{Field: "status", Message: fmt.Sprintf("%q is not a status: use %s", *in.Status, strings.Join(apiv1.AlertStatuses(), ", "))})
	}
	if in.Reason != nil {
		switch {
		case in.Status == nil || *in.Status != apiv1.AlertClosed:
			ps = append(ps, connector.Problem{Field: "reason", Message: "a reason goes with status closed: send both"})
		case !slices.Contains(apiv1.CloseReasons(), *in.Reason):
			ps = append(ps, connector.Problem{Field: "reason", Message: fmt.Sprintf("%q is not a close reason: use %s", *in.Reason, strings.Join(apiv1.CloseReasons(), ", "))})
		}
	}
	if in.Assignee != nil {
		if msg := textProblem(*in.Assignee, maxAssigneeBytes, false); msg != "" {
			ps = append(ps, connector.Problem{Field: "assignee", Message: msg})
		} else if *in.Assignee != "" && strings.TrimSpace(*in.Assignee) == "" {
			ps = append(ps, connector.Problem{Field: "assignee", Message: "is only spaces: give a name, or \"\" to unassign"})
		}
	}
	if msg := textProblem(in.Note, maxNoteBytes, true); msg != "" {
		ps = append(ps, connector.Problem{Field: "note", Message: msg})
	}
	if in.Status == nil && in.Reason == nil && in.Assignee == nil && strings.TrimSpace(in.Note) == "" && len(ps) == 0 {
		ps = append(ps, connector.Problem{Field: "body", Message: "nothing to change: send status, reason, assignee or note"})
	}
	if len(ps) > 0 {
		return &AlertError{Problems: ps}
	}
	return nil
}

// textProblem is what is wrong with an analyst's text, or "".
func textProblem(s string, max int, lines bool) string {
	if len(s) > max {
		return fmt.Sprintf("is %d bytes, more than %d: shorten it", len(s), max)
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(lines && (r == '\n' || r == '\t')) {
			return fmt.Sprintf("holds the control character %U: remove it", r)
		}
	}
	return ""
}

// changeText is a triage change as the actor log shows it.
func changeText(in AlertUpdate) string {
	var parts []string
	if in.Status != nil {
		s := "status " + *in.Status
		if in.Reason != nil {
			s += " (" + *in.Reason + ")"
		}
		parts = append(parts, s)
	}
	if in.Assignee != nil {
		if *in.Assignee == "" {
			parts = append(parts, "unassigned")
		} else {
			parts = append(parts, "assigned to "+*in.Assignee)
		}
	}
	if strings.TrimSpace(in.Note) != "" {
		parts = append(parts, "note added")
	}
	return strings.Join(parts, "; ")
}
