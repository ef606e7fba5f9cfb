package envelope

import (
	"bytes"
	"errors"
	"testing"
)

// The seed corpora live in testdata/fuzz/<FuzzXxx>/ and are written by
// "go test -run TestUpdateTestdata -update" (see vectors_test.go).

// FuzzParse checks that Parse never panics, that anything it accepts is in
// bounds and re-encodes to exactly the same bytes (the encoding is canonical),
// and that anything it rejects is ErrMalformed.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			if e != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = (%v, %v): an error must be ErrMalformed and alone", e, err)
			}
			return
		}
		if len(b) < MinSize || len(b) > MaxSize {
			t.Fatalf("accepted %d bytes, outside [%d, %d]", len(b), MinSize, MaxSize)
		}
		if e.Version != FormatV1 || ValidKEKID(e.KEKID) != nil {
			t.Fatalf("accepted header %d %q", e.Version, e.KEKID)
		}
		if p := len(e.SealedValue) - TagSize; p < PadBlockBytes || p > MaxPaddedBytes || p%PadBlockBytes != 0 {
			t.Fatalf("accepted a sealed value of %d bytes", len(e.SealedValue))
		}
		again, err := e.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed envelope: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("Marshal(Parse(b)) != b")
		}
		e2, err := Parse(again)
		if err != nil || e2.KEKID != e.KEKID || e2.WrapNonce != e.WrapNonce || e2.WrappedDEK != e.WrappedDEK ||
			e2.ValueNonce != e.ValueNonce || !bytes.Equal(e2.SealedValue, e.SealedValue) {
			t.Fatal("Parse(Marshal(e)) != e")
		}
	})
}

// FuzzOpen checks that Open never panics, that it either returns a value or
// one of its three documented errors (never both), and that whatever opens
// is within the size limit and was a well-formed envelope.
func FuzzOpen(f *testing.F) {
	k := testKEK(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := k.Open(testBinding, b)
		if err != nil {
			if v != nil || !isOpenError(err) {
				t.Fatalf("Open = (%d bytes, %v)", len(v), err)
			}
			return
		}
		if len(v) > MaxPlaintextBytes {
			t.Fatalf("opened a %d-byte value", len(v))
		}
		if _, err := Parse(b); err != nil {
			t.Fatalf("opened an envelope Parse rejects: %v", err)
		}
	})
}

// FuzzSealOpen checks Open(Seal(x)) == x for any binding Seal accepts, that
// the envelope opens under no neighbouring binding, and that Seal rejects
// exactly the invalid bindings and oversized values.
func FuzzSealOpen(f *testing.F) {
	k := testKEK(f)
	f.Fuzz(func(t *testing.T, scope, key string, version int64, value []byte) {
		b := Binding{Scope: scope, Key: key, SecretVersion: version}
		env, err := k.Seal(b, value)
		if b.validate() != nil || len(value) > MaxPlaintextBytes {
			if err == nil {
				t.Fatalf("Seal accepted binding %q %q %d with %d bytes", scope, key, version, len(value))
			}
			return
		}
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if len(env) != headerSize(testKEKID)+paddedLen(len(value))+TagSize {
			t.Fatalf("envelope is %d bytes for a %d-byte value", len(env), len(value))
		}
		got, err := k.Open(b, env)
		if err != nil || !bytes.Equal(got, value) {
			t.Fatalf("Open(Seal(x)) = (%d bytes, %v), want x (%d bytes)", len(got), err, len(value))
		}
		for _, other := range []Binding{
			{scope, key, version ^ 1},
			{scope + "x", key, version},
			{scope, key + "x", version},
			{key, scope, version},
		} {
			if other == b || other.validate() != nil {
				continue
			}
			if _, err := k.Open(other, env); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("opened under binding %q %q %d: %v", other.Scope, other.Key, other.SecretVersion, err)
			}
		}
	})
}
