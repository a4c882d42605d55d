package secret

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpenBindsTenantAndConnector(t *testing.T) {
	key := make([]byte, KeySize)
	key[0] = 7
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := b.Seal("acme", "c1", "s3cr3t")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "s3cr3t") {
		t.Fatal("plaintext visible in sealed value")
	}
	if got, err := b.Open("acme", "c1", sealed); err != nil || got != "s3cr3t" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	for _, tc := range [][2]string{{"other", "c1"}, {"acme", "c2"}} {
		if _, err := b.Open(tc[0], tc[1], sealed); !errors.Is(err, ErrOpen) {
			t.Errorf("sealed value opened for %v: %v", tc, err)
		}
	}
	other, _ := New(make([]byte, KeySize))
	if _, err := other.Open("acme", "c1", sealed); !errors.Is(err, ErrOpen) {
		t.Error("opened with the wrong master key")
	}
	s2, _ := b.Seal("acme", "c1", "s3cr3t")
	if s2 == sealed {
		t.Error("nonce reuse: two seals are identical")
	}
}

func TestMasterKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "master.key")
	k1, err := LoadOrCreateKey("", p)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadOrCreateKey("", p)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("reload differs: %v", err)
	}
	os.Chmod(p, 0o644)
	if _, err := LoadOrCreateKey("", p); err == nil {
		t.Error("a world-readable key file must be refused")
	}
	if _, err := LoadOrCreateKey("bm90LTMyLWJ5dGVz", p); err == nil {
		t.Error("a short env key must be refused")
	}
}
