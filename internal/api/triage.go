package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/query"
)

// maxAlertBody bounds a triage change (a note is at most 4,000 bytes).
const maxAlertBody = 16 << 10

// patchAlert applies a triage change: {"status", "reason", "assignee",
// "note"}, absent fields unchanged. Unknown fields are refused, so a
// misspelt "stauts" is not a silent no-op.
func (s *Server) patchAlert(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in apiv1.AlertUpdate
	if err := decodeBody(w, r, &in, maxAlertBody, true); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return &app.AlertError{Problems: []connector.Problem{{Field: "body", Message: `send {"status": "closed", "reason": "false-positive", "assignee": "...", "note": "..."} (any of them): ` + err.Error()}}}
	}
	a, err := s.app.UpdateAlert(r.Context(), sc, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, 200, a)
	return nil
}

// runRule evaluates a rule over a past period: {"tenant", "from", "to"}
// (times as the search takes them: RFC 3339, a date, -30d; to defaults
// to now). It answers when the period is done: a long period is run in
// parts by the caller (at most 31 days a request).
func (s *Server) runRule(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in struct {
		Tenant string `json:"tenant"`
		From   string `json:"from"`
		To     string `json:"to"`
	}
	if err := decodeBody(w, r, &in, maxRuleBody, true); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return &app.RuleError{Problems: []connector.Problem{{Field: "body", Message: `send {"tenant": ..., "from": "-30d", "to": "now"}: ` + err.Error()}}}
	}
	now := time.Now()
	from, err := query.ParseTime(in.From, now)
	if err != nil {
		return &app.RuleError{Problems: []connector.Problem{{Field: "from", Message: err.Error()}}}
	}
	to, err := query.ParseTime(in.To, now)
	if err != nil {
		return &app.RuleError{Problems: []connector.Problem{{Field: "to", Message: err.Error()}}}
	}
	run, err := s.app.RunRule(r.Context(), sc, in.Tenant, r.PathValue("id"), from, to)
	if err != nil {
		return err
	}
	writeJSON(w, 200, run)
	return nil
}

// addRuleException takes {"tenant", "query", "reason"}.
func (s *Server) addRuleException(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in struct {
		Tenant string `json:"tenant"`
		Query  string `json:"query"`
		Reason string `json:"reason"`
	}
	if err := decodeBody(w, r, &in, maxRuleBody, true); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return &app.RuleError{Problems: []connector.Problem{{Field: "body", Message: `send {"tenant": ..., "query": "what to exclude", "reason": "why"}: ` + err.Error()}}}
	}
	e, err := s.app.AddRuleException(r.Context(), sc, in.Tenant, r.PathValue("id"), in.Query, in.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, 201, e)
	return nil
}

func (s *Server) deleteRuleException(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	if err := s.app.DeleteRuleException(r.Context(), sc, r.URL.Query().Get("tenant"), r.PathValue("id"), r.PathValue("eid")); err != nil {
		return err
	}
	w.WriteHeader(204)
	return nil
}
