// Package paircode defines the pairing code an operator reads out or types
// and the palyra://pair invite URI that carries it.
//
// A code is a non-secret code id (1..99999), which lets the daemon find the
// pending pairing without trying every code, and a secret of SecretDigits
// decimal digits, written "ID-DIGITS" (for example "17-482913"). The secret
// is low entropy (20 bits); it is never used as a key. It keys a PAKE
// (internal/pake) through Password, so an attacker who talks to either side
// gets one online guess per code, and the daemon burns a code after one failed
// attempt. The daemon stores only Password's hash, never the digits.
//
// The invite URI (docs/pairing-uri.md) adds the daemon's TCP and QUIC
// addresses and the SHA-256 fingerprint of its CA certificate.
//
// Errors returned by the parsers wrap ErrInvalid and never contain the input,
// because the input holds the secret.
package paircode

import (
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// SecretDigits is the number of decimal digits in a code's secret.
const SecretDigits = 6

// MaxID is the largest code id; ids are 1..MaxID.
const MaxID = 99999

// passwordLabel separates Password's hash from every other SHA-256 use.
const passwordLabel = "palyra pairing code password v1\x00" // #nosec G101 -- a domain-separation label, not a credential

// ErrInvalid is wrapped by every error Parse and ParseInvite return.
var ErrInvalid = errors.New("paircode: invalid pairing code")

// Code is one pairing code: a non-secret ID and a Secret of exactly
// SecretDigits ASCII decimal digits (leading zeros are significant).
type Code struct {
	ID     uint32 // 1..MaxID
	Secret string // exactly SecretDigits decimal digits
}

// Generate returns a code with the given id and a secret of SecretDigits
// uniformly random digits read from rand (crypto/rand.Reader when nil).
// Each digit comes from one byte below 250 (bytes 250..255 are rejected), so
// every digit is uniform with no modulo bias. It fails if id is out of range
// or rand fails.
func Generate(id uint32, rand io.Reader) (Code, error) {
	if id < 1 || id > MaxID {
		return Code{}, fmt.Errorf("paircode: code id %d out of range 1..%d", id, MaxID)
	}
	if rand == nil {
		rand = crand.Reader
	}
	var digits [SecretDigits]byte
	var buf [16]byte
	n := 0
	for n < SecretDigits {
		if _, err := io.ReadFull(rand, buf[:]); err != nil {
			return Code{}, fmt.Errorf("paircode: read random bytes: %w", err)
		}
		for _, b := range buf {
			if b >= 250 {
				continue
			}
			digits[n] = '0' + b%10
			n++
			if n == SecretDigits {
				break
			}
		}
	}
	return Code{ID: id, Secret: string(digits[:])}, nil
}

// String returns the canonical form "ID-DIGITS", for example "17-482913".
func (c Code) String() string {
	return strconv.FormatUint(uint64(c.ID), 10) + "-" + c.Secret
}

// Password returns the 32-byte PAKE password for this code:
// SHA-256("palyra pairing code password v1" || 0x00 || uint32be(ID) || Secret).
// Binding the id means a secret is only valid with the id it was minted for.
// The daemon keeps this value only sealed (internal/sealed, under a key
// derived from its master key), never the digits.
func (c Code) Password() []byte {
	h := sha256.New()
	h.Write([]byte(passwordLabel))
	var id [4]byte
	binary.BigEndian.PutUint32(id[:], c.ID)
	h.Write(id[:])
	h.Write([]byte(c.Secret))
	return h.Sum(nil)
}

// validate reports whether c has an id in 1..MaxID and a secret of exactly
// SecretDigits decimal digits. The error wraps ErrInvalid and never contains
// the secret.
func (c Code) validate() error {
	if c.ID < 1 || c.ID > MaxID {
		return fmt.Errorf("%w: code id out of range 1..%d", ErrInvalid, MaxID)
	}
	if len(c.Secret) != SecretDigits || !allDigits(c.Secret) {
		return fmt.Errorf("%w: the secret must be %d digits", ErrInvalid, SecretDigits)
	}
	return nil
}

// maxCodeLen bounds the text Parse looks at; a code with separators is far
// shorter.
const maxCodeLen = 64

// Parse reads a code written as "ID-DIGITS", for example "17-482913".
//
// Tolerated, because people retype codes: surrounding whitespace, and single
// spaces or dashes between the secret's digits ("17-482 913", "17-482-913").
// Everything else is an error: a missing id or dash, an id with a sign or a
// leading zero or out of 1..MaxID, a secret with other than SecretDigits
// digits, any other character. The error wraps ErrInvalid and never contains
// the input.
func Parse(s string) (Code, error) {
	if len(s) > maxCodeLen {
		return Code{}, fmt.Errorf("%w: longer than %d characters", ErrInvalid, maxCodeLen)
	}
	s = strings.TrimSpace(s)
	idText, secretText, ok := strings.Cut(s, "-")
	if !ok {
		return Code{}, fmt.Errorf("%w: expected ID-DIGITS, for example 12-345678", ErrInvalid)
	}
	id, err := parseID(idText)
	if err != nil {
		return Code{}, err
	}
	secret, err := parseSecret(secretText)
	if err != nil {
		return Code{}, err
	}
	return Code{ID: id, Secret: secret}, nil
}

func parseID(s string) (uint32, error) {
	if s == "" || len(s) > 5 || !allDigits(s) || s[0] == '0' {
		return 0, fmt.Errorf("%w: the code id must be a number from 1 to %d", ErrInvalid, MaxID)
	}
	n, _ := strconv.ParseUint(s, 10, 32) // at most 5 digits: cannot fail
	return uint32(n), nil
}

// parseSecret drops single separators between digits and checks the count.
func parseSecret(s string) (string, error) {
	var digits [SecretDigits]byte
	n := 0
	prevDigit := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == SecretDigits {
				return "", fmt.Errorf("%w: the secret must be %d digits", ErrInvalid, SecretDigits)
			}
			digits[n] = c
			n++
			prevDigit = true
		case (c == ' ' || c == '-') && prevDigit && i+1 < len(s):
			prevDigit = false
		default:
			return "", fmt.Errorf("%w: the secret must be %d digits (single spaces or dashes between them are allowed)", ErrInvalid, SecretDigits)
		}
	}
	if n != SecretDigits {
		return "", fmt.Errorf("%w: the secret must be %d digits", ErrInvalid, SecretDigits)
	}
	return string(digits[:]), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
