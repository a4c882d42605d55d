package integration

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyGenerate: the many-node setup's shared --master-key-file is made
// with `trawl key generate --out FILE` (mode 0600, never overwritten) and
// opens a data directory; a raw 32-byte file is refused with a message
// that gives the commands that make a valid one.
func TestKeyGenerate(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	r := trawl(t, dir, nil, "key", "generate", "--out", keyFile)
	if r.code != 0 {
		t.Fatalf("key generate --out: exit %d: %s", r.code, r.stderr)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(keyFile)
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(first))); err != nil || len(k) != 32 {
		t.Fatalf("key file holds %q: not 32 bytes of base64 (%v)", first, err)
	}
	// Never overwritten.
	r = trawl(t, dir, nil, "key", "generate", "--out", keyFile)
	if again, _ := os.ReadFile(keyFile); r.code == 0 || string(again) != string(first) || !strings.Contains(r.stderr, "never overwritten") {
		t.Errorf("a second key generate --out the same file: exit %d, stderr %q, file changed %v", r.code, r.stderr, string(again) != string(first))
	}
	// Printed, for TRAWL_MASTER_KEY: a different key each time.
	r = trawl(t, dir, nil, "key", "generate")
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.stdout)); r.code != 0 || err != nil || len(k) != 32 || strings.TrimSpace(r.stdout) == strings.TrimSpace(string(first)) {
		t.Errorf("key generate: exit %d, printed %q", r.code, r.stdout)
	}
	// Two data directories open with the shared key file; the env form too.
	for _, d := range []string{"a", "b"} {
		mustTrawl(t, filepath.Join(dir, d), "collect", "--once", "--master-key-file", keyFile)
	}
	if r := trawl(t, filepath.Join(dir, "c"), []string{"TRAWL_MASTER_KEY=" + strings.TrimSpace(r.stdout)}, "collect", "--once"); r.code != 0 {
		t.Errorf("TRAWL_MASTER_KEY from key generate refused: %s", r.stderr)
	}
	// head -c 32 /dev/urandom > master.key: refused, with the way out.
	raw := filepath.Join(dir, "raw.key")
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	if err := os.WriteFile(raw, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r = trawl(t, filepath.Join(dir, "d"), nil, "collect", "--once", "--master-key-file", raw)
	if r.code == 0 || !strings.Contains(r.stderr, "trawl key generate --out "+raw) || !strings.Contains(r.stderr, "openssl rand -base64 32") {
		t.Errorf("a raw key file: exit %d, stderr %q", r.code, r.stderr)
	}
}
