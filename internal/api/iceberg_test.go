package api

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestIcebergListsPage: the REST catalog's list namespaces and list
// tables page as the spec's pageToken and pageSize ask, for root and for
// a tenant's token: listed page by page (each page at most pageSize
// names, a next-page-token only while names remain), the pages give
// exactly the full sorted list, with no repeat; no pageSize (or an empty
// pageToken alone) answers every name at once; a pageSize that is not a
// whole number of 1 or more, or a token not of the listing, is the
// spec's 400 BadRequestException saying what is expected.
func TestIcebergListsPage(t *testing.T) {
	s := newTestServer(t)
	tenants := []string{"echo", "acme", "delta", "beta", "golf", "foxtrot", "charlie"}
	tokens := map[string]string{}
	for _, tn := range tenants {
		tokens[tn] = s.token(tn)
	}
	s.publishTables("acme")
	sorted := slices.Sorted(slices.Values(tenants))

	for _, size := range []int{1, 2, 3, 7, 50} {
		if got := s.listAll(s.root, "/iceberg/v1/namespaces", "namespaces", size); !slices.Equal(got, sorted) {
			t.Errorf("root's namespaces %d a page: %v, want %v", size, got, sorted)
		}
		if got := s.listAll(s.root, "/iceberg/v1/namespaces/acme/tables", "identifiers", size); !slices.Equal(got, []string{"aws_events", "traffic"}) {
			t.Errorf("root's acme tables %d a page: %v", size, got)
		}
		if got := s.listAll(tokens["acme"], "/iceberg/v1/namespaces/acme/tables", "identifiers", size); !slices.Equal(got, []string{"aws_events", "traffic"}) {
			t.Errorf("acme's tables %d a page: %v", size, got)
		}
		if got := s.listAll(tokens["beta"], "/iceberg/v1/namespaces", "namespaces", size); !slices.Equal(got, []string{"beta"}) {
			t.Errorf("beta's namespaces %d a page: %v", size, got)
		}
	}
	// Unpaged (as before, and as the spec asks without a pageToken), and
	// an empty pageToken without pageSize: every name, next-page-token null.
	for _, q := range []string{"", "?pageToken="} {
		code, body := s.call(s.root, "GET", "/iceberg/v1/namespaces"+q, nil)
		if got := names(body, "namespaces"); code != 200 || !slices.Equal(got, sorted) || body["next-page-token"] != nil {
			t.Errorf("namespaces%s: %d %v", q, code, body)
		}
	}
	// A tenant's token pages over its own namespace only: another's
	// tables stay 404, paged or not.
	if code, body := s.call(tokens["beta"], "GET", "/iceberg/v1/namespaces/acme/tables?pageSize=1", nil); code != 404 {
		t.Errorf("beta pages acme's tables: %d %v", code, body)
	}

	for _, q := range []string{"pageSize=0", "pageSize=-2", "pageSize=two", "pageSize=", "pageSize=1.5", "pageToken=%21%21", "pageToken=" + url.QueryEscape("YWNtZQ==")} {
		for _, path := range []string{"/iceberg/v1/namespaces?", "/iceberg/v1/namespaces/acme/tables?"} {
			code, body := s.call(tokens["acme"], "GET", path+q, nil)
			e, _ := body["error"].(map[string]any)
			msg, _ := e["message"].(string)
			param, _, _ := strings.Cut(q, "=")
			if code != 400 || e["type"] != "BadRequestException" || e["code"] != float64(400) || !strings.Contains(msg, param) {
				t.Errorf("%s%s: %d %v", path, q, code, body)
			}
		}
	}
	if _, body := s.call(s.root, "GET", "/iceberg/v1/namespaces?pageSize=0", nil); !strings.Contains(fmt.Sprint(body), "1 or more") {
		t.Errorf("pageSize=0 does not say what is expected: %v", body)
	}
	// A token belongs to its listing (from an outside try: a namespaces
	// token resumed a listing of tables, and any base64 text was taken as
	// a token): a token of another listing, or made up, is a 400.
	_, first := s.call(s.root, "GET", "/iceberg/v1/namespaces?pageSize=2", nil)
	nsTok, _ := first["next-page-token"].(string)
	_, tables := s.call(s.root, "GET", "/iceberg/v1/namespaces/acme/tables?pageSize=1", nil)
	tbTok, _ := tables["next-page-token"].(string)
	if nsTok == "" || tbTok == "" {
		t.Fatalf("no tokens: %v %v", first, tables)
	}
	for path, tok := range map[string]string{
		"/iceberg/v1/namespaces/acme/tables":  nsTok,
		"/iceberg/v1/namespaces/beta/tables":  tbTok,
		"/iceberg/v1/namespaces":              tbTok,
		"/iceberg/v1/namespaces/acme/tables?": "YWNtZQ", // base64url of "acme"
	} {
		if code, body := s.call(s.root, "GET", strings.TrimSuffix(path, "?")+"?pageSize=1&pageToken="+tok, nil); code != 400 {
			t.Errorf("%s with token %s: %d %v, want 400", path, tok, code, body)
		}
	}
	// A page size past any count is every name.
	if code, body := s.call(s.root, "GET", "/iceberg/v1/namespaces?pageSize=99999999999999999999", nil); code != 200 || len(names(body, "namespaces")) != len(tenants) {
		t.Errorf("a huge pageSize: %d %v, want every namespace", code, body)
	}
}

// listAll lists path page by page, size names a page, and returns every
// name listed; each page is checked for its size and its token.
func (s *testServer) listAll(tok, path, key string, size int) []string {
	s.t.Helper()
	var all []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			s.t.Fatalf("%s: more than 20 pages: %v", path, all)
		}
		code, body := s.call(tok, "GET", fmt.Sprintf("%s?pageSize=%d&pageToken=%s", path, size, url.QueryEscape(token)), nil)
		if code != 200 {
			s.t.Fatalf("%s page %d: %d %v", path, pages, code, body)
		}
		page := names(body, key)
		if len(page) > size || len(page) == 0 {
			s.t.Errorf("%s page %d of at most %d: %v", path, pages, size, page)
		}
		for _, n := range page {
			if slices.Contains(all, n) {
				s.t.Errorf("%s: %s listed twice", path, n)
			}
		}
		all = append(all, page...)
		next, ok := body["next-page-token"].(string)
		if body["next-page-token"] == nil {
			return all
		}
		if !ok || next == "" {
			s.t.Fatalf("%s page %d: next-page-token %v", path, pages, body["next-page-token"])
		}
		token = next
	}
}

// names reads a list answer: namespaces (one level each) or table names.
func names(body map[string]any, key string) []string {
	var out []string
	list, _ := body[key].([]any)
	for _, v := range list {
		switch v := v.(type) {
		case []any:
			out = append(out, fmt.Sprint(v...))
		case map[string]any:
			out = append(out, fmt.Sprint(v["name"]))
		}
	}
	return out
}
