package masterkey

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/term"

	"github.com/palyra/palyra/internal/fileperm"
)

// sealedFormat names the sealed file's format and version.
const sealedFormat = "palyra-master-key-sealed/v1"

// Params are Argon2id's parameters.
type Params struct {
	Time    uint32 `json:"t"`     // passes
	MemoryK uint32 `json:"m_kib"` // memory in KiB
	Threads uint8  `json:"p"`     // lanes
}

// DefaultParams are sized for about half a second on a small two-core
// machine (see BenchmarkUnlock): 256 MiB, 3 passes, 2 lanes.
var DefaultParams = Params{Time: 3, MemoryK: 256 << 10, Threads: 2}

// Bounds on the parameters a sealed file may ask for, so that a crafted
// file cannot make a start take all memory or forever.
const (
	maxTime    = 64
	maxMemoryK = 4 << 20 // 4 GiB
	minMemoryK = 8 << 10 // 8 MiB
)

func (p Params) check() error {
	if p.Time < 1 || p.Time > maxTime || p.MemoryK < minMemoryK || p.MemoryK > maxMemoryK || p.Threads < 1 {
		return fmt.Errorf("argon2id parameters t=%d m=%dKiB p=%d out of range", p.Time, p.MemoryK, p.Threads)
	}
	return nil
}

// sealedFile is master.key.sealed (JSON).
type sealedFile struct {
	Format     string `json:"format"`
	KDF        string `json:"kdf"`
	Params     Params `json:"params"`
	Salt       []byte `json:"salt"`       // 16 bytes
	Nonce      []byte `json:"nonce"`      // 24 bytes (XChaCha20-Poly1305)
	Ciphertext []byte `json:"ciphertext"` // the key and its 16-byte tag
}

// aad binds the ciphertext to the format, KDF, parameters and salt: a file
// edited to weaker parameters does not open.
func (s sealedFile) aad() []byte {
	return fmt.Appendf(nil, "%s\nkdf=argon2id t=%d m=%d p=%d\nsalt=%x", sealedFormat, s.Params.Time, s.Params.MemoryK, s.Params.Threads, s.Salt)
}

func deriveKEK(pass []byte, s sealedFile) []byte {
	return argon2.IDKey(pass, s.Salt, s.Params.Time, s.Params.MemoryK, s.Params.Threads, chacha20poly1305.KeySize)
}

// ErrWrongPassphrase is returned when a sealed key file does not open with
// the passphrase given.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// Seal writes k to path sealed under pass (0600, atomically), refusing to
// replace an existing file.
func (k *Key) Seal(path string, pass []byte, p Params) error {
	if err := p.check(); err != nil {
		return fmt.Errorf("masterkey: %w", err)
	}
	if len(pass) == 0 {
		return errors.New("masterkey: empty passphrase")
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("masterkey: %s already exists", path)
	}
	s := sealedFile{Format: sealedFormat, KDF: "argon2id", Params: p, Salt: make([]byte, 16), Nonce: make([]byte, chacha20poly1305.NonceSizeX)}
	rand.Read(s.Salt)
	rand.Read(s.Nonce)
	kek := deriveKEK(pass, s)
	defer clear(kek)
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return err
	}
	s.Ciphertext = aead.Seal(nil, s.Nonce, k.b[:], s.aad())
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("masterkey: write %s: %w", path, err)
	}
	return nil
}

// OpenSealed reads a sealed key file with pass. A wrong passphrase is
// ErrWrongPassphrase; nothing is written either way.
func OpenSealed(path string, pass []byte) (*Key, error) {
	data, err := fileperm.ReadFile(path, fileperm.Private, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("masterkey: %w", err)
	}
	var s sealedFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil || s.Format != sealedFormat || s.KDF != "argon2id" {
		return nil, fmt.Errorf("masterkey: %s is not a %s file", path, sealedFormat)
	}
	if err := s.Params.check(); err != nil {
		return nil, fmt.Errorf("masterkey: %s: %w", path, err)
	}
	if len(s.Salt) < 16 || len(s.Nonce) != chacha20poly1305.NonceSizeX || len(s.Ciphertext) != Size+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("masterkey: %s is malformed", path)
	}
	kek := deriveKEK(pass, s)
	defer clear(kek)
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, s.Nonce, s.Ciphertext, s.aad())
	if err != nil {
		return nil, fmt.Errorf("masterkey: %w for %s", ErrWrongPassphrase, filepath.Base(path))
	}
	var k Key
	copy(k.b[:], plain)
	clear(plain)
	return &k, nil
}

func openSealed(path string, src Source) (*Key, error) {
	if _, err := os.Lstat(path); err != nil {
		return nil, fmt.Errorf("masterkey: %w", err)
	}
	pass, err := src.passphrase(filepath.Base(path), false)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	return OpenSealed(path, pass)
}

// passphrase gets the passphrase: from src.Passphrase, else the file named
// by PALYRA_PASSPHRASE_FILE (0600), else the terminal on stdin, without
// echo (twice when confirm).
func (s Source) passphrase(name string, confirm bool) ([]byte, error) {
	if s.Passphrase != nil {
		return s.Passphrase(confirm)
	}
	if path := s.getenv(EnvPassphraseFile); path != "" {
		b, err := fileperm.ReadFile(path, fileperm.Private, 4096)
		if err != nil {
			return nil, fmt.Errorf("masterkey: %s: %w", EnvPassphraseFile, err)
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) == 0 {
			return nil, fmt.Errorf("masterkey: %s: %s is empty", EnvPassphraseFile, path)
		}
		return b, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, fmt.Errorf("masterkey: provider passphrase: no passphrase for %s: set %s to a 0600 file holding it, or run on a terminal to be asked", name, EnvPassphraseFile)
	}
	ask := func(prompt string) ([]byte, error) {
		fmt.Fprint(os.Stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, fmt.Errorf("masterkey: read passphrase: %w", err)
		}
		return b, nil
	}
	p, err := ask("Passphrase for " + name + ": ")
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errors.New("masterkey: empty passphrase")
	}
	if confirm {
		again, err := ask("Same passphrase again: ")
		if err != nil {
			return nil, err
		}
		defer clear(again)
		if !bytes.Equal(p, again) {
			clear(p)
			return nil, errors.New("masterkey: the passphrases differ")
		}
	}
	return p, nil
}

// Remember returns a Source that obtains the passphrase once (as s would)
// and gives the same one on every later call: a move to the passphrase
// provider seals and then re-opens with one prompt.
func (s Source) Remember() Source {
	inner := s
	var saved []byte
	s.Passphrase = func(confirm bool) ([]byte, error) {
		if saved != nil {
			return bytes.Clone(saved), nil
		}
		p, err := inner.passphrase(SealedName, confirm)
		if err != nil {
			return nil, err
		}
		saved = bytes.Clone(p)
		return p, nil
	}
	return s
}
