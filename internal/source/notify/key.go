package notify

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// DecodeKey decodes an S3 event notification key: S3 URL-encodes keys in
// event notifications, with '+' for space (application/x-www-form-urlencoded);
// "%2B" is a literal '+'. An invalid escape returns an error naming it.
//
// A key that decodes to bytes that are not UTF-8 is an error too: S3 object
// keys are UTF-8, so such a key names no object.
func DecodeKey(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b.WriteByte(' ')
		case '%':
			hi, okHi := unhex(s, i+1)
			lo, okLo := unhex(s, i+2)
			if !okHi || !okLo {
				return "", fmt.Errorf("invalid escape %q at byte %d of the key", escapeAt(s, i), i)
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	if !utf8.ValidString(out) {
		return "", fmt.Errorf("the key decodes to bytes that are not UTF-8 (%+q), and S3 keys are UTF-8", out)
	}
	return out, nil
}

// unhex reads the hex digit at s[i], if there is one.
func unhex(s string, i int) (byte, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch c := s[i]; {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// escapeAt is the bad escape starting at s[i] for an error: '%' and up to two
// more bytes, whatever they are.
func escapeAt(s string, i int) string {
	end := min(i+3, len(s))
	return s[i:end]
}
