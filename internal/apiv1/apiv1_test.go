package apiv1

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestQuarantineRawRoundTrips: a quarantined input's bytes survive the
// wire exactly, as text when they are UTF-8 and as base64 when not.
func TestQuarantineRawRoundTrips(t *testing.T) {
	for _, raw := range [][]byte{nil, []byte(`{"eventName":"é"}`), {0xff, 0, 'x'}, bytes.Repeat([]byte{0xc3}, 3)} {
		b, err := json.Marshal(QuarantineItem{ID: "q1", Reason: "bad", Raw: raw})
		if err != nil {
			t.Fatal(err)
		}
		var back QuarantineItem
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.Raw, raw) || back.ID != "q1" || back.Reason != "bad" {
			t.Errorf("%q came back as %q (%s)", raw, back.Raw, b)
		}
		if base64 := strings.Contains(string(b), `"raw_base64"`); len(raw) > 0 && base64 == bytes.Equal(raw, bytes.ToValidUTF8(raw, nil)) {
			t.Errorf("%q was written %s: text for UTF-8, base64 otherwise", raw, b)
		}
	}
}
