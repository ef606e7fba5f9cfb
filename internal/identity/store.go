package identity

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/google/renameio/v2"

	"github.com/palyra/palyra/internal/sealed"
)

// SealedName is the logical name bound into the sealed identity file.
const SealedName = "identity"

// LoadOrCreateSealed opens the sealed identity at path with sealKey (a 32-byte
// sub-key of the master key), or generates and seals a new identity when the
// file does not exist. A file that exists but fails to open is an error; it
// is never replaced.
func LoadOrCreateSealed(path string, sealKey []byte) (id *Identity, created bool, err error) {
	pt, err := sealed.ReadFile(path, sealKey, SealedName)
	if errors.Is(err, fs.ErrNotExist) {
		id, err := Generate()
		if err != nil {
			return nil, false, err
		}
		b, err := id.MarshalBinary()
		if err != nil {
			return nil, false, err
		}
		if err := sealed.WriteFile(path, sealKey, SealedName, b); err != nil {
			return nil, false, err
		}
		return id, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("identity: %w", err)
	}
	id, err = Unmarshal(pt)
	return id, false, err
}

// LoadSealed opens an existing sealed identity; it never creates one.
func LoadSealed(path string, sealKey []byte) (*Identity, error) {
	pt, err := sealed.ReadFile(path, sealKey, SealedName)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return Unmarshal(pt)
}

// WritePlain writes the identity unsealed to path with mode 0600, atomically.
// Client bundles use it: like an SSH private key, it is protected by file
// permissions on the client's machine.
func WritePlain(path string, id *Identity) error {
	b, err := id.MarshalBinary()
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("identity: write %s: %w", path, err)
	}
	return nil
}
