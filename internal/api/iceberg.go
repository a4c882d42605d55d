package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trawlhq/trawl/internal/app"
)

// The Apache Iceberg REST catalog, read-only, under /iceberg/v1 (so an
// engine's catalog URI is http(s)://HOST:PORT/iceberg). Its routes,
// bodies and errors follow Iceberg's REST catalog OpenAPI spec
// (open-api/rest-catalog-open-api.yaml), not Trawl's /api/v1 conventions,
// and are not in openapi.json. Every call takes a Trawl bearer token and
// runs in its scope: a tenant's token sees its namespace (the tenant) and
// its tables (the indexes with a snapshot); another tenant's answer 404,
// as in /api/v1. Tables are served, never changed: writes answer 405.
// No credentials are vended (LoadTableResult's config is empty): an
// engine reads the lake with its own. The lists page as the spec's
// pageToken and pageSize ask (icebergPage).

// icebergEndpoints are the endpoints this catalog serves, as /v1/config
// declares them (clients then call no other, e.g. no views).
func icebergEndpoints() []string {
	return []string{
		"GET /v1/{prefix}/namespaces",
		"GET /v1/{prefix}/namespaces/{namespace}",
		"HEAD /v1/{prefix}/namespaces/{namespace}",
		"GET /v1/{prefix}/namespaces/{namespace}/tables",
		"GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
		"HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	}
}

func (s *Server) icebergRoutes() {
	ice := func(pattern string, fn handler) { s.mux.Handle(pattern, s.icebergAuth(fn)) }
	// A GET pattern also serves HEAD.
	ice("GET /iceberg/v1/config", s.icebergConfig)
	ice("GET /iceberg/v1/namespaces", s.icebergNamespaces)
	ice("GET /iceberg/v1/namespaces/{ns}", s.icebergNamespace)
	ice("GET /iceberg/v1/namespaces/{ns}/tables", s.icebergTables)
	ice("GET /iceberg/v1/namespaces/{ns}/tables/{table}", s.icebergLoadTable)
	s.mux.Handle("/iceberg/", s.icebergAuth(func(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeIcebergErr(w, 405, "UnsupportedOperationException", "Trawl's Iceberg catalog is read-only: Trawl alone writes its tables")
			return nil
		}
		writeIcebergErr(w, 404, "NoSuchEndpointException", "no such endpoint of the Iceberg REST catalog: "+r.URL.Path)
		return nil
	}))
}

// writeIcebergErr writes the spec's IcebergErrorResponse.
func writeIcebergErr(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": status}})
}

// icebergAuth authenticates as auth does, answering in the spec's error
// model; a handler's error is a 404 of its kind or a 500 whose details
// go to the log only.
func (s *Server) icebergAuth(fn handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="trawl"`)
			writeIcebergErr(w, 401, "NotAuthorizedException", "send Authorization: Bearer <a Trawl API token>")
			return
		}
		sc, ok := s.scopeFor(r.Context(), tok)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="trawl", error="invalid_token"`)
			writeIcebergErr(w, 401, "NotAuthorizedException", "the token is not valid: check it, or ask an administrator for a new one")
			return
		}
		if err := fn(w, r, sc); err != nil {
			s.writeIcebergError(w, r, err)
		}
	})
}

// notFoundAs is a not-found error reported as the spec's exception type.
type notFoundAs struct {
	typ string
	err error
}

func (e *notFoundAs) Error() string { return e.err.Error() }
func (e *notFoundAs) Unwrap() error { return e.err }

func (s *Server) writeIcebergError(w http.ResponseWriter, r *http.Request, err error) {
	var nf *notFoundAs
	var be *badRequest
	switch {
	case errors.As(err, &be):
		writeIcebergErr(w, 400, "BadRequestException", be.msg)
	case errors.As(err, &nf) && errors.Is(err, app.ErrNotFound):
		writeIcebergErr(w, 404, nf.typ, err.Error())
	case errors.Is(err, app.ErrNotFound):
		writeIcebergErr(w, 404, "NoSuchNamespaceException", err.Error())
	default:
		ref := newRef()
		s.log.Error("iceberg catalog error", "ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
		writeIcebergErr(w, 500, "InternalServerError", "internal error (reference "+ref+"): the server's log has the details")
	}
}

// namespaceOf is a namespace path parameter: one level (a tenant); the
// spec joins the levels of a nested one with 0x1F, which no tenant is.
func namespaceOf(r *http.Request) (string, error) {
	ns := r.PathValue("ns")
	if ns == "" || strings.ContainsRune(ns, 0x1f) {
		// Wrapped, so the 404 (not a 500) is what answers it; the name is
		// echoed at most 200 bytes long.
		return "", &notFoundAs{"NoSuchNamespaceException", fmt.Errorf("namespace %.200q: %w", strings.ReplaceAll(ns, "\x1f", "."), app.ErrNotFound)}
	}
	return ns, nil
}

// icebergConfig answers CatalogConfig. Pagination needs no entry: the
// spec's CatalogConfig has no field for it (a client sends pageToken and
// pageSize to the list endpoints it already knows), and the endpoints
// served are the same.
func (s *Server) icebergConfig(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	writeJSON(w, 200, map[string]any{"defaults": map[string]string{}, "overrides": map[string]string{}, "endpoints": icebergEndpoints()})
	return nil
}

func (s *Server) icebergNamespaces(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	pg, err := pagingOf(r.URL.Query(), "namespaces")
	if err != nil {
		return err
	}
	var names []string
	if parent := r.URL.Query().Get("parent"); parent != "" {
		// Namespaces have one level: a parent has no children.
		if err := s.app.IcebergNamespace(r.Context(), sc, parent); err != nil {
			return err
		}
	} else if names, err = s.app.IcebergNamespaces(r.Context(), sc); err != nil {
		return err
	}
	page, next := pg.page(names)
	out := [][]string{}
	for _, n := range page {
		out = append(out, []string{n})
	}
	writeJSON(w, 200, map[string]any{"namespaces": out, "next-page-token": next})
	return nil
}

// paging is a list call's pageToken and pageSize. The spec's page token
// is opaque; this catalog's is the listing it belongs to and the last
// name of the page before, in unpadded base64url, so a page resumes after
// that name whatever was added or removed since, no state is kept between
// calls, and a token of another listing (namespaces' on a namespace's
// tables, one namespace's on another's) is refused. The names are the
// token's scope's before they are paged, so a made-up token reveals
// nothing a listing does not.
type paging struct {
	listing string // what is listed: "namespaces", or "tables of NS"
	after   string // "": from the first name
	size    int    // 0: every name left
}

// pagingOf reads the paging parameters: an empty pageToken asks for the
// first page; pageSize is a whole number of 1 or more (the spec's
// minimum); either malformed is the client's error (400).
func pagingOf(q url.Values, listing string) (paging, error) {
	p := paging{listing: listing}
	if q.Has("pageSize") {
		n, err := strconv.ParseUint(q.Get("pageSize"), 10, 63)
		switch {
		case errors.Is(err, strconv.ErrRange):
			n = 0 // more than any listing holds: every name
		case err != nil || n < 1:
			return p, &badRequest{msg: fmt.Sprintf("pageSize %.40q: give a whole number of names per page, 1 or more", q.Get("pageSize")), field: "pageSize"}
		}
		p.size = int(n)
	}
	if tok := q.Get("pageToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		after, ok := strings.CutPrefix(string(raw), listing+"\x00")
		if err != nil || !ok || after == "" || !utf8.ValidString(after) {
			return p, &badRequest{msg: fmt.Sprintf("pageToken %.40q is not a token of this listing (%s): send the previous page's next-page-token, or an empty pageToken for the first page", tok, listing), field: "pageToken"}
		}
		p.after = after
	}
	return p, nil
}

// page returns the names (sorted) after p.after, at most p.size of them,
// and the token of the next page: nil (JSON null, the spec's end of the
// list) when no name is left after this page.
func (p paging) page(names []string) ([]string, any) {
	names = slices.Sorted(slices.Values(names))
	start := 0
	if p.after != "" {
		start, _ = slices.BinarySearch(names, p.after)
		if start < len(names) && names[start] == p.after {
			start++
		}
	}
	end := len(names)
	if p.size > 0 && start+p.size < end {
		end = start + p.size
	}
	if end == len(names) {
		return names[start:end], nil
	}
	return names[start:end], base64.RawURLEncoding.EncodeToString([]byte(p.listing + "\x00" + names[end-1]))
}

func (s *Server) icebergNamespace(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	ns, err := namespaceOf(r)
	if err == nil {
		err = s.app.IcebergNamespace(r.Context(), sc, ns)
	}
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(w, 200, map[string]any{"namespace": []string{ns}, "properties": map[string]string{}})
	return nil
}

type tableIdentifier struct {
	Namespace []string `json:"namespace"`
	Name      string   `json:"name"`
}

func (s *Server) icebergTables(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	ns, err := namespaceOf(r)
	if err != nil {
		return err
	}
	pg, err := pagingOf(r.URL.Query(), "tables of "+ns)
	if err != nil {
		return err
	}
	names, err := s.app.IcebergTableNames(r.Context(), sc, ns)
	if err != nil {
		return err
	}
	page, next := pg.page(names)
	ids := []tableIdentifier{}
	for _, n := range page {
		ids = append(ids, tableIdentifier{Namespace: []string{ns}, Name: n})
	}
	writeJSON(w, 200, map[string]any{"identifiers": ids, "next-page-token": next})
	return nil
}

// icebergLoadTable answers LoadTableResult: the current metadata file's
// location and content, with an ETag of the location (a client's
// If-None-Match of the current one is answered 304).
func (s *Server) icebergLoadTable(w http.ResponseWriter, r *http.Request, sc app.Scope) error {
	ns, err := namespaceOf(r)
	if err != nil {
		return err
	}
	if err := s.app.IcebergNamespace(r.Context(), sc, ns); err != nil {
		return err
	}
	t, err := s.app.LoadIcebergTable(r.Context(), sc, ns, r.PathValue("table"))
	if err != nil {
		return &notFoundAs{"NoSuchTableException", err}
	}
	sum := sha256.Sum256([]byte(t.Location))
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	w.Header().Set("ETag", etag)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	writeJSON(w, 200, struct {
		Location string            `json:"metadata-location"`
		Metadata json.RawMessage   `json:"metadata"`
		Config   map[string]string `json:"config"`
	}{t.Location, t.Metadata, map[string]string{}})
	return nil
}
