// Package api serves Trawl's HTTP API (/api/v1), the embedded web console
// and health endpoints. Every /api call is authenticated with a bearer token
// and runs in that token's scope: root (all tenants) or one tenant. Objects of
// another tenant answer 404, never 403, so their existence does not leak.
package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/awspolicy"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/prefix"
	"github.com/trawlhq/trawl/internal/query"
)

// RootTokenFile holds the root token inside the data directory (mode 0600),
// so the CLI on the server's machine can authenticate.
const RootTokenFile = "root.token"

// Server is the HTTP API.
type Server struct {
	app      *app.App
	log      *slog.Logger
	rootHash [32]byte
	mux      *http.ServeMux
	static   http.Handler
}

// LoadOrCreateRootToken returns the root token, creating it on first start.
func LoadOrCreateRootToken(dataDir string) (token string, created bool, err error) {
	path := filepath.Join(dataDir, RootTokenFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("read root token %s: %w", path, err)
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, err
	}
	token = "trawl_root_" + hex.EncodeToString(raw[:])
	if err := WriteRootToken(dataDir, token); err != nil {
		return "", false, err
	}
	return token, true, nil
}

// WriteRootToken writes the root token into the data directory (mode 0600).
func WriteRootToken(dataDir, token string) error {
	path := filepath.Join(dataDir, RootTokenFile)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("write root token %s: %w", path, err)
	}
	return nil
}

// New returns the API server. static serves the web console (may be nil).
func New(a *app.App, rootToken string, static http.Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{app: a, log: log, rootHash: sha256.Sum256([]byte(rootToken)), mux: http.NewServeMux(), static: static}
	s.routes()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type handler func(w http.ResponseWriter, r *http.Request, sc app.Scope) error

// readyz answers whether this server can serve searches and runs (503
// when not). It needs no token, so the reason names what is wrong but not
// the server's paths; the log has them.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	err := s.app.Ready(r.Context())
	if err == nil {
		writeJSON(w, 200, map[string]string{"status": "ready"})
		return
	}
	s.log.Error("not ready", "err", err)
	reason := "not ready: see the server's log"
	var nr *app.NotReadyError
	if errors.As(err, &nr) {
		reason = nr.What + " " + nr.Problem
	}
	writeJSON(w, 503, map[string]string{"status": "not ready", "reason": reason})
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	h := func(pattern string, fn handler) { s.mux.Handle(pattern, s.auth(fn)) }
	// long lifts the server's write timeout for handlers that run as long
	// as their work does (a collection, a test, a retry).
	long := func(fn handler) handler {
		return func(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
			return fn(w, r, sc)
		}
	}
	h("GET /api/v1/whoami", s.whoami)
	h("GET /api/v1/connectors", s.listConnectors)
	h("POST /api/v1/connectors", s.createConnector)
	h("GET /api/v1/connectors/{id}", s.getConnector)
	h("PUT /api/v1/connectors/{id}", s.updateConnector)
	h("DELETE /api/v1/connectors/{id}", s.deleteConnector)
	h("POST /api/v1/connectors/{id}/enable", s.enable(true))
	h("POST /api/v1/connectors/{id}/disable", s.enable(false))
	h("POST /api/v1/connectors/{id}/collect", long(s.collectOne))
	h("GET /api/v1/connectors/{id}/status", s.status)
	h("GET /api/v1/connectors/{id}/runs", s.runs)
	h("POST /api/v1/collect", long(s.collect))
	h("GET /api/v1/search", s.search)
	h("GET /api/v1/count", s.count)
	h("GET /api/v1/histogram", s.histogram)
	h("GET /api/v1/top", s.top)
	h("GET /api/v1/export", long(s.export))
	h("GET /api/v1/overview", s.overview)
	h("GET /api/v1/searches", s.listSearches)
	h("POST /api/v1/searches", s.saveSearch)
	h("DELETE /api/v1/searches/{id}", s.deleteSearch)
	h("GET /api/v1/quarantine", s.quarantine)
	h("POST /api/v1/connectors/{id}/quarantine/retry", long(s.retryQuarantine))
	h("POST /api/v1/connectors/{id}/test", long(s.testConnector))
	h("GET /api/v1/connectors/{id}/policy", s.policy)
	h("GET /api/v1/connectors/{id}/audit", s.digestAudit(false))
	h("POST /api/v1/connectors/{id}/audit", long(s.digestAudit(true)))
	h("POST /api/v1/public-keys", s.importPublicKeys)
	h("GET /api/v1/external-id", s.externalID)
	h("POST /api/v1/policy", s.draftPolicy)
	h("GET /api/v1/tokens", s.listTokens)
	h("POST /api/v1/tokens", s.createToken)
	h("DELETE /api/v1/tokens/{id}", s.deleteToken)
	h("POST /api/v1/tenants", s.createTenant)
	h("GET /api/v1/audit", s.audit)
	h("GET /api/v1/nodes", s.nodes)
	h("GET /api/v1/alerts", s.alerts)
	h("PATCH /api/v1/alerts/{id}", s.patchAlert)
	h("GET /api/v1/rules", s.rules)
	h("GET /api/v1/webhook", s.getWebhook)
	h("PUT /api/v1/webhook", s.setWebhook)
	h("GET /api/v1/retention", s.getRetention)
	h("PUT /api/v1/retention", s.setRetention)
	h("POST /api/v1/rules", s.addRule)
	h("POST /api/v1/rules/{id}/enable", s.enableRule(true))
	h("POST /api/v1/rules/{id}/disable", s.enableRule(false))
	h("DELETE /api/v1/rules/{id}", s.deleteRule)
	h("POST /api/v1/rules/{id}/run", long(s.runRule))
	h("POST /api/v1/rules/{id}/exceptions", s.addRuleException)
	h("DELETE /api/v1/rules/{id}/exceptions/{eid}", s.deleteRuleException)
	h("POST /api/v1/alerts/evaluate", long(s.evaluateRules))
	s.mux.Handle("GET /metrics", s.auth(s.metrics))
	s.mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	h("GET /api/v1/tenants", s.tenants)
	h("GET /api/v1/fields", s.fields)
	h("GET /api/v1/meta", s.meta)
	h("GET /api/v1/validate/prefix", s.validatePrefix)
	s.icebergRoutes()
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, 404, "not_found", "no such API endpoint: "+r.Method+" "+r.URL.Path, "")
	})
	if s.static != nil {
		s.mux.Handle("/", s.static)
	}
}

func (s *Server) auth(fn handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="trawl"`)
			writeErr(w, 401, "unauthenticated", "send Authorization: Bearer <token>; the root token is in the data directory's root.token file", "")
			return
		}
		sc, ok := s.scopeFor(r.Context(), tok)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="trawl", error="invalid_token"`)
			writeErr(w, 401, "invalid_token", "the token is not valid: check it, or ask an administrator for a new one", "")
			return
		}
		err := limitBody(w, r, maxBody)
		if err == nil {
			err = fn(w, r, sc)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) scopeFor(ctx context.Context, tok string) (app.Scope, bool) {
	h := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(h[:], s.rootHash[:]) == 1 {
		return app.RootScope("root"), true
	}
	return s.app.ScopeForToken(ctx, tok)
}

// Error is the JSON error body.
type Error struct {
	Code     string              `json:"code"`
	Message  string              `json:"message"`
	Field    string              `json:"field,omitempty"`
	Position *int                `json:"position,omitempty"`
	Problems []connector.Problem `json:"problems,omitempty"`
}

func writeErr(w http.ResponseWriter, status int, code, msg, field string) {
	writeJSON(w, status, map[string]Error{"error": {Code: code, Message: msg, Field: field}})
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *connector.ValidationError
	var ie app.InvalidInput
	var qe *query.Error
	var fe *query.FieldError
	var vle *query.ValueError
	var pe *prefix.Error
	var be *badRequest
	var qt *app.QueryTimeoutError
	var tm *app.TooManyError
	var mb *http.MaxBytesError
	var le *app.LimitError
	switch {
	case errors.As(err, &le):
		writeErr(w, 413, "too_large", le.Error(), le.Field)
	case errors.As(err, &qt):
		writeErr(w, 504, "query_timeout", qt.Error(), "q")
	case errors.As(err, &tm):
		w.Header().Set("Retry-After", strconv.Itoa(int(tm.RetryAfter.Seconds()+0.5)))
		writeErr(w, 429, "too_many_queries", tm.Error(), "")
	case errors.As(err, &mb):
		writeErr(w, 413, "too_large", fmt.Sprintf("the request body is larger than this endpoint's limit of %s (%d bytes): send less", sizeText(mb.Limit), mb.Limit), "body")
	case errors.As(err, &ve):
		e := Error{Code: "validation", Message: ve.Error(), Problems: ve.Problems}
		if len(ve.Problems) > 0 {
			e.Field = ve.Problems[0].Field
		}
		writeJSON(w, 400, map[string]Error{"error": e})
	case errors.As(err, &ie):
		e := Error{Code: "validation", Message: ie.Error(), Problems: ie.Invalid()}
		if ps := ie.Invalid(); len(ps) > 0 {
			e.Field = ps[0].Field
		}
		writeJSON(w, 400, map[string]Error{"error": e})
	case errors.As(err, &qe):
		p := qe.Pos
		writeJSON(w, 400, map[string]Error{"error": {Code: "query", Message: qe.Error(), Field: "q", Position: &p}})
	case errors.As(err, &fe):
		p := fe.Pos
		writeJSON(w, 400, map[string]Error{"error": {Code: "query", Message: fe.Error(), Field: "q", Position: &p}})
	case errors.As(err, &vle):
		p := vle.Pos
		writeJSON(w, 400, map[string]Error{"error": {Code: "query", Message: vle.Error(), Field: "q", Position: &p}})
	case errors.As(err, &pe):
		p := pe.Pos
		writeJSON(w, 400, map[string]Error{"error": {Code: "validation", Message: pe.Error(), Field: "prefix", Position: &p}})
	case errors.As(err, &be):
		writeErr(w, 400, "bad_request", be.msg, be.field)
	case errors.Is(err, app.ErrForbidden):
		writeErr(w, 403, "forbidden", err.Error(), "")
	case errors.Is(err, app.ErrNotFound):
		writeErr(w, 404, "not_found", err.Error(), "")
	case errors.Is(err, app.ErrBusy):
		writeErr(w, 409, "busy", err.Error(), "")
	case errors.Is(err, app.ErrConflict):
		writeErr(w, 409, "conflict", err.Error(), "")
	case errors.Is(err, context.Canceled):
		writeErr(w, 499, "cancelled", "the request was cancelled", "")
	default:
		// Internal errors can name files, SQL and hosts: they go to the
		// server's log, and the caller gets a reference to find them.
		ref := newRef()
		s.log.Error("api error", "ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
		writeErr(w, 500, "internal", "internal error (reference "+ref+"): the server's log has the details", "")
	}
}

type badRequest struct{ msg, field string }

func (b *badRequest) Error() string { return b.msg }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// Smaller limits of single endpoints: a Sigma rule, a webhook URL, a
// saved search, a public keys file (aws cloudtrail list-public-keys).
const (
	maxRuleBody    = 128 << 10
	maxWebhookBody = 16 << 10
	maxSearchBody  = 64 << 10
	maxKeysBody    = 1 << 20
)

// maxBody bounds request bodies (a connector with its filters is a few KB).
const maxBody = 1 << 20

// limitBody bounds r's body at limit bytes. Every handler's body limit
// goes through it, so a body over a limit fails with a MaxBytesError (413
// naming the limit) instead of being cut short and failing to decode as
// "unexpected EOF". A declared length over the limit fails at once.
func limitBody(w http.ResponseWriter, r *http.Request, limit int64) error {
	if r.ContentLength > limit {
		return &http.MaxBytesError{Limit: limit}
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return nil
}

// decodeBody decodes r's JSON body, bounded at limit bytes (see limitBody);
// strict refuses unknown fields. An error other than a MaxBytesError is
// the decoder's, for the caller to say what the body should be.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, limit int64, strict bool) error {
	if err := limitBody(w, r, limit); err != nil {
		return err
	}
	dec := json.NewDecoder(r.Body)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return mb
		}
		return err
	}
	return nil
}

// sizeText writes a byte count as people say it (128 KB, 1 MB).
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	err := decodeBody(w, r, v, maxBody, true)
	var mb *http.MaxBytesError
	if err != nil && !errors.As(err, &mb) {
		return &badRequest{msg: "invalid JSON body: " + err.Error()}
	}
	return err
}

func newRef() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	writeJSON(w, 200, map[string]any{"root": sc.Root, "tenant": sc.Tenant, "actor": sc.Actor})
	return nil
}

func (s *Server) listConnectors(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	list, err := s.app.ListConnectors(r.Context(), sc, r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	if list == nil {
		list = []connector.Connector{}
	}
	writeJSON(w, 200, map[string]any{"connectors": list})
	return nil
}

func (s *Server) createConnector(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in connector.Connector
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	c, err := s.app.CreateConnector(r.Context(), sc, in)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(c.Version))
	writeJSON(w, 201, c)
	return nil
}

func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

func (s *Server) getConnector(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	c, err := s.app.GetConnector(r.Context(), sc, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(c.Version))
	writeJSON(w, 200, c)
	return nil
}

func (s *Server) updateConnector(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in connector.Connector
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	var ifv int64
	if m := r.Header.Get("If-Match"); m != "" {
		v, err := strconv.ParseInt(strings.Trim(m, `"W/`), 10, 64)
		if err != nil {
			return &badRequest{msg: "If-Match must be the ETag from GET, e.g. \"3\""}
		}
		ifv = v
	}
	c, err := s.app.UpdateConnector(r.Context(), sc, r.PathValue("id"), in, ifv)
	if err != nil {
		if errors.Is(err, app.ErrConflict) {
			writeErr(w, 412, "precondition_failed", err.Error(), "")
			return nil
		}
		return err
	}
	w.Header().Set("ETag", etag(c.Version))
	writeJSON(w, 200, c)
	return nil
}

func (s *Server) deleteConnector(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	if err := s.app.DeleteConnector(r.Context(), sc, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(204)
	return nil
}

func (s *Server) enable(on bool) handler {
	return func(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
		c, err := s.app.SetEnabled(r.Context(), sc, r.PathValue("id"), on)
		if err != nil {
			return err
		}
		writeJSON(w, 200, c)
		return nil
	}
}

func (s *Server) collectOne(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	res, err := s.app.RunConnector(r.Context(), sc, r.PathValue("id"), collect.Options{})
	if err != nil {
		return err
	}
	writeJSON(w, 200, res)
	return nil
}

func (s *Server) collect(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in struct {
		IDs  []string `json:"ids"`
		From string   `json:"from,omitempty"`
		To   string   `json:"to,omitempty"`
	}
	if r.ContentLength != 0 {
		if err := readJSON(w, r, &in); err != nil {
			return err
		}
	}
	var opt collect.Options
	var err error
	if in.From != "" {
		if opt.From, err = query.ParseTime(in.From, time.Now()); err != nil {
			return &badRequest{msg: err.Error(), field: "from"}
		}
	}
	if in.To != "" {
		if opt.To, err = query.ParseTime(in.To, time.Now()); err != nil {
			return &badRequest{msg: err.Error(), field: "to"}
		}
	}
	res, err := s.app.CollectOnce(r.Context(), sc, in.IDs, opt)
	if err != nil {
		return err
	}
	if res == nil {
		res = []*app.RunResult{}
	}
	writeJSON(w, 200, map[string]any{"results": res})
	return nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	st, err := s.app.ConnectorStatus(r.Context(), sc, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, st)
	return nil
}

func (s *Server) runs(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if n <= 0 || n > 1000 {
		n = 50
	}
	runs, err := s.app.Runs(r.Context(), sc, r.PathValue("id"), n)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []apiv1.Run{}
	}
	writeJSON(w, 200, map[string]any{"runs": runs})
	return nil
}

// SearchParams are the query parameters shared by search, count, histogram
// and top, the same as the CLI's flags.
// period reads ?from= (default the last 24 hours) and ?to= (default now).
func period(q url.Values) (from, to time.Time, err error) {
	now := time.Now()
	f := q.Get("from")
	if f == "" {
		f = "-24h"
	}
	if from, err = query.ParseTime(f, now); err != nil {
		return from, to, &badRequest{msg: err.Error(), field: "from"}
	}
	if to, err = query.ParseTime(q.Get("to"), now); err != nil {
		return from, to, &badRequest{msg: err.Error(), field: "to"}
	}
	return from, to, nil
}

func searchRequest(r *http.Request) (apiv1.SearchRequest, string, error) {
	q := r.URL.Query()
	var req apiv1.SearchRequest
	var err error
	if req.From, req.To, err = period(q); err != nil {
		return req, "", err
	}
	for _, ix := range q["index"] {
		for _, p := range strings.Split(ix, ",") {
			switch p {
			case "":
			case interflow.IndexEvents, interflow.IndexTraffic:
				req.Indices = append(req.Indices, p)
			default:
				return req, "", &badRequest{msg: fmt.Sprintf("unknown index %q: use %s or %s", p, interflow.IndexEvents, interflow.IndexTraffic), field: "index"}
			}
		}
	}
	req.Query = q.Get("q")
	if l := q.Get("limit"); l != "" {
		if req.Limit, err = strconv.Atoi(l); err != nil {
			return req, "", &badRequest{msg: "limit must be a number", field: "limit"}
		}
	}
	if c := q.Get("cursor"); c != "" {
		var cur apiv1.Cursor
		if err := json.Unmarshal([]byte(c), &cur); err != nil {
			return req, "", &badRequest{msg: "cursor is the next value from a previous page", field: "cursor"}
		}
		req.Before = &cur
	}
	return req, q.Get("tenant"), nil
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	req, tenant, err := searchRequest(r)
	if err != nil {
		return err
	}
	res, err := s.app.Search(r.Context(), sc, tenant, req)
	if err != nil {
		return err
	}
	writeJSON(w, 200, res)
	return nil
}

// export streams a whole result as CSV or NDJSON (?format=, default csv;
// ?columns=a,b for CSV), tenant-scoped like search. Errors before the
// first page (a bad query, a tenant out of scope) are answered as usual;
// the body starts only with the first page.
func (s *Server) export(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	req, tenant, err := searchRequest(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = app.ExportCSV
	}
	if format != app.ExportCSV && format != app.ExportNDJSON {
		return &badRequest{msg: "format is csv or ndjson", field: "format"}
	}
	var cols []string
	if c := q.Get("columns"); c != "" {
		cols = strings.Split(c, ",")
	}
	lw := &lazyWriter{w: w, start: func() {
		ct, ext := "text/csv; charset=utf-8; header=present", "csv"
		if format == app.ExportNDJSON {
			ct, ext = "application/x-ndjson", "ndjson"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", `attachment; filename="trawl-export.`+ext+`"`)
		w.WriteHeader(200)
	}}
	flush := func() {
		if f, ok := w.(http.Flusher); ok && lw.started {
			f.Flush()
		}
	}
	_, err = s.app.Export(r.Context(), sc, tenant, req, format, cols, lw, flush)
	if err != nil && lw.started {
		// The status is sent: the body ends short, which a client sees as
		// a broken transfer, never as a complete export.
		panic(http.ErrAbortHandler)
	}
	return err
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	o, err := s.app.Overview(r.Context(), sc, r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, o)
	return nil
}

func (s *Server) listSearches(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	list, err := s.app.SavedSearches(r.Context(), sc)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"searches": list})
	return nil
}

func (s *Server) saveSearch(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in app.SavedSearch
	if err := decodeBody(w, r, &in, maxSearchBody, false); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return &badRequest{msg: "the body is not a saved search: " + err.Error(), field: "body"}
	}
	out, err := s.app.SaveSearch(r.Context(), sc, in)
	if err != nil {
		return err
	}
	writeJSON(w, 201, out)
	return nil
}

func (s *Server) deleteSearch(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	if err := s.app.DeleteSavedSearch(r.Context(), sc, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(204)
	return nil
}

// lazyWriter sends the response's head at the first byte of the body.
type lazyWriter struct {
	w       http.ResponseWriter
	start   func()
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.start()
	}
	return l.w.Write(p)
}

func (s *Server) count(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	req, tenant, err := searchRequest(r)
	if err != nil {
		return err
	}
	n, err := s.app.Count(r.Context(), sc, tenant, req)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]int64{"count": n})
	return nil
}

func (s *Server) histogram(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	req, tenant, err := searchRequest(r)
	if err != nil {
		return err
	}
	interval := req.To.Sub(req.From) / 60
	if iv := r.URL.Query().Get("interval"); iv != "" {
		if interval, err = time.ParseDuration(iv); err != nil {
			return &badRequest{msg: "interval is a duration such as 1m", field: "interval"}
		}
	}
	interval = niceInterval(interval)
	b, err := s.app.Histogram(r.Context(), sc, tenant, req, interval)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"interval_seconds": int64(interval / time.Second), "buckets": b})
	return nil
}

func niceInterval(d time.Duration) time.Duration {
	for _, n := range []time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute,
		10 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour} {
		if d <= n {
			return n
		}
	}
	return 30 * 24 * time.Hour
}

func (s *Server) top(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	req, tenant, err := searchRequest(r)
	if err != nil {
		return err
	}
	field := r.URL.Query().Get("field")
	if field == "" {
		return &badRequest{msg: "field is required", field: "field"}
	}
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	vals, err := s.app.Top(r.Context(), sc, tenant, req, field, n)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"field": field, "values": vals})
	return nil
}

func (s *Server) quarantine(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	q := r.URL.Query()
	n, _ := strconv.Atoi(q.Get("limit"))
	items, err := s.app.Quarantine(r.Context(), sc, q.Get("tenant"), q.Get("connector_id"), n)
	if err != nil {
		return err
	}
	if items == nil {
		items = []apiv1.QuarantineItem{}
	}
	writeJSON(w, 200, map[string]any{"items": items})
	return nil
}

func (s *Server) tenants(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	ts, err := s.app.Tenants(r.Context(), sc)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []string{}
	}
	writeJSON(w, 200, map[string]any{"tenants": ts})
	return nil
}

func (s *Server) alerts(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	q := r.URL.Query()
	f := app.AlertFilter{Tenant: q.Get("tenant"), Level: q.Get("level"), RuleID: q.Get("rule_id"), Status: q.Get("status")}
	if f.Status != "" && !slices.Contains(apiv1.AlertStatuses(), f.Status) {
		return &app.AlertError{Problems: []connector.Problem{{Field: "status", Message: "status is " + strings.Join(apiv1.AlertStatuses(), ", ")}}}
	}
	if f.Level != "" && !slices.Contains(apiv1.AlertLevels(), f.Level) {
		return &app.AlertError{Problems: []connector.Problem{{Field: "level", Message: "level is informational, low, medium, high or critical"}}}
	}
	since := q.Get("since")
	if since == "" {
		since = "-24h"
	}
	t, err := query.ParseTime(since, time.Now())
	if err != nil {
		return &connector.ValidationError{Problems: []connector.Problem{{Field: "since", Message: err.Error()}}}
	}
	f.Since = t
	if n, err := strconv.Atoi(q.Get("limit")); err == nil {
		f.Limit = n
	}
	as, err := s.app.Alerts(r.Context(), sc, f)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"alerts": as})
	return nil
}

func (s *Server) rules(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	rs, err := s.app.Rules(r.Context(), sc, r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"rules": rs})
	return nil
}

// addRule takes {"tenant": T, "yaml": "..."}.
func (s *Server) addRule(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in struct {
		Tenant string `json:"tenant"`
		YAML   string `json:"yaml"`
	}
	if err := decodeBody(w, r, &in, maxRuleBody, false); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return &app.RuleError{Problems: []connector.Problem{{Field: "body", Message: "send {\"tenant\": ..., \"yaml\": \"the Sigma rule\"}: " + err.Error()}}}
	}
	info, err := s.app.AddRule(r.Context(), sc, in.Tenant, []byte(in.YAML))
	if err != nil {
		return err
	}
	writeJSON(w, 201, info)
	return nil
}

func (s *Server) enableRule(on bool) handler {
	return func(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
		if err := s.app.SetRuleEnabled(r.Context(), sc, r.URL.Query().Get("tenant"), r.PathValue("id"), on); err != nil {
			return err
		}
		writeJSON(w, 200, map[string]any{"id": r.PathValue("id"), "enabled": on})
		return nil
	}
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	if err := s.app.DeleteRule(r.Context(), sc, r.URL.Query().Get("tenant"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(204)
	return nil
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	u, err := s.app.GetWebhook(r.Context(), sc, r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	on, err := s.app.WebhookStatusChanges(r.Context(), sc, r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"url": u, "status_changes": on})
	return nil
}

// setWebhook takes {"tenant": T, "url": U}; an empty url clears it.
func (s *Server) setWebhook(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in struct {
		Tenant        string `json:"tenant"`
		URL           string `json:"url"`
		StatusChanges *bool  `json:"status_changes"`
	}
	if err := decodeBody(w, r, &in, maxWebhookBody, false); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return &app.WebhookError{Problems: []connector.Problem{{Field: "body", Message: "send {\"tenant\": ..., \"url\": ...}: " + err.Error()}}}
	}
	if err := s.app.SetWebhook(r.Context(), sc, in.Tenant, in.URL); err != nil {
		return err
	}
	if in.StatusChanges != nil && in.URL != "" {
		if err := s.app.SetWebhookStatusChanges(r.Context(), sc, in.Tenant, *in.StatusChanges); err != nil {
			return err
		}
	}
	on, err := s.app.WebhookStatusChanges(r.Context(), sc, in.Tenant)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"url": in.URL, "status_changes": on})
	return nil
}

func (s *Server) evaluateRules(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	rep, err := s.app.EvaluateRules(r.Context(), sc)
	if err != nil {
		return err
	}
	writeJSON(w, 200, rep)
	return nil
}

func (s *Server) nodes(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	ns, err := s.app.Nodes(r.Context(), sc)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"nodes": ns})
	return nil
}

func (s *Server) fields(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	writeJSON(w, 200, fieldList())
	return nil
}

func (s *Server) validatePrefix(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	sub := r.URL.Query().Get("sub_type")
	_, err := prefix.Parse(r.URL.Query().Get("prefix"), prefix.Options{AllowWildcard: sub != "waf"})
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]bool{"ok": true})
	return nil
}

func (s *Server) retryQuarantine(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	res, err := s.app.RetryQuarantine(r.Context(), sc, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, res)
	return nil
}

func (s *Server) testConnector(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	res, err := s.app.CheckConnection(r.Context(), sc, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, res)
	return nil
}

// importPublicKeys caches CloudTrail public keys given as aws cloudtrail
// list-public-keys prints them (root only).
func (s *Server) importPublicKeys(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	if err := limitBody(w, r, maxKeysBody); err != nil {
		return err
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("public keys body: %w", err)
	}
	n, err := s.app.ImportPublicKeys(r.Context(), sc, data, "api "+sc.Actor)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]int{"imported": n})
	return nil
}

// digestAudit answers a CloudTrail connector's digest audit for
// ?from=&to= (default the last 24 hours): the stored results (GET), or
// the audit run now (POST), a page of ?limit= (default 100) at a time;
// GET ?cursor= (the page's next) gives the following page.
func (s *Server) digestAudit(run bool) handler {
	return func(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
		q := r.URL.Query()
		f, t, err := period(q)
		if err != nil {
			return err
		}
		limit := app.DefaultAuditPage
		if v := q.Get("limit"); v != "" {
			if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > app.MaxAuditPage {
				return &badRequest{msg: fmt.Sprintf("limit is the number of results a page: 1 to %d", app.MaxAuditPage), field: "limit"}
			}
		}
		var page *app.AuditPage
		switch {
		case run && q.Get("cursor") != "":
			return &badRequest{msg: "a cursor pages the stored results: GET it, after the POST that ran the audit", field: "cursor"}
		case run:
			page, err = s.app.AuditDigests(r.Context(), sc, r.PathValue("id"), f, t, limit)
		default:
			page, err = s.app.DigestAuditResults(r.Context(), sc, r.PathValue("id"), f, t, q.Get("cursor"), limit)
		}
		if err != nil {
			return err
		}
		writeJSON(w, 200, page)
		return nil
	}
}

func (s *Server) policy(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	q := r.URL.Query()
	p, err := s.app.Policy(r.Context(), sc, r.PathValue("id"), awspolicy.Options{KMSKeyARN: q.Get("kms_key_arn"), Principal: q.Get("principal"), QueueKMSKeyARN: q.Get("queue_kms_key_arn")})
	if err != nil {
		return err
	}
	writeJSON(w, 200, p)
	return nil
}

func (s *Server) draftPolicy(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in struct {
		connector.Connector
		KMSKeyARN      string `json:"kms_key_arn"`
		Principal      string `json:"principal"`
		QueueKMSKeyARN string `json:"queue_kms_key_arn"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	p, err := s.app.DraftPolicy(r.Context(), sc, in.Connector, awspolicy.Options{KMSKeyARN: in.KMSKeyARN, Principal: in.Principal, QueueKMSKeyARN: in.QueueKMSKeyARN})
	if err != nil {
		return err
	}
	writeJSON(w, 200, p)
	return nil
}

func (s *Server) externalID(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	t := r.URL.Query().Get("tenant")
	id, err := s.app.ExternalID(r.Context(), sc, t)
	if err != nil {
		return err
	}
	if t == "" {
		t = sc.Tenant
	}
	writeJSON(w, 200, map[string]string{"tenant": t, "external_id": id})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	ts, err := s.app.Tokens(r.Context(), sc)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []apiv1.Token{}
	}
	writeJSON(w, 200, map[string]any{"tokens": ts})
	return nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in struct {
		Tenant string `json:"tenant"`
		Name   string `json:"name"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	secret, t, err := s.app.CreateToken(r.Context(), sc, in.Tenant, in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, 201, map[string]any{"token": secret, "id": t.ID, "tenant": t.Tenant, "name": t.Name,
		"note": "store this token now: it is not shown again"})
	return nil
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	if err := s.app.DeleteToken(r.Context(), sc, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(204)
	return nil
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.app.CreateTenant(r.Context(), sc, in.Name); err != nil {
		return err
	}
	writeJSON(w, 201, map[string]string{"name": in.Name})
	return nil
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	es, err := s.app.ActorLog(r.Context(), sc, n)
	if err != nil {
		return err
	}
	if es == nil {
		es = []apiv1.ActorEntry{}
	}
	writeJSON(w, 200, map[string]any{"entries": es})
	return nil
}

func (s *Server) meta(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	writeJSON(w, 200, map[string]any{
		"regions":    connector.Regions(),
		"sub_types":  []string{"cloudtrail", "vpcflow", "waf"},
		"file_types": map[string][]string{"cloudtrail": {"gzip"}, "vpcflow": {"gzip"}, "waf": {"gzip", "text"}},
		"node":       s.app.Node(),
	})
	return nil
}
