// Package stsserver is a loopback stand-in for AWS STS in tests, where no
// real STS can run: it answers AssumeRole with the XML response AWS
// documents (API Reference, AssumeRole, "Response Elements" and its
// example) and checks each request as STS would: the action, the role ARN,
// the external ID, and a SigV4 signature made with the source keys (it
// recomputes the signature with the SDK's signer and compares). The session
// credentials it hands out are whatever the test chooses, e.g. a versitygw
// user, so the caller's next step is checked by a real S3 server.
package stsserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Role is what the server expects and hands out.
type Role struct {
	ARN        string
	ExternalID string
	// SourceAccess and SourceSecret are the keys a caller must sign with.
	SourceAccess, SourceSecret string
	// Session credentials returned on success.
	SessionAccess, SessionSecret, SessionToken string
	Duration                                   time.Duration
}

// Request is one AssumeRole call as the server saw it.
type Request struct {
	Action, RoleARN, ExternalID, SessionName string
	SignatureOK                              bool
	Denied                                   string // why it was refused, "" when granted
}

// Server is a running fake STS.
type Server struct {
	URL  string
	role Role
	mu   sync.Mutex
	reqs []Request
	srv  *http.Server
}

// Start serves on 127.0.0.1 until the test ends.
func Start(t testing.TB, role Role) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if role.Duration == 0 {
		role.Duration = time.Hour
	}
	s := &Server{URL: "http://" + ln.Addr().String(), role: role}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// SetExternalID changes the external ID the role's trust policy requires,
// as creating the role with a trust policy does (the README test learns
// it from the policy the walkthrough generates).
func (s *Server) SetExternalID(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.role.ExternalID = id
}

// Requests returns the AssumeRole calls seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	form, _ := url.ParseQuery(string(body))
	req := Request{Action: form.Get("Action"), RoleARN: form.Get("RoleArn"), ExternalID: form.Get("ExternalId"), SessionName: form.Get("RoleSessionName")}
	req.SignatureOK = s.verify(r, body)
	switch {
	case !req.SignatureOK:
		req.Denied = "SignatureDoesNotMatch"
	case req.Action != "AssumeRole":
		req.Denied = "InvalidAction"
	}
	s.mu.Lock()
	if req.Denied == "" && (req.RoleARN != s.role.ARN || req.ExternalID != s.role.ExternalID) {
		req.Denied = "AccessDenied"
	}
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	switch req.Denied {
	case "":
		exp := time.Now().UTC().Add(s.role.Duration).Format(time.RFC3339)
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <Arn>%s</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:%s</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>%s</AccessKeyId>
      <SecretAccessKey>%s</SecretAccessKey>
      <SessionToken>%s</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>`, strings.Replace(s.role.ARN, ":iam::", ":sts::", 1)+"/"+req.SessionName, req.SessionName,
			s.role.SessionAccess, s.role.SessionSecret, s.role.SessionToken, exp)
	case "SignatureDoesNotMatch":
		w.WriteHeader(403)
		fmt.Fprint(w, errorXML("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."))
	case "InvalidAction":
		w.WriteHeader(400)
		fmt.Fprint(w, errorXML("InvalidAction", "Could not find operation "+req.Action))
	default:
		w.WriteHeader(403)
		fmt.Fprint(w, errorXML("AccessDenied", "User: arn:aws:iam::111122223333:user/trawl is not authorized to perform: sts:AssumeRole on resource: "+req.RoleARN))
	}
}

func errorXML(code, msg string) string {
	return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>` + code +
		`</Code><Message>` + msg + `</Message></Error><RequestId>9a4b3e9f-example</RequestId></ErrorResponse>`
}

// verify recomputes the SigV4 signature over the headers the caller signed,
// with the source keys, and compares it to the caller's.
func (s *Server) verify(r *http.Request, body []byte) bool {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return false
	}
	parts := map[string]string{}
	for _, p := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		parts[k] = v
	}
	cred := strings.Split(parts["Credential"], "/") // AKID/date/region/service/aws4_request
	if len(cred) != 5 || cred[0] != s.role.SourceAccess || cred[3] != "sts" {
		return false
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	re, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), strings.NewReader(string(body)))
	re.Host = r.Host
	for _, h := range strings.Split(parts["SignedHeaders"], ";") {
		if h != "host" {
			re.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.role.SourceAccess, SecretAccessKey: s.role.SourceSecret},
		re, hex.EncodeToString(sum[:]), "sts", cred[2], when)
	return err == nil && re.Header.Get("Authorization") == auth
}
