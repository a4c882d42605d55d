package app

import (
	"strings"
	"testing"
)

// TestCountsOfOne: counts of one are written in the singular.
func TestCountsOfOne(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Plural(1, "account"), "1 account"},
		{Plural(0, "account"), "0 accounts"},
		{Plural(3, "newer object"), "3 newer objects"},
		{allOf(1, "account"), "its one account"},
		{allOf(2, "account"), "all 2 accounts"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
	if msg := (&TooManyError{Limit: 1}).Error(); strings.Contains(msg, "1 queries") || !strings.Contains(msg, "a query") {
		t.Errorf("limit 1: %q", msg)
	}
}
