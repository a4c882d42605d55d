package cli

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// demoFiles reads every log object the demo writes under root, by path;
// the digests and their key are left out (signed with a new key each
// time, they never raise an alert).
func demoFiles(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "CloudTrail-Digest") || d.Name() == demoKeysFile {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDemoDataIsTheSameWithinAnHour: demos started minutes apart write the
// same log objects (keys and records, to the second), so they raise the
// same alerts: nothing in them moves across a five-minute window.
func TestDemoDataIsTheSameWithinAnHour(t *testing.T) {
	at := time.Date(2026, 3, 4, 10, 2, 17, 0, time.UTC)
	one, two := t.TempDir(), t.TempDir()
	if _, err := writeDemoBuckets(one, at); err != nil {
		t.Fatal(err)
	}
	if _, err := writeDemoBuckets(two, at.Add(2*time.Minute+26*time.Second)); err != nil {
		t.Fatal(err)
	}
	a, b := demoFiles(t, one), demoFiles(t, two)
	if len(a) < 300 || len(a) != len(b) {
		t.Fatalf("the demos wrote %d and %d log objects", len(a), len(b))
	}
	for p, body := range a {
		if !bytes.Equal(body, b[p]) {
			t.Fatalf("%s differs between demos started at %s and %s (or the second lacks it)", p, at.Format(time.TimeOnly), at.Add(146*time.Second).Format(time.TimeOnly))
		}
	}
}
