// Package envelope is the wire format of a vault secret: one value sealed
// under a fresh data-encryption key (DEK), and that DEK sealed under the
// vault's key-encryption key (KEK). The specification, with the byte layout,
// is docs/vault-format.md; this package is its only implementation.
//
// Both layers use XChaCha20-Poly1305, that is ChaCha20-Poly1305 as specified
// in RFC 8439 with the 24-byte nonce extension of draft-irtf-cfrg-xchacha
// (HChaCha20). Nonces are random: the KEK seals one DEK per secret version for
// the life of the vault, and 192-bit random nonces make a collision
// negligible however many that is. A DEK seals exactly one value, so its
// random nonce is defence in depth against a future bug that reuses a DEK.
//
// An envelope is bound, through the AEAD's associated data (AAD), to the
// format version, the KEK id and the secret's scope, key and version number
// (a [Binding]). The DEK layer binds all of these; the value layer binds all
// but the KEK id, so that KEK rotation ([Rewrap]) re-seals only the 32-byte
// DEK. The binding is not stored in the envelope: the opener
// supplies it from where the envelope was found, so an envelope copied to
// another name or version fails to authenticate instead of opening as the
// wrong secret. Every byte of an envelope is authenticated, directly or
// because a change to it changes the key or nonce an AEAD tag was computed
// under.
//
// The value is padded before sealing (ISO/IEC 7816-4: 0x80 then zero bytes, to
// a multiple of [PadBlockBytes]) so the stored length tells only which
// 256-byte bucket the value falls in, not its exact length.
//
// Parsing is strict: [Parse] accepts exactly the encodings [Envelope.Marshal]
// produces, so Marshal(Parse(b)) == b for every b that parses.
//
// The package does no I/O; the vault stores envelopes in SQLite.
package envelope

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Format and size constants of envelope format version 1. Sizes are in bytes.
const (
	// FormatV1 is the first byte of every version 1 envelope.
	FormatV1 = 0x01

	// KeySize is the size of a KEK and of a DEK.
	KeySize = chacha20poly1305.KeySize // 32
	// NonceSize is the size of each XChaCha20-Poly1305 nonce.
	NonceSize = chacha20poly1305.NonceSizeX // 24
	// TagSize is the size of each Poly1305 authentication tag.
	TagSize = chacha20poly1305.Overhead // 16
	// WrappedDEKSize is the size of the sealed DEK: ciphertext then tag.
	WrappedDEKSize = KeySize + TagSize // 48

	// MaxKEKIDBytes bounds the KEK id, which is stored with a 1-byte length.
	MaxKEKIDBytes = 64
	// MaxPlaintextBytes is the largest value Seal accepts (64 KiB).
	MaxPlaintextBytes = 64 << 10
	// PadBlockBytes is the padding granule: a sealed value's plaintext is
	// always a positive multiple of it.
	PadBlockBytes = 256
	// MaxPaddedBytes is the largest padded plaintext: MaxPlaintextBytes plus
	// one block, because padding is always at least one byte.
	MaxPaddedBytes = MaxPlaintextBytes + PadBlockBytes

	// fixedSize is everything but the KEK id and the sealed value.
	fixedSize = 1 + 1 + NonceSize + WrappedDEKSize + NonceSize
	// MinSize and MaxSize bound the length of a well-formed envelope.
	MinSize = fixedSize + 1 + PadBlockBytes + TagSize
	MaxSize = fixedSize + MaxKEKIDBytes + MaxPaddedBytes + TagSize
)

// Errors returned by this package. Callers that only need "this envelope
// cannot be trusted" should treat the first three alike, as the vault does.
var (
	// ErrMalformed means the bytes are not a well-formed envelope of a
	// known format version.
	ErrMalformed = errors.New("envelope: malformed")
	// ErrWrongKEK means the envelope names a KEK id other than the one
	// given to open it.
	ErrWrongKEK = errors.New("envelope: sealed under another KEK id")
	// ErrAuthentication means an AEAD tag did not verify: the envelope was
	// modified, was sealed for another binding, or the KEK is wrong.
	ErrAuthentication = errors.New("envelope: authentication failed")
	// ErrTooLarge means a value passed to Seal is longer than
	// MaxPlaintextBytes.
	ErrTooLarge = errors.New("envelope: value too large")
)

// Envelope is a parsed version 1 envelope. It holds only ciphertext and
// non-secret header fields.
type Envelope struct {
	// Version is the format version; FormatV1 is the only one defined.
	Version byte
	// KEKID names the KEK that sealed the DEK: 1..MaxKEKIDBytes bytes of
	// [A-Za-z0-9._:-]. It is not secret.
	KEKID string
	// WrapNonce is the XChaCha20-Poly1305 nonce of the DEK layer.
	WrapNonce [NonceSize]byte
	// WrappedDEK is the DEK sealed under the KEK: 32 bytes of ciphertext
	// followed by the 16-byte tag.
	WrappedDEK [WrappedDEKSize]byte
	// ValueNonce is the XChaCha20-Poly1305 nonce of the value layer.
	ValueNonce [NonceSize]byte
	// SealedValue is the padded value sealed under the DEK: ciphertext
	// followed by the 16-byte tag. Its length minus TagSize is a positive
	// multiple of PadBlockBytes, at most MaxPaddedBytes.
	SealedValue []byte
}

// Parse decodes a version 1 envelope. It checks every length and field
// syntax but no tag; authentication happens in [KEK.Open]. The returned
// SealedValue aliases b. Any deviation from the format is an error wrapping
// ErrMalformed; Parse never panics.
func Parse(b []byte) (*Envelope, error) {
	if len(b) < MinSize || len(b) > MaxSize {
		return nil, fmt.Errorf("%w: length %d outside [%d, %d]", ErrMalformed, len(b), MinSize, MaxSize)
	}
	if b[0] != FormatV1 {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrMalformed, b[0])
	}
	idLen := int(b[1])
	rest := b[2:]
	if idLen > len(rest) {
		return nil, fmt.Errorf("%w: truncated KEK id", ErrMalformed)
	}
	e := &Envelope{Version: b[0], KEKID: string(rest[:idLen])}
	if err := ValidKEKID(e.KEKID); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	rest = rest[idLen:]
	if len(rest) < NonceSize+WrappedDEKSize+NonceSize {
		return nil, fmt.Errorf("%w: truncated header", ErrMalformed)
	}
	rest = rest[copy(e.WrapNonce[:], rest):]
	rest = rest[copy(e.WrappedDEK[:], rest):]
	rest = rest[copy(e.ValueNonce[:], rest):]
	if err := checkSealedValueLen(len(rest)); err != nil {
		return nil, err
	}
	e.SealedValue = rest
	return e, nil
}

// Marshal encodes e. It fails with ErrMalformed, instead of writing bytes
// Parse would reject, if a field is out of range.
func (e *Envelope) Marshal() ([]byte, error) {
	if e.Version != FormatV1 {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrMalformed, e.Version)
	}
	if err := ValidKEKID(e.KEKID); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := checkSealedValueLen(len(e.SealedValue)); err != nil {
		return nil, err
	}
	b := make([]byte, 0, headerSize(e.KEKID)+len(e.SealedValue))
	b = appendHeader(b, e.KEKID, &e.WrapNonce, &e.WrappedDEK, &e.ValueNonce)
	return append(b, e.SealedValue...), nil
}

// headerSize is the length of everything before the sealed value.
func headerSize(kekID string) int { return fixedSize + len(kekID) }

// appendHeader appends everything before the sealed value. kekID must be
// valid.
func appendHeader(b []byte, kekID string, wrapNonce *[NonceSize]byte, wrappedDEK *[WrappedDEKSize]byte, valueNonce *[NonceSize]byte) []byte {
	b = append(b, FormatV1, byte(len(kekID))) // #nosec G115 -- kekID passed ValidKEKID (1..MaxKEKIDBytes = 64 bytes)
	b = append(b, kekID...)
	b = append(b, wrapNonce[:]...)
	b = append(b, wrappedDEK[:]...)
	return append(b, valueNonce[:]...)
}

func checkSealedValueLen(n int) error {
	p := n - TagSize
	if p < PadBlockBytes || p > MaxPaddedBytes || p%PadBlockBytes != 0 {
		return fmt.Errorf("%w: sealed value length %d is not a tag plus a positive multiple of %d up to %d",
			ErrMalformed, n, PadBlockBytes, MaxPaddedBytes)
	}
	return nil
}

// ValidKEKID reports whether id can name a KEK: 1..MaxKEKIDBytes bytes, each
// an ASCII letter, digit, '.', '_', ':' or '-'. The id is stored in clear in
// every envelope, so it must not be derived from secret material.
func ValidKEKID(id string) error {
	if len(id) == 0 || len(id) > MaxKEKIDBytes {
		return fmt.Errorf("KEK id must be 1..%d bytes, got %d", MaxKEKIDBytes, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fmt.Errorf("KEK id byte %d (0x%02x) is not one of [A-Za-z0-9._:-]", i, c)
		}
	}
	return nil
}
