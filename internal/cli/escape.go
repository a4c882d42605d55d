package cli

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Human output (tables, test reports) carries text a tenant controls: a
// rule's title, a logged userName, an S3 error from the tenant's endpoint.
// Written raw, an escape sequence in it clears or retitles the operator's
// terminal and a newline forges rows. So human output shows every control
// character as an escape (\x1b, \u009b), as ls does with file names;
// JSON, NDJSON and CSV stay exact (JSON escapes them itself).

// escaper passes text through with control characters (but tab and
// newline, the table's own structure), DEL, C1 controls, bidirectional
// controls and bytes that are not UTF-8 written as visible escapes.
type escaper struct{ w io.Writer }

func (e escaper) Write(p []byte) (int, error) {
	if clean(p, "\t\n") {
		return e.w.Write(p)
	}
	if _, err := io.WriteString(e.w, escapeControls(string(p), "\t\n")); err != nil {
		return 0, err
	}
	return len(p), nil
}

// clean reports whether p holds nothing escapeControls would change.
func clean(p []byte, keep string) bool {
	for _, b := range p {
		if (b < 0x20 && strings.IndexByte(keep, b) < 0) || b >= 0x7f {
			return false
		}
	}
	return true
}

// bidiControl reports the Unicode bidirectional controls (embeddings,
// overrides, isolates): printed, they reorder the text after them, so a
// tenant's title could make a row read differently from what it holds
// ("Trojan Source", CVE-2021-42574).
func bidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// escapeControls writes control characters other than those in keep,
// DEL, C1 controls and invalid UTF-8 as escapes.
func escapeControls(s, keep string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 && !strings.ContainsRune(keep, r), r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f, bidiControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// oneLine is a table cell's text: every control character escaped,
// tab and newline included, so a value cannot add columns or rows.
func oneLine(s string) string { return escapeControls(s, "") }
