package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestDecodeDigestStreams: the token-by-token decoder reads what
// json.Unmarshal reads (names in any case, the last repeated name wins,
// a null logFiles), hashes the whole content, and stops at the file limit.
func TestDecodeDigestStreams(t *testing.T) {
	content := digestJSON("")
	d, err := DecodeDigest(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	var want Digest
	if err := json.Unmarshal(content, &want); err != nil {
		t.Fatal(err)
	}
	if d.AccountID != want.AccountID || d.Object != want.Object || d.Fingerprint != want.Fingerprint || len(d.LogFiles) != 1 || d.LogFiles[0] != want.LogFiles[0] {
		t.Errorf("decoded %+v, want %+v", d, want)
	}
	// Case and repetition as encoding/json treats them.
	odd := strings.Replace(string(content), `"awsAccountId":"111122223333"`, `"AWSACCOUNTID":"999999999999","awsAccountId":"111122223333","LOGFILES":null`, 1)
	if d, err := ParseDigest([]byte(odd)); err != nil || d.AccountID != "111122223333" || len(d.LogFiles) != 1 {
		t.Errorf("names in other cases: %+v %v", d, err)
	}
	// Many files: all kept without a limit, errTooManyFiles past one.
	var files []string
	for i := range 50 {
		files = append(files, fmt.Sprintf(`{"s3Bucket":"b","s3Object":"k%d","hashValue":"aa","hashAlgorithm":"SHA-256"}`, i))
	}
	many := strings.Replace(string(content), `"logFiles":[`, `"logFiles":[`+strings.Join(files, ",")+`,`, 1)
	if d, err := decodeDigest(strings.NewReader(many), 0); err != nil || len(d.LogFiles) != 51 {
		t.Fatalf("51 files, no limit: %v", err)
	}
	if _, err := decodeDigest(strings.NewReader(many), 20); !errors.Is(err, errTooManyFiles) {
		t.Errorf("51 files, limit 20: %v, want errTooManyFiles", err)
	}
	for _, bad := range []string{`[]`, `{"logFiles":"x"}`, `{"logFiles":[1]}`, `{"awsAccountId":1}`} {
		if _, err := ParseDigest([]byte(bad)); err == nil {
			t.Errorf("%s: decoded, want an error", bad)
		}
	}
}
