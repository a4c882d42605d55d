package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/awspolicy"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/source"
	s3src "github.com/trawlhq/trawl/internal/source/s3"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
	"github.com/trawlhq/trawl/internal/testutil/stsserver"
)

const orgID = "o-abc123defg"

// orgTrail writes an Organization trail for two accounts, plus objects
// the connector must not be able to read: another service of the same
// account, a sibling account-like folder, and an unrelated folder.
func orgTrail(t *testing.T, srv *s3server.Server, bucketName string) (want int, outside []string) {
	t.Helper()
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 21, OrgID: orgID, Accounts: []string{"111111111111", "222222222222"}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-3 * time.Hour), Span: 2 * time.Hour, Objects: 2, RecordsPerObj: 40})
	for _, o := range objs {
		want += o.Records
	}
	body := objs[0].Body
	outside = []string{
		"private/finance/2026/report.json.gz",
		"AWSLogs/" + orgID + "/111111111111/Config/us-east-1/2026/01/01/config.json.gz",
		"AWSLogs/" + orgID + "/1111111111112/CloudTrail/us-east-1/2026/01/01/x.json.gz",
	}
	for _, k := range outside {
		objs = append(objs, gen.Object{Key: k, Body: body})
	}
	srv.Fill(t, bucketName, objs)
	return want, outside
}

// bucketPolicy turns the generated permissions into a bucket policy for a
// versitygw user (its principals are access keys), leaving out the KMS
// statement (versitygw has no KMS) and the statement named drop.
func bucketPolicy(t *testing.T, perms awspolicy.Document, user, drop string) string {
	t.Helper()
	var out awspolicy.Document
	out.Version = perms.Version
	for _, s := range perms.Statement {
		if s.Sid == awspolicy.SidDecrypt || s.Sid == awspolicy.SidKeys || s.Sid == drop {
			// Not S3 actions: a bucket policy cannot hold them.
			continue
		}
		s.Principal = map[string]string{"AWS": user}
		out.Statement = append(out.Statement, s)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testJSON(t *testing.T, data, name string) app.ConnectionCheck {
	t.Helper()
	r := trawl(t, data, nil, "connector", "test", name, "--json")
	var res app.ConnectionCheck
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("connector test --json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	return res
}

// failed returns the first failed check, in the result or an account.
func failed(res app.ConnectionCheck) *app.Check {
	for _, c := range res.Checks {
		if !c.OK && !c.Skipped {
			return &c
		}
	}
	for _, a := range res.Accounts {
		for _, c := range a.Checks {
			if !c.OK && !c.Skipped {
				return &c
			}
		}
	}
	return nil
}

// TestLeastPrivilegePolicy: the policy `trawl connector policy` writes for
// an Organization trail read with "*" for the account is installed, as a
// bucket policy for a limited versitygw user, on a real policy evaluator.
// The connector then tests and collects everything with that user's keys;
// the same keys are refused outside the prefix; and removing each
// statement makes the connection test fail naming that permission and the
// exact statement to add.
func TestLeastPrivilegePolicy(t *testing.T) {
	srv := s3server.Start(t)
	ctx := context.Background()
	want, outside := orgTrail(t, srv, "org-trail")
	srv.CreateUser(ctx, t, "trawlreader", "trawlreadersecret0001")
	data := t.TempDir()
	sf := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(sf, []byte("trawlreadersecret0001"), 0o600)
	mustTrawl(t, data, "connector", "add", "--name", "org", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "org-trail",
		"--prefix", "AWSLogs/"+orgID+"/*/CloudTrail", "--access-key-id", "trawlreader", "--secret-access-key-file", sf,
		"--endpoint", srv.Endpoint, "--path-style", "--start", "-72h")

	var perms awspolicy.Document
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "connector", "policy", "org", "--part", "permissions")), &perms); err != nil {
		t.Fatal(err)
	}
	if res := testJSON(t, data, "org"); res.OK {
		t.Fatalf("before any policy the limited user passed the test: %+v", res)
	}
	srv.SetBucketPolicy(t, "org-trail", bucketPolicy(t, perms, "trawlreader", ""))
	if res := testJSON(t, data, "org"); !res.OK {
		t.Fatalf("with the generated policy the test failed: %s %+v", res.Summary, failed(res))
	}
	out := mustTrawl(t, data, "collect", "--once")
	if row := collectRow(t, out, "org"); row["RECORDS"] != itoa(want) {
		t.Fatalf("collected %v, want %d records", row, want)
	}
	if n := count(t, data, "msg_class:cloudtrail"); n != want {
		t.Fatalf("lake holds %d, want %d", n, want)
	}

	// Minimal: the same keys are refused outside what the connector reads.
	user, err := s3src.New(ctx, s3src.Config{Bucket: "org-trail", Endpoint: srv.Endpoint, PathStyle: true, AccessKeyID: "trawlreader", SecretAccessKey: "trawlreadersecret0001", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "private/", "AWSLogs/" + orgID + "/111111111111/Config/", "AWSLogs/" + orgID + "/1111111111112/CloudTrail/"} {
		if _, err := user.FirstPage(ctx, p, 5); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("listing %q outside the prefix: %v, want 403", p, err)
		}
	}
	for _, k := range outside {
		rc, err := user.Open(ctx, source.Object{Key: k})
		if err == nil {
			rc.Close()
			t.Errorf("reading %s outside the prefix was allowed", k)
		} else if !strings.Contains(err.Error(), "403") {
			t.Errorf("reading %s: %v, want 403", k, err)
		}
	}

	// Each statement removed: the test fails at its check, naming the
	// permission and the statement to add.
	for _, c := range []struct{ sid, check, action string }{
		{awspolicy.SidList, "list", "s3:ListBucket"},
		{awspolicy.SidRead, "read", "s3:GetObject"},
	} {
		srv.SetBucketPolicy(t, "org-trail", bucketPolicy(t, perms, "trawlreader", c.sid))
		res := testJSON(t, data, "org")
		f := failed(res)
		if res.OK || f == nil {
			t.Errorf("without %s the test passed", c.sid)
			continue
		}
		var stmt awspolicy.Statement
		for _, s := range perms.Statement {
			if s.Sid == c.sid {
				stmt = s
			}
		}
		sj, _ := json.Marshal(stmt)
		if f.Name != c.check || f.Status != 403 || !strings.Contains(f.Recommendation, c.action) || !strings.Contains(f.Recommendation, string(sj)) {
			t.Errorf("without %s: failed check %+v; want %s 403 recommending %s", c.sid, f, c.check, sj)
		}
	}
}

// TestAssumeRoleWithExternalID: a role connector assumes its role through
// an STS stand-in that checks the action, role ARN, external ID and SigV4
// signature of the source keys, then reads versitygw with the session
// credentials (the source keys are not a versitygw user, so only the
// session's keys can succeed). versitygw answers InvalidToken to a session
// token it did not issue, so the stand-in hands out a versitygw user's keys
// with an empty session token; every check of the STS request stands. A wrong external ID fails the test's
// credentials check with 403 and the trust-policy advice.
func TestAssumeRoleWithExternalID(t *testing.T) {
	srv := s3server.Start(t)
	ctx := context.Background()
	objs, ids := trailObjects(2, 1, 30)
	want := len(ids)
	srv.CreateUserRole(ctx, t, "sessionkey01", "sessionsecret0001", "userplus")
	srv.FillAs(t, "sessionkey01", "sessionsecret0001", "role-logs", objs)
	data := t.TempDir()
	extID := strings.TrimSpace(mustTrawl(t, data, "connector", "external-id", "--tenant", "acme"))
	if !strings.HasPrefix(extID, "trawl-") || len(extID) < 30 {
		t.Fatalf("generated external ID %q", extID)
	}
	if again := strings.TrimSpace(mustTrawl(t, data, "connector", "external-id", "--tenant", "acme")); again != extID {
		t.Fatalf("external ID changed: %s then %s", extID, again)
	}
	const roleARN = "arn:aws:iam::123456789012:role/TrawlLogReader"
	sts := stsserver.Start(t, stsserver.Role{ARN: roleARN, ExternalID: extID, SourceAccess: "AKIASOURCEKEY0000001", SourceSecret: "sourcesecret",
		SessionAccess: "sessionkey01", SessionSecret: "sessionsecret0001"})
	sf := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(sf, []byte("sourcesecret"), 0o600)
	out := mustTrawl(t, data, "connector", "add", "--name", "viarole", "--tenant", "acme", "--subtype", "cloudtrail", "--bucket", "role-logs",
		"--prefix", "AWSLogs/"+acct+"/CloudTrail", "--credentials", "role", "--role-arn", roleARN, "--access-key-id", "AKIASOURCEKEY0000001",
		"--secret-access-key-file", sf, "--sts-endpoint", sts.URL, "--endpoint", srv.Endpoint, "--path-style", "--start", "-72h")
	if !strings.Contains(out, extID) {
		t.Errorf("connector add does not show the external ID:\n%s", out)
	}
	var pol awspolicy.Policies
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "connector", "policy", "viarole", "--principal", "arn:aws:iam::111122223333:user/trawl")), &pol); err != nil {
		t.Fatal(err)
	}
	if pol.Trust == nil || pol.Trust.Statement[0].Condition["StringEquals"]["sts:ExternalId"][0] != extID || pol.Trust.Statement[0].Principal["AWS"] != "arn:aws:iam::111122223333:user/trawl" {
		t.Errorf("trust policy: %+v", pol.Trust)
	}
	if res := testJSON(t, data, "viarole"); !res.OK {
		t.Fatalf("test through the role: %s %+v", res.Summary, failed(res))
	}
	row := collectRow(t, mustTrawl(t, data, "collect", "--once"), "viarole")
	if row["RECORDS"] != itoa(want) {
		t.Fatalf("collected %v, want %d", row, want)
	}
	reqs := sts.Requests()
	if len(reqs) == 0 {
		t.Fatal("STS was never called")
	}
	for _, r := range reqs {
		if r.Denied != "" || !r.SignatureOK || r.Action != "AssumeRole" || r.RoleARN != roleARN || r.ExternalID != extID || r.SessionName != "trawl-viarole" {
			t.Errorf("STS request %+v", r)
		}
	}

	// A wrong external ID: STS refuses, and the test says why.
	mustTrawl(t, data, "connector", "edit", "viarole", "--external-id", "not-the-right-one")
	res := testJSON(t, data, "viarole")
	f := failed(res)
	if res.OK || f == nil || f.Name != "credentials" || f.Status != 403 || !strings.Contains(f.Recommendation, "trust policy") {
		t.Errorf("wrong external ID: %+v", f)
	}
	// Wrong source keys: STS rejects the signature.
	os.WriteFile(sf, []byte("wrongsecret"), 0o600)
	mustTrawl(t, data, "connector", "edit", "viarole", "--external-id", extID, "--secret-access-key-file", sf)
	res = testJSON(t, data, "viarole")
	if f := failed(res); res.OK || f == nil || f.Name != "credentials" || f.Status != 401 {
		t.Errorf("wrong source secret: %+v", f)
	}
}

// TestExternalIDsBelongToOneTenant: through the API, a tenant cannot read
// another tenant's external ID, cannot take it for its own role, and
// cannot send a role assumed with the server's identity to its own STS.
func TestExternalIDsBelongToOneTenant(t *testing.T) {
	data := t.TempDir()
	s := serveAPI(t, data)
	acme, evil := s.token("acme"), s.token("evil")
	code, r := s.call(acme, "GET", "/api/v1/external-id", nil)
	if code != 200 || r["external_id"] == "" {
		t.Fatalf("own external ID: %d %v", code, r)
	}
	acmeID := r["external_id"].(string)
	if code, r := s.call(evil, "GET", "/api/v1/external-id?tenant=acme", nil); code != 404 || strings.Contains(jsonString(r), acmeID) {
		t.Errorf("evil read acme's external ID: %d %v", code, r)
	}
	base := map[string]any{"name": "r", "sub_type": "cloudtrail", "bucket": "logs", "prefix": "AWSLogs/123456789012/CloudTrail",
		"credentials": "role", "role_arn": "arn:aws:iam::123456789012:role/Victim"}
	steal := copyMap(base)
	steal["external_id"] = acmeID
	if code, r := s.call(evil, "POST", "/api/v1/connectors", steal); code != 400 || !strings.Contains(jsonString(r), "external_id") {
		t.Errorf("evil claimed acme's external ID: %d %v", code, r)
	}
	own := copyMap(base)
	own["name"] = "mine"
	code, r = s.call(evil, "POST", "/api/v1/connectors", own)
	if code != 201 || r["external_id"] == "" || r["external_id"] == acmeID {
		t.Errorf("evil's own role connector: %d %v", code, r)
	}
	private := copyMap(base)
	private["name"] = "sts"
	private["sts_endpoint"] = "http://127.0.0.1:9/"
	if code, r := s.call(evil, "POST", "/api/v1/connectors", private); code != 403 {
		t.Errorf("role from the server's identity through a tenant's STS endpoint: %d %v", code, r)
	}
	// acme's custom ID is acme's for good: evil cannot take it either.
	mine := copyMap(base)
	mine["name"] = "custom"
	mine["external_id"] = "acme-chosen-id-0001"
	if code, r := s.call(acme, "POST", "/api/v1/connectors", mine); code != 201 {
		t.Fatalf("acme custom external ID: %d %v", code, r)
	}
	mine["name"] = "custom2"
	if code, _ := s.call(evil, "POST", "/api/v1/connectors", mine); code != 400 {
		t.Errorf("evil took acme's chosen external ID: %d", code)
	}
}

func copyMap(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
