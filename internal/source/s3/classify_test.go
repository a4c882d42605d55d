package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/trawlhq/trawl/internal/source"
)

// recorded S3 error responses, replayed by an in-process server (versitygw
// has no KMS, so the SSE-KMS denial is tested here).
var recorded = map[string]struct {
	status int
	body   string
}{
	"kms":      {403, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/trawl is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:123456789012:key/1234abcd because no identity-based policy allows the kms:Decrypt action</Message><RequestId>R</RequestId></Error>`},
	"skew":     {403, `<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>`},
	"redirect": {301, `<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message></Error>`},
	"nobucket": {404, `<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>`},
	"slowdown": {503, `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`},
	"badkey":   {403, `<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`},
	"denied":   {403, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`},
}

func replay(t *testing.T, name string) *Bucket {
	t.Helper()
	rec := recorded[name]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(rec.status)
		fmt.Fprint(w, rec.body)
	}))
	t.Cleanup(srv.Close)
	b, err := New(context.Background(), Config{Bucket: "logs", Endpoint: srv.URL, AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClassifyRecordedErrors(t *testing.T) {
	cases := []struct {
		name, op string
		status   int
		text     string
	}{
		{"kms", "get", 403, "SSE-KMS"},
		{"skew", "list", 401, "clock"},
		{"redirect", "list", 400, "different region"},
		{"nobucket", "list", 404, "bucket does not exist"},
		{"slowdown", "list", 429, "throttling"},
		{"badkey", "list", 401, "access key ID does not exist"},
		{"denied", "list", 403, "s3:ListBucket"},
		{"denied", "get", 403, "s3:GetObject"},
	}
	for _, c := range cases {
		t.Run(c.name+"-"+c.op, func(t *testing.T) {
			b := replay(t, c.name)
			var err error
			if c.op == "get" {
				_, err = b.Open(context.Background(), source.Object{Key: "AWSLogs/x.json.gz"})
			} else {
				err = b.List(context.Background(), "AWSLogs/", "", func(source.Object) error { return nil })
			}
			var se *source.Error
			if !errors.As(err, &se) {
				t.Fatalf("not classified: %v", err)
			}
			if se.Status != c.status || !strings.Contains(se.Explanation+se.Recommendation, c.text) {
				t.Errorf("got %d %q / %q, want %d mentioning %q", se.Status, se.Explanation, se.Recommendation, c.status, c.text)
			}
			if c.name == "kms" && !strings.Contains(se.Recommendation, "kms:Decrypt") {
				t.Errorf("KMS recommendation: %q", se.Recommendation)
			}
		})
	}
}

func TestClassifyNetwork(t *testing.T) {
	b, _ := New(context.Background(), Config{Bucket: "logs", Endpoint: "http://127.0.0.1:1", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s", MaxAttempts: 1})
	err := b.Probe(context.Background())
	var se *source.Error
	if !errors.As(err, &se) || se.Status != 503 {
		t.Errorf("refused connection: %v", err)
	}
	b, _ = New(context.Background(), Config{Bucket: "logs", Endpoint: "http://no-such-host.invalid", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s", MaxAttempts: 1})
	err = b.Probe(context.Background())
	if !errors.As(err, &se) || se.Status != 400 || !strings.Contains(se.Explanation, "does not resolve") {
		t.Errorf("DNS failure: %v", err)
	}
}
