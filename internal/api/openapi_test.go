package api

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestOpenAPICoversEveryRoute: each route the server registers under
// /api/v1 is documented, with its method, in openapi.json.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	src, err := os.ReadFile("api.go")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	routes := regexp.MustCompile(`h\("(GET|POST|PUT|DELETE|PATCH) (/api/v1/[^"]*)"`).FindAllStringSubmatch(string(src), -1)
	if len(routes) < 30 {
		t.Fatalf("found only %d routes in api.go: the pattern no longer matches how routes are registered", len(routes))
	}
	for _, r := range routes {
		method, path := strings.ToLower(r[1]), r[2]
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("%s %s is not in openapi.json", r[1], path)
		}
	}
}
