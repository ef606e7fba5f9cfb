// Package sealed encrypts small files of private key material at rest (the
// device identity, the CA private key) with XChaCha20-Poly1305.
//
// A sealed blob is bound to its logical name ("identity", "ca-key") through
// the AEAD's associated data, so a sealed CA key copied over the identity
// file fails to open instead of being misused. The sealing key is a sub-key
// derived from the master key (see package masterkey); random 24-byte nonces
// are safe because XChaCha20's nonce space makes collisions negligible.
//
// Format (version 1), all integers big-endian:
//
//	byte 0      version = 0x01
//	bytes 1-24  nonce (24 random bytes)
//	bytes 25-   XChaCha20-Poly1305 ciphertext || 16-byte tag
//	AAD         "palyra-sealed/v1\x00" || logical name
package sealed

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"

	"github.com/google/renameio/v2"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	version1  = 0x01
	aadPrefix = "palyra-sealed/v1\x00"
	// MaxPlaintextBytes bounds what Seal accepts and Open reads: sealed
	// files hold keys, not data.
	MaxPlaintextBytes = 64 << 10
	overhead          = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
)

// ErrIntegrity means a sealed blob is malformed, was sealed for another
// name, or was opened with the wrong key. The cause is deliberately not told.
var ErrIntegrity = errors.New("sealed: integrity check failed (wrong key, wrong name or corrupted data)")

// Seal encrypts plaintext (at most MaxPlaintextBytes) under the 32-byte key,
// bound to name, and returns the version-1 blob described in the package doc.
func Seal(key []byte, name string, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintextBytes {
		return nil, fmt.Errorf("sealed: plaintext of %d bytes exceeds %d", len(plaintext), MaxPlaintextBytes)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, overhead+len(plaintext))
	out[0] = version1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	return aead.Seal(out, out[1:], plaintext, []byte(aadPrefix+name)), nil
}

// Open authenticates and decrypts a blob produced by Seal with the same key
// and name. Any mismatch or malformation returns ErrIntegrity.
func Open(key []byte, name string, blob []byte) ([]byte, error) {
	if len(blob) < overhead || len(blob) > overhead+MaxPlaintextBytes || blob[0] != version1 {
		return nil, ErrIntegrity
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	nonce := blob[1 : 1+chacha20poly1305.NonceSizeX]
	pt, err := aead.Open(nil, nonce, blob[1+chacha20poly1305.NonceSizeX:], []byte(aadPrefix+name))
	if err != nil {
		return nil, ErrIntegrity
	}
	return pt, nil
}

// WriteFile seals plaintext for name and writes it to path atomically with
// mode 0600 (created so from the start, fsynced, then renamed into place).
func WriteFile(path string, key []byte, name string, plaintext []byte) error {
	blob, err := Seal(key, name, plaintext)
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(path, blob, 0o600); err != nil {
		return fmt.Errorf("sealed: write %s: %w", path, err)
	}
	return nil
}

// ReadFile reads and opens a file written by WriteFile. A missing file
// returns an error satisfying errors.Is(err, fs.ErrNotExist).
func ReadFile(path string, key []byte, name string) ([]byte, error) {
	blob, err := os.ReadFile(path) // #nosec G304 -- callers pass paths of the state directory layout
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	pt, err := Open(key, name, blob)
	if err != nil {
		return nil, fmt.Errorf("sealed: %s: %w", path, err)
	}
	return pt, nil
}
