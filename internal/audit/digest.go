// Package audit proves completeness and integrity against CloudTrail's
// signed digest files: each hour, CloudTrail writes a digest listing every
// log file it delivered with the SHA-256 of its uncompressed content,
// signed with a regional RSA key and chained to the previous digest. The
// audit checks each digest's signature and its link to the previous one,
// then compares the files it lists with what Trawl collected (their keys
// and the hashes taken while they were decompressed).
//
// What it proves, and what it cannot: a verified hour means every file AWS
// says it delivered was collected unaltered. A trail with log file
// validation off has no digests, so its hours are unverifiable; events
// CloudTrail never delivered are beyond any digest.
package audit

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Digest is a CloudTrail digest file, as AWS documents its structure.
type Digest struct {
	AccountID       string    `json:"awsAccountId"`
	StartTime       string    `json:"digestStartTime"`
	EndTime         string    `json:"digestEndTime"`
	Bucket          string    `json:"digestS3Bucket"`
	Object          string    `json:"digestS3Object"`
	Fingerprint     string    `json:"digestPublicKeyFingerprint"`
	Algorithm       string    `json:"digestSignatureAlgorithm"`
	PrevBucket      *string   `json:"previousDigestS3Bucket"`
	PrevObject      *string   `json:"previousDigestS3Object"`
	PrevHash        *string   `json:"previousDigestHashValue"`
	PrevHashAlgo    *string   `json:"previousDigestHashAlgorithm"`
	PrevSignature   *string   `json:"previousDigestSignature"`
	LogFiles        []LogFile `json:"logFiles"`
	start, end      time.Time
	contentSHA256   string // hex, of the uncompressed content
	signatureSource string // "metadata" or "next digest"
}

// LogFile is one log file a digest lists.
type LogFile struct {
	Bucket        string `json:"s3Bucket"`
	Key           string `json:"s3Object"`
	HashValue     string `json:"hashValue"`
	HashAlgorithm string `json:"hashAlgorithm"`
}

// ParseDigest reads a digest's uncompressed content. It fails, naming the
// field, when the content is not a digest.
func ParseDigest(content []byte) (*Digest, error) { return DecodeDigest(bytes.NewReader(content)) }

// DecodeDigest reads a digest from its uncompressed stream, hashing the
// content as it is decoded, so no copy of it is kept.
func DecodeDigest(r io.Reader) (*Digest, error) { return decodeDigest(r, 0) }

// errTooManyFiles is a digest listing more log files than the decoder was
// allowed to keep.
var errTooManyFiles = errors.New("too many log files")

// decodeDigest is DecodeDigest keeping at most maxFiles log files (0: no
// limit): past them it stops reading with errTooManyFiles.
func decodeDigest(r io.Reader, maxFiles int) (*Digest, error) {
	h := sha256.New()
	tee := io.TeeReader(r, h)
	dec := json.NewDecoder(tee)
	var d Digest
	if err := decodeObject(dec, &d, maxFiles); err != nil {
		if errors.Is(err, errTooManyFiles) {
			return nil, err
		}
		return nil, fmt.Errorf("not a CloudTrail digest: %w", err)
	}
	// As for json.Unmarshal, only white space may follow the object; it
	// belongs to the content the next digest's hash covers.
	if err := onlySpace(dec.Buffered()); err != nil {
		return nil, err
	}
	if err := onlySpace(tee); err != nil {
		return nil, err
	}
	var err error
	if d.start, err = time.Parse(time.RFC3339, d.StartTime); err != nil {
		return nil, fmt.Errorf("digestStartTime %q: %w", d.StartTime, err)
	}
	if d.end, err = time.Parse(time.RFC3339, d.EndTime); err != nil {
		return nil, fmt.Errorf("digestEndTime %q: %w", d.EndTime, err)
	}
	if d.Object == "" || d.Fingerprint == "" {
		return nil, errors.New("not a CloudTrail digest: digestS3Object or digestPublicKeyFingerprint is missing")
	}
	d.contentSHA256 = hex.EncodeToString(h.Sum(nil))
	return &d, nil
}

// decodeObject decodes a digest's top-level object token by token, so the
// logFiles array is read one entry at a time (json.Decoder.Decode would
// buffer the whole object first: 63 MB for a 63 MB digest). The other
// fields, a few hundred bytes, are put back together as an object and
// unmarshalled, keeping encoding/json's rules for them (case-insensitive
// names, the last of a repeated name wins).
func decodeObject(dec *json.Decoder, d *Digest, maxFiles int) error {
	if tok, err := dec.Token(); err != nil {
		return err
	} else if tok != json.Delim('{') {
		return errors.New("the content is not a JSON object")
	}
	var head bytes.Buffer
	head.WriteByte('{')
	var files []LogFile
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		if strings.EqualFold(name, "logFiles") {
			if files, err = decodeLogFiles(dec, maxFiles); err != nil {
				return err
			}
			continue
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if head.Len() > 1 {
			head.WriteByte(',')
		}
		nb, _ := json.Marshal(name)
		head.Write(nb)
		head.WriteByte(':')
		head.Write(v)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}
	head.WriteByte('}')
	if err := json.Unmarshal(head.Bytes(), d); err != nil {
		return err
	}
	d.LogFiles = files
	return nil
}

// decodeLogFiles reads the logFiles array entry by entry, keeping at most
// maxFiles (0: no limit).
func decodeLogFiles(dec *json.Decoder, maxFiles int) ([]LogFile, error) {
	tok, err := dec.Token()
	switch {
	case err != nil:
		return nil, err
	case tok == nil:
		return nil, nil // null
	case tok != json.Delim('['):
		return nil, errors.New("logFiles is not an array")
	}
	var out []LogFile
	for dec.More() {
		if maxFiles > 0 && len(out) >= maxFiles {
			return nil, errTooManyFiles
		}
		var lf LogFile
		if err := dec.Decode(&lf); err != nil {
			return nil, fmt.Errorf("logFiles[%d]: %w", len(out), err)
		}
		out = append(out, lf)
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return nil, err
	}
	return out, nil
}

// onlySpace reads r to its end and fails on anything but JSON white space.
func onlySpace(r io.Reader) error {
	var buf [4096]byte
	for {
		n, err := r.Read(buf[:])
		for _, c := range buf[:n] {
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				return errors.New("not a CloudTrail digest: content after the JSON object")
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Start and End are the digest's period.
func (d *Digest) Start() time.Time { return d.start }

// End is the end of the digest's period.
func (d *Digest) End() time.Time { return d.end }

// SHA256 is the hex SHA-256 of the digest's uncompressed content (what the
// next digest's previousDigestHashValue must equal).
func (d *Digest) SHA256() string { return d.contentSHA256 }

// Starting reports whether the digest starts a chain (validation was
// started or restarted): its previous-digest fields are null.
func (d *Digest) Starting() bool { return d.PrevSignature == nil }

// StringToSign is the data CloudTrail signs, as its documentation gives
// it: the end time, the digest's bucket/key, the hex SHA-256 of its
// uncompressed content, and the previous digest's signature ("null" for a
// starting digest, as AWS's own validator writes it).
func (d *Digest) StringToSign() string {
	prev := "null"
	if d.PrevSignature != nil {
		prev = *d.PrevSignature
	}
	return d.EndTime + "\n" + d.Bucket + "/" + d.Object + "\n" + d.contentSHA256 + "\n" + prev
}

// Verify checks the digest's SHA256withRSA signature (hex, from the
// object's x-amz-meta-signature) with the public key.
func (d *Digest) Verify(signatureHex string, key *rsa.PublicKey) error {
	if d.Algorithm != "" && d.Algorithm != "SHA256withRSA" {
		return fmt.Errorf("signature algorithm %q is not SHA256withRSA", d.Algorithm)
	}
	sig, err := hex.DecodeString(strings.TrimSpace(signatureHex))
	if err != nil {
		return fmt.Errorf("the signature is not hex: %w", err)
	}
	h := sha256.Sum256([]byte(d.StringToSign()))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, h[:], sig); err != nil {
		return errors.New("the signature does not verify: the digest was altered or not signed by CloudTrail")
	}
	return nil
}

// KeySet holds CloudTrail public keys by fingerprint.
type KeySet map[string]*rsa.PublicKey

// ParsePublicKey reads a key as ListPublicKeys gives it: DER, PKCS #1
// (AWS documents this) or X.509 SubjectPublicKeyInfo (some keys come so).
func ParsePublicKey(der []byte) (*rsa.PublicKey, error) {
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("not an RSA public key in PKCS #1 or X.509 DER")
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA public key")
	}
	return rk, nil
}

// keysFile is the JSON that `aws cloudtrail list-public-keys` prints (the
// documentation's sample spells the list publicKeyList).
type keysFile struct {
	PublicKeyList []keyEntry `json:"PublicKeyList"`
	Lower         []keyEntry `json:"publicKeyList"`
}

type keyEntry struct {
	Value       string          `json:"Value"`
	Fingerprint string          `json:"Fingerprint"`
	Start       json.RawMessage `json:"ValidityStartTime"`
	End         json.RawMessage `json:"ValidityEndTime"`
}

// ParseKeys reads a keys file.
func ParseKeys(data []byte) (KeySet, error) {
	ders, err := ParseKeysDER(data)
	if err != nil {
		return nil, err
	}
	return KeySetOf(ders)
}

// KeySetOf parses DER keys by fingerprint.
func KeySetOf(ders map[string][]byte) (KeySet, error) {
	ks := KeySet{}
	for fp, der := range ders {
		k, err := ParsePublicKey(der)
		if err != nil {
			return nil, fmt.Errorf("public key %s: %w", fp, err)
		}
		ks[strings.ToLower(fp)] = k
	}
	return ks, nil
}

// ParseKeysDER reads a keys file into DER keys by fingerprint, checking
// each parses.
func ParseKeysDER(data []byte) (map[string][]byte, error) {
	var f keysFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not the JSON of aws cloudtrail list-public-keys: %w", err)
	}
	entries := append(f.PublicKeyList, f.Lower...)
	if len(entries) == 0 {
		return nil, errors.New("no PublicKeyList entries: give the output of aws cloudtrail list-public-keys")
	}
	out := map[string][]byte{}
	for i, e := range entries {
		der, err := base64.StdEncoding.DecodeString(e.Value)
		if err != nil {
			return nil, fmt.Errorf("PublicKeyList[%d].Value: not base64: %w", i, err)
		}
		if _, err := ParsePublicKey(der); err != nil {
			return nil, fmt.Errorf("PublicKeyList[%d].Value: %w", i, err)
		}
		if e.Fingerprint == "" {
			return nil, fmt.Errorf("PublicKeyList[%d].Fingerprint is empty", i)
		}
		out[strings.ToLower(e.Fingerprint)] = der
	}
	return out, nil
}

// LoadKeys reads a keys file from disk, as DER keys by fingerprint.
func LoadKeys(path string) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("public keys file: %w", err)
	}
	ks, err := ParseKeysDER(data)
	if err != nil {
		return nil, fmt.Errorf("public keys file %s: %w", path, err)
	}
	return ks, nil
}

// KeysJSON writes keys in the list-public-keys shape (for `trawl gen`).
func KeysJSON(keys map[string]*rsa.PublicKey, from, to time.Time) []byte {
	var f keysFile
	for fp, k := range keys {
		f.PublicKeyList = append(f.PublicKeyList, keyEntry{Value: base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(k)),
			Fingerprint: fp, Start: json.RawMessage(strconv.Quote(from.UTC().Format(time.RFC3339))),
			End: json.RawMessage(strconv.Quote(to.UTC().Format(time.RFC3339)))})
	}
	b, _ := json.MarshalIndent(struct {
		PublicKeyList []keyEntry `json:"PublicKeyList"`
	}{f.PublicKeyList}, "", "  ")
	return b
}
