package envelope

import (
	"encoding/binary"
	"fmt"
)

// MaxBindingFieldBytes bounds Binding.Scope and Binding.Key. The vault's own
// grammar is much tighter; this limit only keeps the AAD encoding simple.
const MaxBindingFieldBytes = 1024

// aadLabel starts every AAD so an envelope tag can never verify as some other
// Palyra structure that uses the same key.
const aadLabel = "palyra/vault/envelope"

// Layer bytes separate the two AEAD operations of one envelope, so the AAD of
// the DEK layer is never the AAD of the value layer.
const (
	layerDEK   = 0x01
	layerValue = 0x02
)

// Binding is what an envelope is sealed for: the secret's scope, key and
// version number. It is not stored in the envelope; the opener supplies it
// from where the envelope was found (the database row), which is what makes
// a moved or copied envelope fail to open.
type Binding struct {
	// Scope is the secret's scope, for example "global" or "user:alice";
	// 1..MaxBindingFieldBytes bytes.
	Scope string
	// Key is the secret's name inside the scope; 1..MaxBindingFieldBytes
	// bytes.
	Key string
	// SecretVersion is the secret's version number, >= 1.
	SecretVersion int64
}

func (b Binding) validate() error {
	if len(b.Scope) == 0 || len(b.Scope) > MaxBindingFieldBytes {
		return fmt.Errorf("envelope: binding scope must be 1..%d bytes, got %d", MaxBindingFieldBytes, len(b.Scope))
	}
	if len(b.Key) == 0 || len(b.Key) > MaxBindingFieldBytes {
		return fmt.Errorf("envelope: binding key must be 1..%d bytes, got %d", MaxBindingFieldBytes, len(b.Key))
	}
	if b.SecretVersion < 1 {
		return fmt.Errorf("envelope: binding secret version must be >= 1, got %d", b.SecretVersion)
	}
	return nil
}

// dekAAD is the associated data of the DEK layer: it binds the format
// version, the KEK id and the binding.
func dekAAD(kekID string, b Binding) []byte { return aad(layerDEK, kekID, b) }

// valueAAD is the associated data of the value layer. It binds the same
// fields but leaves the KEK id empty, so that rotating the KEK (Rewrap)
// re-seals only the DEK and never decrypts the value. Nothing is lost: the
// value is sealed under a DEK that exists only inside this envelope, and the
// DEK layer binds the KEK id.
func valueAAD(b Binding) []byte { return aad(layerValue, "", b) }

// aad encodes the associated data of one layer. Every variable-length field
// carries a 2-byte big-endian length, so distinct bindings never encode
// alike: ("a", "bc") and ("ab", "c") differ in their length bytes.
//
//	"palyra/vault/envelope" ‖ u8 format ‖ u8 layer ‖
//	u16 len ‖ kek_id ‖ u16 len ‖ scope ‖ u16 len ‖ key ‖ u64 secret_version
//
// b must be valid (see Binding.validate) and kekID must be empty or pass
// ValidKEKID.
func aad(layer byte, kekID string, b Binding) []byte {
	n := len(aadLabel) + 2 + 2 + len(kekID) + 2 + len(b.Scope) + 2 + len(b.Key) + 8
	out := make([]byte, 0, n)
	out = append(out, aadLabel...)
	out = append(out, FormatV1, layer)
	out = appendString16(out, kekID)
	out = appendString16(out, b.Scope)
	out = appendString16(out, b.Key)
	return binary.BigEndian.AppendUint64(out, uint64(b.SecretVersion)) // #nosec G115 -- two's-complement reinterpretation is injective, which is all the AAD needs; Binding.validate rejects versions < 1
}

func appendString16(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s))) // #nosec G115 -- callers pass a valid Binding (fields <= MaxBindingFieldBytes) and a KEK id <= MaxKEKIDBytes
	return append(b, s...)
}
