package gen

import (
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"time"
)

// Signed CloudTrail digests, written as AWS documents them: one per
// account, region and hour, listing that hour's log files with the SHA-256
// of their uncompressed content, chained to the previous hour's digest and
// signed (SHA256withRSA) over the documented string to sign. The
// signature goes in the object's metadata (x-amz-meta-signature). This is
// written apart from Trawl's verifier, so the two check each other.

// Fingerprint is the fingerprint gen gives a public key: the hex MD5 of its
// PKCS #1 DER (AWS's are 32 hex digits too; the audit only matches them).
func Fingerprint(pub *rsa.PublicKey) string {
	sum := md5.Sum(x509.MarshalPKCS1PublicKey(pub))
	return hex.EncodeToString(sum[:])
}

var logKey = regexp.MustCompile(`^(.*)/(\d{12})/CloudTrail/([a-z0-9-]+)/\d{4}/\d{2}/\d{2}/\d{12}_CloudTrail_[a-z0-9-]+_(\d{8}T\d{4})Z_`)

// digestContent is a digest's JSON, fields in AWS's order.
type digestContent struct {
	AccountID     string          `json:"awsAccountId"`
	Start         string          `json:"digestStartTime"`
	End           string          `json:"digestEndTime"`
	Bucket        string          `json:"digestS3Bucket"`
	Object        string          `json:"digestS3Object"`
	Fingerprint   string          `json:"digestPublicKeyFingerprint"`
	Algorithm     string          `json:"digestSignatureAlgorithm"`
	Newest        *string         `json:"newestEventTime"`
	Oldest        *string         `json:"oldestEventTime"`
	PrevBucket    *string         `json:"previousDigestS3Bucket"`
	PrevObject    *string         `json:"previousDigestS3Object"`
	PrevHash      *string         `json:"previousDigestHashValue"`
	PrevHashAlgo  *string         `json:"previousDigestHashAlgorithm"`
	PrevSignature *string         `json:"previousDigestSignature"`
	LogFiles      []digestLogFile `json:"logFiles"`
}

type digestLogFile struct {
	Bucket string `json:"s3Bucket"`
	Object string `json:"s3Object"`
	Hash   string `json:"hashValue"`
	Algo   string `json:"hashAlgorithm"`
}

type trail struct{ base, account, region string }

// SignedDigests returns the digests of CloudTrail log objects in a bucket:
// for each account and region, one per hour from the first log's hour to
// the last's (hours without logs get an empty digest), chained and signed
// with key. Log objects whose keys are not CloudTrail's are ignored.
func SignedDigests(bucket string, logs []Object, key *rsa.PrivateKey) ([]Object, error) {
	byTrail := map[trail]map[time.Time][]digestLogFile{}
	for _, o := range logs {
		m := logKey.FindStringSubmatch(o.Key)
		if m == nil {
			continue
		}
		t, err := time.Parse("20060102T1504", m[4])
		if err != nil {
			continue
		}
		sum, err := uncompressedSHA256(o.Body)
		if err != nil {
			return nil, fmt.Errorf("digest of %s: %w", o.Key, err)
		}
		tr := trail{m[1], m[2], m[3]}
		if byTrail[tr] == nil {
			byTrail[tr] = map[time.Time][]digestLogFile{}
		}
		h := t.Truncate(time.Hour)
		byTrail[tr][h] = append(byTrail[tr][h], digestLogFile{Bucket: bucket, Object: o.Key, Hash: sum, Algo: "SHA-256"})
	}
	fp := Fingerprint(&key.PublicKey)
	var out []Object
	for tr, hours := range byTrail {
		objs, err := chain(bucket, tr, hours, key, fp)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// chain writes one trail's digests, oldest first.
func chain(bucket string, tr trail, hours map[time.Time][]digestLogFile, key *rsa.PrivateKey, fp string) ([]Object, error) {
	var first, last time.Time
	for h := range hours {
		if first.IsZero() || h.Before(first) {
			first = h
		}
		if h.After(last) {
			last = h
		}
	}
	var out []Object
	var prev *digestContent
	var prevSig, prevHash string
	for h := first; !h.After(last); h = h.Add(time.Hour) {
		end := h.Add(time.Hour)
		d := &digestContent{AccountID: tr.account, Start: h.Format(time.RFC3339), End: end.Format(time.RFC3339), Bucket: bucket,
			Object: fmt.Sprintf("%s/%s/CloudTrail-Digest/%s/%s/%s_CloudTrail-Digest_%s_trawl-gen_%s_%s.json.gz",
				tr.base, tr.account, tr.region, end.Format("2006/01/02"), tr.account, tr.region, tr.region, end.Format("20060102T150405Z")),
			Fingerprint: fp, Algorithm: "SHA256withRSA", LogFiles: hours[h]}
		if d.LogFiles == nil {
			d.LogFiles = []digestLogFile{}
		}
		if prev != nil {
			algo := "SHA-256"
			d.PrevBucket, d.PrevObject, d.PrevHash, d.PrevHashAlgo, d.PrevSignature = &prev.Bucket, &prev.Object, &prevHash, &algo, &prevSig
		}
		var raw bytes.Buffer
		enc := json.NewEncoder(&raw)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
		content := raw.Bytes()
		sum := sha256.Sum256(content)
		prevPart := "null"
		if prev != nil {
			prevPart = prevSig
		}
		toSign := d.End + "\n" + bucket + "/" + d.Object + "\n" + hex.EncodeToString(sum[:]) + "\n" + prevPart
		hs := sha256.Sum256([]byte(toSign))
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, hs[:])
		if err != nil {
			return nil, err
		}
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		_, _ = zw.Write(content)
		_ = zw.Close()
		out = append(out, Object{Key: d.Object, Body: zb.Bytes(),
			Meta: map[string]string{"signature": hex.EncodeToString(sig), "signature-algorithm": "SHA256withRSA"}})
		prev, prevSig, prevHash = d, hex.EncodeToString(sig), hex.EncodeToString(sum[:])
	}
	return out, nil
}

func uncompressedSHA256(body []byte) (string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, zr); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
