package prefix

import "strings"

// DigestPrefix is where a CloudTrail prefix's digests are:
// AWSLogs/…/CloudTrail… becomes AWSLogs/…/CloudTrail-Digest…; a prefix
// above the service folders (an organization's, or an account's) stays.
func DigestPrefix(p string) string {
	if i := strings.Index(p, "/CloudTrail/"); i >= 0 {
		return p[:i] + "/CloudTrail-Digest/" + p[i+len("/CloudTrail/"):]
	}
	if strings.HasSuffix(p, "/CloudTrail") {
		return p + "-Digest"
	}
	return p
}
