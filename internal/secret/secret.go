// Package secret seals connector secrets at rest with AES-256-GCM. The tenant
// and connector ID are bound as additional authenticated data, so a sealed
// value copied onto another connector or tenant fails to open instead of
// handing over someone else's credentials.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the master key length: AES-256.
const KeySize = 32

const version = "v1:"

// Box seals and opens secrets with one master key.
type Box struct{ aead cipher.AEAD }

// New returns a Box for a 32-byte master key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: master key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return &Box{aead: aead}, nil
}

func aad(tenant, connectorID string) []byte {
	return []byte("trawl/connector-secret\x00" + tenant + "\x00" + connectorID)
}

// Seal encrypts plaintext for one tenant's connector.
func (b *Box) Seal(tenant, connectorID, plaintext string) (string, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secret: nonce: %w", err)
	}
	ct := b.aead.Seal(nonce, nonce, []byte(plaintext), aad(tenant, connectorID))
	return version + base64.StdEncoding.EncodeToString(ct), nil
}

// ErrOpen means a sealed value could not be opened: wrong master key, or the
// value belongs to another tenant or connector.
var ErrOpen = errors.New("secret: cannot decrypt (wrong master key, or value not sealed for this tenant and connector)")

// Open decrypts a value sealed for tenant and connectorID.
func (b *Box) Open(tenant, connectorID, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	if !strings.HasPrefix(sealed, version) {
		return "", fmt.Errorf("secret: unknown sealed format: %w", ErrOpen)
	}
	raw, err := base64.StdEncoding.DecodeString(sealed[len(version):])
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", ErrOpen
	}
	n := b.aead.NonceSize()
	pt, err := b.aead.Open(nil, raw[:n], raw[n:], aad(tenant, connectorID))
	if err != nil {
		return "", ErrOpen
	}
	return string(pt), nil
}

// LoadOrCreateKey returns the master key: from env (base64) if given,
// otherwise from path, creating the file with mode 0600 on first start.
func LoadOrCreateKey(envValue, path string) ([]byte, error) {
	if envValue != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(envValue))
		if err != nil || len(k) != KeySize {
			return nil, fmt.Errorf("secret: TRAWL_MASTER_KEY must be %d bytes in base64: make one with `trawl key generate` (or `openssl rand -base64 32`)", KeySize)
		}
		return k, nil
	}
	b, err := os.ReadFile(path)
	if err == nil {
		k, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(k) != KeySize {
			return nil, fmt.Errorf("secret: master key file %s is not %d bytes of base64 (raw bytes, as from head -c 32 /dev/urandom, are not): "+
				"if it held this deployment's key, restore it from backup, since without it stored secrets cannot be read; "+
				"for a new deployment, remove it and run `trawl key generate --out %s` (or `openssl rand -base64 32 > %s && chmod 600 %s`)", path, KeySize, path, path, path)
		}
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("secret: master key file %s is readable by others (mode %v): run chmod 600 %s", path, fi.Mode().Perm(), path)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("secret: read master key %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	enc, err := WriteNewKey(path)
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(enc)
}

// NewKey returns a new random master key in base64, as key files and
// TRAWL_MASTER_KEY hold it.
func NewKey() (string, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("secret: generate master key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// WriteNewKey writes a new master key to path, mode 0600, and returns it
// in base64. It never replaces a file: a key that is overwritten takes
// every secret sealed with it along.
func WriteNewKey(path string) (string, error) {
	enc, err := NewKey()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("secret: %s already exists and a key file is never overwritten (the secrets sealed with it would be lost): choose another path, or remove it if no deployment uses it", path)
	}
	if err != nil {
		return "", fmt.Errorf("secret: create master key %s: %w", path, err)
	}
	if _, err := f.WriteString(enc + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("secret: write master key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("secret: write master key %s: %w", path, err)
	}
	return enc, nil
}
