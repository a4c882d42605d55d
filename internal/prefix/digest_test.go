package prefix

import "testing"

func TestDigestPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"AWSLogs/111122223333/CloudTrail/us-east-1": "AWSLogs/111122223333/CloudTrail-Digest/us-east-1",
		"AWSLogs/*/CloudTrail":                      "AWSLogs/*/CloudTrail-Digest",
		"AWSLogs/o-abc/111122223333/CloudTrail/":    "AWSLogs/o-abc/111122223333/CloudTrail-Digest/",
		"AWSLogs/o-abc":                             "AWSLogs/o-abc",
	} {
		if got := DigestPrefix(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
