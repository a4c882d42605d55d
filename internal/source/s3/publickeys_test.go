package s3_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	s3src "github.com/trawlhq/trawl/internal/source/s3"
)

// TestPublicKeysListPublicKeys: CloudTrail has no test server, so this
// answers ListPublicKeys as AWS documents the response (awsJson1_1, a
// PublicKeyList of base64 DER, fingerprints and validity times, paged by
// NextToken) and checks the request: the operation's target header, a
// SigV4 signature for cloudtrail in the digest's region with the
// connector's key, and the time range.
func TestPublicKeysListPublicKeys(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	var mu sync.Mutex
	var reqs []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in map[string]any
		json.Unmarshal(body, &in)
		mu.Lock()
		reqs = append(reqs, in)
		mu.Unlock()
		if got := r.Header.Get("X-Amz-Target"); !strings.HasSuffix(got, "CloudTrail_20131101.ListPublicKeys") {
			http.Error(w, "target "+got, 400)
			return
		}
		if a := r.Header.Get("Authorization"); !strings.Contains(a, "Credential=AKIAKEYS00000000001/") || !strings.Contains(a, "/eu-west-1/cloudtrail/aws4_request") {
			http.Error(w, "authorization "+a, 403)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		key, fp, next := k1, "8EBA5DB5BEA9B640D1C96A77256FE7F2", `,"NextToken":"page2"`
		if in["NextToken"] == "page2" {
			key, fp, next = k2, "31e8b5433410dfb61a9dc45cc65b22ff", ""
		}
		fmt.Fprintf(w, `{"PublicKeyList":[{"Fingerprint":%q,"ValidityEndTime":1.438909441E9,"ValidityStartTime":1.436317441E9,"Value":%q}]%s}`,
			fp, base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&key.PublicKey)), next)
	}))
	defer srv.Close()
	b, err := s3src.New(context.Background(), s3src.Config{Bucket: "trail", Region: "us-east-1", AccessKeyID: "AKIAKEYS00000000001",
		SecretAccessKey: "secret", CloudTrailEndpoint: srv.URL, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2015, 7, 8, 0, 0, 0, 0, time.UTC)
	keys, err := b.PublicKeys(context.Background(), "eu-west-1", from, from.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys["8eba5db5bea9b640d1c96a77256fe7f2"] == nil || keys["31e8b5433410dfb61a9dc45cc65b22ff"] == nil {
		t.Fatalf("keys by fingerprint: %v", keys)
	}
	if k, err := x509.ParsePKCS1PublicKey(keys["31e8b5433410dfb61a9dc45cc65b22ff"]); err != nil || !k.Equal(&k2.PublicKey) {
		t.Fatalf("second page's key: %v", err)
	}
	if len(reqs) != 2 || reqs[0]["StartTime"] != float64(from.Unix()) || reqs[0]["EndTime"] != float64(from.Add(2*time.Hour).Unix()) {
		t.Errorf("requests %v", reqs)
	}
	// A refusal says CloudTrail answered, with its code, and what to grant.
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(400)
		fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"User is not authorized to perform: cloudtrail:ListPublicKeys"}`)
	}))
	defer denied.Close()
	b2, _ := s3src.New(context.Background(), s3src.Config{Bucket: "trail", AccessKeyID: "AKIAKEYS00000000001", SecretAccessKey: "secret",
		CloudTrailEndpoint: denied.URL, MaxAttempts: 1})
	_, err = b2.PublicKeys(context.Background(), "eu-west-1", from, from.Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "CloudTrail answered 400 AccessDeniedException") || !strings.Contains(err.Error(), "cloudtrail:ListPublicKeys") || strings.Contains(err.Error(), "S3") {
		t.Errorf("a refused ListPublicKeys: %v", err)
	}
}
