package api

import (
	"errors"
	"net/http"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/connector"
)

// getRetention answers the retention settings the token sees (?tenant=T
// narrows root's to one tenant).
func (s *Server) getRetention(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	rep, err := s.app.Retention(r.Context(), sc, r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, rep)
	return nil
}

// setRetention takes {"tenant": T, "index": I, "retention": "90d"} and
// answers the settings after it.
func (s *Server) setRetention(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in apiv1.RetentionChange
	if err := decodeBody(w, r, &in, maxWebhookBody, false); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return &app.RetentionError{Problems: []connector.Problem{{Field: "body", Message: `send {"tenant": ..., "index": ..., "retention": "90d"}: ` + err.Error()}}}
	}
	// The tenant is the body's: a ?tenant= beside it was answered (404 for
	// another tenant's token) after the body's change was stored.
	if r.URL.Query().Has("tenant") {
		return &app.RetentionError{Problems: []connector.Problem{{Field: "tenant", Message: `name the tenant in the body ({"tenant": ...}), not in the URL`}}}
	}
	if err := s.app.SetRetention(r.Context(), sc, in); err != nil {
		return err
	}
	rep, err := s.app.Retention(r.Context(), sc, "")
	if err != nil {
		return err
	}
	writeJSON(w, 200, rep)
	return nil
}
