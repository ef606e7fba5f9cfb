// Package masterkey holds the installation's master key: 32 random bytes that
// are the root of every at-rest protection in the state directory.
//
// The master key never encrypts data itself. Each use derives its own sub-key
// with HKDF-SHA256 (RFC 5869) under a distinct label, so the vault KEK, the
// identity sealing key and the CA sealing key are independent: learning one
// reveals nothing about the others or the master key.
//
// Providers keep the key (provider.go): "file", a 0600 file in the 0700
// state directory, which protects against other local users, not against
// the same user; "passphrase", the key sealed under Argon2id of a
// passphrase (sealed.go); "keyring", the OS keyring (keyring.go); "env",
// PALYRA_MASTER_KEY, for containers.
package masterkey

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/palyra/palyra/internal/fileperm"
)

// Size is the length of the master key and of every derived sub-key, in bytes.
const Size = 32

// Sub-key labels. Each is the HKDF info input, prefixed with "palyra/v1/".
const (
	LabelVaultKEK     = "vault-kek"
	LabelIdentitySeal = "identity-seal"
	LabelCASeal       = "ca-seal"
	LabelPairingCodes = "pairing-codes"
)

// fileHeader starts a key file; the version in it lets the format change.
const fileHeader = "palyra-master-key/v1\n"

// Key is a master key. The zero value is not usable; obtain one from
// New, LoadFile or a Provider.
type Key struct {
	b [Size]byte
}

// New returns a fresh random master key.
func New() (*Key, error) {
	var k Key
	if _, err := rand.Read(k.b[:]); err != nil {
		return nil, fmt.Errorf("masterkey: %w", err)
	}
	return &k, nil
}

// Derive returns the 32-byte sub-key for label: HKDF-SHA256 (RFC 5869) with
// the master key as input keying material, no salt (the input is already
// uniformly random) and info "palyra/v1/<label>".
func (k *Key) Derive(label string) []byte {
	out, err := hkdf.Key(sha256.New, k.b[:], nil, "palyra/v1/"+label, Size)
	if err != nil {
		// Only possible for an output length beyond 255*32 bytes.
		panic("masterkey: hkdf: " + err.Error())
	}
	return out
}

// maxFileBytes bounds what LoadFile reads: a key file is under 100 bytes.
const maxFileBytes = 1024

// LoadFile reads an existing master key file; it never creates one (see
// Key.WriteFile). The file must be a regular file of the current user with
// no group or other permission bits (fileperm.Private), else the error wraps
// fileperm.ErrInsecure; a file that does not parse is an error too: the key
// is never silently replaced. A missing file is an error satisfying
// errors.Is(err, fs.ErrNotExist).
func LoadFile(path string) (*Key, error) {
	data, err := fileperm.ReadFile(path, fileperm.Private, maxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("masterkey: %w", err)
	}
	k, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("masterkey: %s: %w", path, err)
	}
	return k, nil
}

func parse(data []byte) (*Key, error) {
	rest, ok := bytes.CutPrefix(data, []byte(fileHeader))
	if !ok {
		return nil, errors.New("not a palyra master key file (bad header)")
	}
	rest = bytes.TrimSuffix(rest, []byte("\n"))
	var k Key
	n, err := base64.StdEncoding.Decode(k.b[:], rest)
	if err != nil || n != Size || base64.StdEncoding.EncodedLen(Size) != len(rest) {
		return nil, errors.New("malformed key (want 32 bytes, base64)")
	}
	return &k, nil
}
