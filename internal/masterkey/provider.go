package masterkey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/renameio/v2"
)

// Providers: where the master key is kept.
const (
	// ProviderFile keeps the key in master.key, a 0600 file in the state
	// directory (the default).
	ProviderFile = "file"
	// ProviderPassphrase keeps it in master.key.sealed, sealed under a key
	// derived from a passphrase with Argon2id.
	ProviderPassphrase = "passphrase"
	// ProviderKeyring keeps it in the OS keyring (Secret Service, macOS
	// Keychain, Windows Credential Manager).
	ProviderKeyring = "keyring"
	// ProviderEnv takes it from the environment variable PALYRA_MASTER_KEY
	// at every start (containers); nothing is kept in the state directory.
	ProviderEnv = "env"
)

// Providers lists every provider, the default first.
var Providers = []string{ProviderFile, ProviderPassphrase, ProviderKeyring, ProviderEnv}

// File names in the state directory.
const (
	FileName   = "master.key"
	SealedName = "master.key.sealed"
)

// Environment variables the providers read.
const (
	// EnvMasterKey holds the base64 of the 32-byte key (provider env). It
	// is removed from the process environment once read.
	EnvMasterKey = "PALYRA_MASTER_KEY"
	// EnvPassphraseFile names a 0600 file whose content (one trailing
	// newline removed) is the passphrase (provider passphrase).
	EnvPassphraseFile = "PALYRA_PASSPHRASE_FILE" // #nosec G101 -- the name of an environment variable, not a credential
)

// ValidProvider reports whether name is a provider.
func ValidProvider(name string) bool { return slices.Contains(Providers, name) }

// KeyFile is the file in the state directory that holds the key for a
// provider, or "" when the provider keeps none there (keyring, env).
func KeyFile(provider string) string {
	switch provider {
	case ProviderFile:
		return FileName
	case ProviderPassphrase:
		return SealedName
	}
	return ""
}

// checkLabel is the fixed message of the key check value.
const checkLabel = "palyra/v1/master-key-check"

// CheckValue is the key check value: the lowercase hex HMAC-SHA256 of a
// fixed label under the master key. It is recorded in the state
// directory's manifest so that a start with another master key (a wrong
// PALYRA_MASTER_KEY, another keyring entry) is refused before anything is
// read; it reveals nothing about the key.
func (k *Key) CheckValue() string {
	m := hmac.New(sha256.New, k.b[:])
	m.Write([]byte(checkLabel))
	return hex.EncodeToString(m.Sum(nil))
}

// Equal reports whether k and o are the same key.
func (k *Key) Equal(o *Key) bool { return hmac.Equal(k.b[:], o.b[:]) }

// Base64 is the key in standard base64: the PALYRA_MASTER_KEY form.
func (k *Key) Base64() string { return base64.StdEncoding.EncodeToString(k.b[:]) }

// WriteFile writes k as a key file (0600, atomically), refusing to replace
// an existing file.
func (k *Key) WriteFile(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("masterkey: %s already exists", path)
	}
	text := fileHeader + k.Base64() + "\n"
	if err := renameio.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("masterkey: write %s: %w", path, err)
	}
	return nil
}

// Source says where a provider finds what it needs besides the state
// directory. The zero value reads the process environment and the
// terminal on stdin.
type Source struct {
	// Getenv and Unsetenv default to os.Getenv and os.Unsetenv.
	Getenv   func(string) string
	Unsetenv func(string) error
	// Passphrase, if set, supplies the passphrase instead of
	// PALYRA_PASSPHRASE_FILE and the terminal; confirm asks for it twice
	// (a new passphrase).
	Passphrase func(confirm bool) ([]byte, error)
	// Params are the Argon2id parameters for a new sealed file (default
	// DefaultParams).
	Params *Params
	// KeyringAccount names the key in the OS keyring; Open and Create
	// default it to the absolute state directory.
	KeyringAccount string
}

func (s Source) getenv(k string) string {
	if s.Getenv != nil {
		return s.Getenv(k)
	}
	return os.Getenv(k)
}

func (s Source) unsetenv(k string) error {
	if s.Unsetenv != nil {
		return s.Unsetenv(k)
	}
	return os.Unsetenv(k)
}

func (s Source) account(dir string) string {
	if s.KeyringAccount != "" {
		return s.KeyringAccount
	}
	return "master-key:" + dir
}

// Open loads the master key of the state directory dir from provider. It
// creates nothing.
func Open(provider, dir string, src Source) (*Key, error) {
	switch provider {
	case ProviderFile:
		return LoadFile(filepath.Join(dir, FileName))
	case ProviderPassphrase:
		return openSealed(filepath.Join(dir, SealedName), src)
	case ProviderKeyring:
		return keyringLoad(src.account(dir))
	case ProviderEnv:
		return fromEnv(src)
	}
	return nil, fmt.Errorf("masterkey: unknown provider %q (want one of %s)", provider, strings.Join(Providers, ", "))
}

// Create makes a new master key for the state directory dir and keeps it
// with provider (the env provider keeps nothing: the key is the one in
// PALYRA_MASTER_KEY). storeDir is where the key files go (a state
// directory being built may live in a temporary directory); dir is the
// final state directory, which names the keyring entry.
func Create(provider, storeDir, dir string, src Source) (*Key, error) {
	if provider == ProviderEnv {
		return fromEnv(src)
	}
	k, err := New()
	if err != nil {
		return nil, err
	}
	if err := Store(k, provider, storeDir, dir, src); err != nil {
		return nil, err
	}
	return k, nil
}

// Store keeps k with provider, refusing to replace a key already kept
// there. The env provider cannot keep a key: it is an error.
func Store(k *Key, provider, storeDir, dir string, src Source) error {
	switch provider {
	case ProviderFile:
		return k.WriteFile(filepath.Join(storeDir, FileName))
	case ProviderPassphrase:
		p := DefaultParams
		if src.Params != nil {
			p = *src.Params
		}
		pass, err := src.passphrase(SealedName, true)
		if err != nil {
			return err
		}
		defer clear(pass)
		return k.Seal(filepath.Join(storeDir, SealedName), pass, p)
	case ProviderKeyring:
		return keyringStore(src.account(dir), k)
	case ProviderEnv:
		return errors.New("masterkey: provider env keeps no key: give it in " + EnvMasterKey)
	}
	return fmt.Errorf("masterkey: unknown provider %q", provider)
}

// Remove deletes the key kept with provider (nothing for env). A key file
// is overwritten with zeros and synced before it is unlinked: best effort,
// since a journaling or copy-on-write file system may keep old blocks.
func Remove(provider, dir string, src Source) error {
	switch provider {
	case ProviderFile, ProviderPassphrase:
		path := filepath.Join(dir, KeyFile(provider))
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil { // #nosec G304 -- a fixed file name inside the state directory
			if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
				f.Write(make([]byte, fi.Size()))
				f.Sync()
			}
			f.Close()
		}
		err := os.Remove(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("masterkey: %w", err)
		}
		return nil
	case ProviderKeyring:
		return keyringDelete(src.account(dir))
	}
	return nil
}

// fromEnv reads PALYRA_MASTER_KEY and removes it from the environment,
// whether or not it parses, so that no child process inherits it.
func fromEnv(src Source) (*Key, error) {
	v := src.getenv(EnvMasterKey)
	if err := src.unsetenv(EnvMasterKey); err != nil {
		return nil, fmt.Errorf("masterkey: unset %s: %w", EnvMasterKey, err)
	}
	if v == "" {
		return nil, fmt.Errorf("masterkey: provider env: %s is not set (want the base64 of 32 bytes; palyra vault provider migrate --to env --out FILE writes it)", EnvMasterKey)
	}
	var k Key
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(raw) != Size {
		clear(raw)
		return nil, fmt.Errorf("masterkey: provider env: %s is malformed (want the base64 of exactly 32 bytes)", EnvMasterKey)
	}
	copy(k.b[:], raw)
	clear(raw)
	return &k, nil
}
