package envelope

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// KEK is a key-encryption key with its id, ready to seal and open envelopes.
// It is safe for concurrent use.
//
// The AEAD keeps its own copy of the key on the heap, which Go gives no way
// to clear; drop the *KEK when done and let the caller clear the key bytes it
// passed to NewKEK.
type KEK struct {
	id   string
	aead cipher.AEAD
}

// NewKEK returns a KEK for the 32-byte key and the non-secret id that will be
// written into, and bound to, every envelope it seals. id must pass
// ValidKEKID. The key bytes are copied; the caller keeps ownership of key.
func NewKEK(id string, key []byte) (*KEK, error) {
	if err := ValidKEKID(id); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("envelope: KEK must be %d bytes, got %d", KeySize, len(key))
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return &KEK{id: id, aead: aead}, nil
}

// ID returns the KEK id given to NewKEK.
func (k *KEK) ID() string { return k.id }

// Seal encrypts value (0..MaxPlaintextBytes bytes) into a new version 1
// envelope bound to b: it draws a fresh random DEK and two random nonces,
// seals the padded value under the DEK and the DEK under k, both with
// XChaCha20-Poly1305 (RFC 8439 with 24-byte nonces). The DEK is cleared before
// Seal returns, and the padded plaintext is encrypted in place, so the result
// holds no plaintext. value is not modified. Errors wrap ErrTooLarge for an
// oversized value; an invalid b is an error too.
func (k *KEK) Seal(b Binding, value []byte) ([]byte, error) {
	if len(value) > MaxPlaintextBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(value), MaxPlaintextBytes)
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	var dek [KeySize]byte
	defer clear(dek[:])
	rand.Read(dek[:]) // never fails since Go 1.24: it crashes the program instead
	valueAEAD, err := chacha20poly1305.NewX(dek[:])
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	var wrapNonce, valueNonce [NonceSize]byte
	rand.Read(wrapNonce[:])
	rand.Read(valueNonce[:])
	var wrappedDEK [WrappedDEKSize]byte
	k.aead.Seal(wrappedDEK[:0], wrapNonce[:], dek[:], dekAAD(k.id, b))

	hdr := headerSize(k.id)
	padded := paddedLen(len(value))
	out := make([]byte, hdr+padded, hdr+padded+TagSize)
	appendHeader(out[:0], k.id, &wrapNonce, &wrappedDEK, &valueNonce)
	body := out[hdr:]
	copy(body, value)
	body[len(value)] = 0x80 // the rest of body is already zero
	// Sealing body into body[:0] overwrites the plaintext with ciphertext.
	sealed := valueAEAD.Seal(body[:0], valueNonce[:], body, valueAAD(b))
	return out[:hdr+len(sealed)], nil
}

// Open authenticates and decrypts an envelope sealed by Seal for b. Errors
// wrap ErrMalformed (not a well-formed version 1 envelope), ErrWrongKEK (the
// envelope names another KEK id) or ErrAuthentication (a tag failed: the bytes
// were modified, b is not the binding they were sealed for, or the KEK is
// wrong). Open never returns a value together with an error, and never
// panics on any input. The DEK is cleared before Open returns; the returned
// value belongs to the caller, who should clear it when done.
func (k *KEK) Open(b Binding, envelope []byte) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	e, err := Parse(envelope)
	if err != nil {
		return nil, err
	}
	if e.KEKID != k.id {
		return nil, fmt.Errorf("%w: envelope names %q, the KEK is %q", ErrWrongKEK, e.KEKID, k.id)
	}
	var dek [KeySize]byte
	defer clear(dek[:])
	if err := k.openDEK(&dek, e, b); err != nil {
		return nil, err
	}
	valueAEAD, err := chacha20poly1305.NewX(dek[:])
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	padded, err := valueAEAD.Open(nil, e.ValueNonce[:], e.SealedValue, valueAAD(b))
	if err != nil {
		return nil, fmt.Errorf("%w: value layer", ErrAuthentication)
	}
	n, ok := unpad(padded)
	if !ok {
		// Only a holder of the KEK can produce this: the tag verified.
		clear(padded)
		return nil, fmt.Errorf("%w: value padding is not canonical", ErrMalformed)
	}
	return padded[:n:n], nil
}

// Rewrap re-seals the DEK of an envelope sealed by from for b under to, with
// a fresh nonce, and returns the new envelope. The value layer is copied
// unchanged and never decrypted (its AAD leaves out the KEK id for exactly
// this reason), so KEK rotation costs one 32-byte AEAD open and seal per
// envelope whatever the value size. Errors are those of Open for the DEK
// layer; the value layer is not checked.
func Rewrap(from, to *KEK, b Binding, envelope []byte) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	e, err := Parse(envelope)
	if err != nil {
		return nil, err
	}
	if e.KEKID != from.id {
		return nil, fmt.Errorf("%w: envelope names %q, the KEK is %q", ErrWrongKEK, e.KEKID, from.id)
	}
	var dek [KeySize]byte
	defer clear(dek[:])
	if err := from.openDEK(&dek, e, b); err != nil {
		return nil, err
	}
	out := &Envelope{
		Version:     FormatV1,
		KEKID:       to.id,
		ValueNonce:  e.ValueNonce,
		SealedValue: e.SealedValue,
	}
	rand.Read(out.WrapNonce[:])
	to.aead.Seal(out.WrappedDEK[:0], out.WrapNonce[:], dek[:], dekAAD(to.id, b))
	return out.Marshal()
}

// openDEK authenticates and decrypts e's DEK into dek.
func (k *KEK) openDEK(dek *[KeySize]byte, e *Envelope, b Binding) error {
	if _, err := k.aead.Open(dek[:0], e.WrapNonce[:], e.WrappedDEK[:], dekAAD(k.id, b)); err != nil {
		return fmt.Errorf("%w: DEK layer", ErrAuthentication)
	}
	return nil
}

// paddedLen is the padded length of an n-byte value: the next multiple of
// PadBlockBytes strictly above n, so there is always room for the 0x80.
func paddedLen(n int) int { return (n/PadBlockBytes + 1) * PadBlockBytes }

// unpad returns the value length of a padded plaintext and whether the
// padding is canonical: 0x80 followed by zero bytes, 1..PadBlockBytes long
// in total. It runs only on authenticated plaintext, so it need not be
// constant-time.
func unpad(p []byte) (int, bool) {
	for i := len(p) - 1; i >= 0 && i >= len(p)-PadBlockBytes; i-- {
		switch p[i] {
		case 0x00:
		case 0x80:
			return i, true
		default:
			return 0, false
		}
	}
	return 0, false
}
