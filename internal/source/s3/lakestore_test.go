package s3

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestEnsureCreatesTheBucketInItsRegion: a lake bucket that does not exist
// (HEAD 404) is created with one PUT, with a location constraint naming
// the lake's region, except in us-east-1, where S3 refuses one; a bucket
// that exists is left alone.
func TestEnsureCreatesTheBucketInItsRegion(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE000000001")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	for _, tc := range []struct {
		region string
		exists bool
		want   string // the PUT's body holds it; "-": no PUT
	}{
		{"eu-west-1", false, "<LocationConstraint>eu-west-1</LocationConstraint>"},
		{"us-east-1", false, ""},
		{"eu-west-1", true, "-"},
	} {
		var mu sync.Mutex
		put := "-"
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodHead && tc.exists:
				w.WriteHeader(200)
			case r.Method == http.MethodHead:
				w.WriteHeader(404)
			case r.Method == http.MethodPut && r.URL.Path == "/trawl-lake":
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				put = string(b)
				mu.Unlock()
				w.WriteHeader(200)
			default:
				w.WriteHeader(400)
			}
		}))
		st, err := NewLakeStore(context.Background(), LakeConfig{Location: "s3://trawl-lake/segments", Endpoint: srv.URL, PathStyle: true, Region: tc.region})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Ensure(context.Background()); err != nil {
			t.Errorf("%s (exists %v): %v", tc.region, tc.exists, err)
		}
		srv.Close()
		mu.Lock()
		switch {
		case tc.want == "-" && put != "-":
			t.Errorf("%s: an existing bucket was created again (%q)", tc.region, put)
		case tc.want == "" && (put == "-" || strings.Contains(put, "LocationConstraint")), tc.want != "" && tc.want != "-" && !strings.Contains(put, tc.want):
			t.Errorf("%s: CreateBucket sent %q, want %q", tc.region, put, tc.want)
		}
		mu.Unlock()
	}
}
