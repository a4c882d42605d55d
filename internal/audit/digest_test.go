package audit

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// digestJSON is a digest written here by hand, field by field, as AWS
// documents the structure (not through the package's types).
func digestJSON(prevSig string) []byte {
	prev := `"previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null`
	if prevSig != "" {
		prev = `"previousDigestS3Bucket":"audit-bucket","previousDigestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/02/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20260102T090000Z.json.gz",` +
			`"previousDigestHashValue":"97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"` + prevSig + `"`
	}
	return []byte(`{"awsAccountId":"111122223333","digestStartTime":"2026-01-02T09:00:00Z","digestEndTime":"2026-01-02T10:00:00Z",` +
		`"digestS3Bucket":"audit-bucket","digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/02/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20260102T100000Z.json.gz",` +
		`"digestPublicKeyFingerprint":"8eba5db5bea9b640d1c96a77256fe7f2","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,` +
		prev + `,"logFiles":[{"s3Bucket":"audit-bucket","s3Object":"AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/02/a.json.gz","hashValue":"aa","hashAlgorithm":"SHA-256"}]}`)
}

// TestSignatureVerifiesAgainstOpenSSL: a digest signed by openssl (an
// independent SHA256withRSA implementation) over the string to sign that
// AWS documents verifies; a changed digest, a changed previous signature
// and another key do not.
func TestSignatureVerifiesAgainstOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("!!! openssl is missing (scripts/test.sh installs Debian's): the independent signature check is SKIPPED")
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	if out, err := exec.Command(openssl, "genrsa", "-out", keyFile, "2048").CombinedOutput(); err != nil {
		t.Fatalf("openssl genrsa: %v\n%s", err, out)
	}
	pubDER, err := exec.Command(openssl, "rsa", "-in", keyFile, "-RSAPublicKey_out", "-outform", "DER").Output()
	if err != nil {
		t.Fatalf("openssl rsa: %v", err)
	}
	key, err := ParsePublicKey(pubDER)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(content []byte, prev string) string {
		sum := sha256.Sum256(content)
		if prev == "" {
			prev = "null"
		}
		toSign := "2026-01-02T10:00:00Z\naudit-bucket/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/02/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20260102T100000Z.json.gz\n" +
			hex.EncodeToString(sum[:]) + "\n" + prev
		in := filepath.Join(dir, "tosign")
		os.WriteFile(in, []byte(toSign), 0o600)
		sig, err := exec.Command(openssl, "dgst", "-sha256", "-sign", keyFile, in).Output()
		if err != nil {
			t.Fatalf("openssl dgst: %v", err)
		}
		return hex.EncodeToString(sig)
	}
	for _, prev := range []string{"", "6e8540b83c3ac86a0312d971a225361d"} {
		content := digestJSON(prev)
		d, err := ParseDigest(content)
		if err != nil {
			t.Fatal(err)
		}
		if d.Starting() != (prev == "") {
			t.Fatalf("starting digest: %v", d.Starting())
		}
		sig := sign(content, prev)
		if err := d.Verify(sig, key); err != nil {
			t.Fatalf("previous signature %q: openssl's signature does not verify: %v\nstring to sign:\n%s", prev, err, d.StringToSign())
		}
		altered, _ := ParseDigest([]byte(strings.Replace(string(content), `"hashValue":"aa"`, `"hashValue":"ab"`, 1)))
		if altered.Verify(sig, key) == nil {
			t.Error("a digest with a changed file hash verifies")
		}
	}
	// A signature over another previous signature does not verify.
	content := digestJSON("aa")
	d, _ := ParseDigest(content)
	if d.Verify(sign(content, "bb"), key) == nil {
		t.Error("a signature over another chain link verifies")
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	if d.Verify(sign(content, "aa"), &other.PublicKey) == nil {
		t.Error("another key verifies the signature")
	}
	if d.Verify("not hex", key) == nil {
		t.Error("a signature that is not hex verifies")
	}
}

// TestParseKeys: the shape aws cloudtrail list-public-keys prints, with a
// PKCS #1 key (as AWS documents) and an X.509 one (as AWS's own sample
// also holds); errors name the entry.
func TestParseKeys(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	spki, _ := x509.MarshalPKIXPublicKey(&k2.PublicKey)
	data := fmt.Sprintf(`{"PublicKeyList":[{"Value":%q,"ValidityStartTime":"2026-01-01T00:00:00+00:00","ValidityEndTime":"2026-02-01T00:00:00+00:00","Fingerprint":"AA11"},
		{"Value":%q,"ValidityStartTime":1436317441.0,"ValidityEndTime":1438909441.0,"Fingerprint":"bb22"}]}`,
		base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&k1.PublicKey)), base64.StdEncoding.EncodeToString(spki))
	ks, err := ParseKeys([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if ks["aa11"] == nil || !ks["aa11"].Equal(&k1.PublicKey) || ks["bb22"] == nil || !ks["bb22"].Equal(&k2.PublicKey) {
		t.Fatalf("keys %v", ks)
	}
	if _, err := ks.PublicKey(t.Context(), "us-east-1", "AA11", time.Time{}); err != nil {
		t.Errorf("fingerprints match case-insensitively: %v", err)
	}
	if _, err := ks.PublicKey(t.Context(), "us-east-1", "cc33", time.Time{}); err == nil || !strings.Contains(err.Error(), "--public-keys") {
		t.Errorf("an unknown fingerprint: %v", err)
	}
	for _, bad := range []string{`{}`, `{"PublicKeyList":[{"Value":"%%%","Fingerprint":"x"}]}`, `{"PublicKeyList":[{"Value":"AAAA","Fingerprint":"x"}]}`, `not json`} {
		if _, err := ParseKeys([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	pemOnly := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	if _, err := ParsePublicKey(pemOnly); err == nil {
		t.Error("PEM text taken for DER")
	}
}

// TestDigestCorpus: the digest samples others wrote parse, and a log
// object's content is not a digest.
func TestDigestCorpus(t *testing.T) {
	dir := "../../../shared/corpus/otel-contrib/extension/encoding/awslogsencodingextension/internal/unmarshaler/cloudtraillog/testdata"
	if _, err := os.Stat(dir); err != nil {
		t.Skip("corpus absent: ../shared/corpus")
	}
	for name, files := range map[string]int{"cloudtrail_digest.json": 1, "cloudtrail_digest_empty.json": 0} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		d, err := ParseDigest(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(d.LogFiles) != files || d.End().IsZero() {
			t.Errorf("%s: %d files, end %v", name, len(d.LogFiles), d.End())
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "cloudtrail_log.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseDigest(b); err == nil {
		t.Error("a log object parsed as a digest")
	}
}

// FuzzParseDigest: any bytes give a digest or an error, never a panic, and
// a parsed digest has a string to sign.
func FuzzParseDigest(f *testing.F) {
	f.Add(digestJSON(""))
	f.Add(digestJSON("ab"))
	f.Add([]byte(`{"Records":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDigest(b)
		if err != nil {
			return
		}
		if s := d.StringToSign(); !strings.Contains(s, d.Object) {
			t.Fatalf("string to sign %q lacks the object", s)
		}
		_ = json.Valid(b)
	})
}
