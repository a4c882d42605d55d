// Package modroot finds the module's root for the test servers' helpers
// (the tools scripts install under it, test folders beside the code), and
// says what a test does when a server it needs is missing.
package modroot

import (
	"os"
	"path/filepath"
	"testing"
)

// Root is the nearest folder above the working directory holding go.mod,
// or "".
func Root() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Missing skips the test with msg, or fails it under CI, where the test
// script installed every server and a missing one is a failure.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip("SKIP: " + msg)
}
