package envelope

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// testKEKBytes and testKEKID are the KEK of the fuzz seeds and test vectors.
var testKEKBytes = []byte{
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
}

const testKEKID = "test-kek.1"

var testBinding = Binding{Scope: "global", Key: "openai_api_key", SecretVersion: 1}

func mustKEK(t testing.TB, id string, key []byte) *KEK {
	t.Helper()
	k, err := NewKEK(id, key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testKEK(t testing.TB) *KEK { return mustKEK(t, testKEKID, testKEKBytes) }

func otherKEKBytes() []byte { return bytes.Repeat([]byte{0xa5}, KeySize) }

func TestSealOpenRoundTrip(t *testing.T) {
	k := testKEK(t)
	for _, n := range []int{0, 1, 16, 255, 256, 257, 511, 512, 4096, MaxPlaintextBytes - 1, MaxPlaintextBytes} {
		value := bytes.Repeat([]byte("sk-SECRET"), n/9+1)[:n]
		env, err := k.Seal(testBinding, value)
		if err != nil {
			t.Fatalf("n=%d: seal: %v", n, err)
		}
		if want := headerSize(testKEKID) + paddedLen(n) + TagSize; len(env) != want {
			t.Errorf("n=%d: envelope is %d bytes, want %d", n, len(env), want)
		}
		if n >= 9 && bytes.Contains(env, []byte("sk-SECRET")) {
			t.Errorf("n=%d: plaintext visible in envelope", n)
		}
		e, err := Parse(env)
		if err != nil {
			t.Fatalf("n=%d: parse: %v", n, err)
		}
		if e.KEKID != testKEKID || e.Version != FormatV1 {
			t.Errorf("n=%d: header = %d %q", n, e.Version, e.KEKID)
		}
		again, err := e.Marshal()
		if err != nil || !bytes.Equal(again, env) {
			t.Errorf("n=%d: Marshal(Parse(env)) != env (%v)", n, err)
		}
		got, err := k.Open(testBinding, env)
		if err != nil {
			t.Fatalf("n=%d: open: %v", n, err)
		}
		if !bytes.Equal(got, value) {
			t.Fatalf("n=%d: open returned a different value", n)
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	k := testKEK(t)
	a, _ := k.Seal(testBinding, []byte("v"))
	b, _ := k.Seal(testBinding, []byte("v"))
	ea, _ := Parse(a)
	eb, _ := Parse(b)
	if ea.WrapNonce == eb.WrapNonce || ea.ValueNonce == eb.ValueNonce || ea.WrappedDEK == eb.WrappedDEK {
		t.Fatal("two seals of one value share a nonce or DEK")
	}
}

func TestOpenRejectsEveryBitFlip(t *testing.T) {
	k := testKEK(t)
	env, err := k.Seal(testBinding, []byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range env {
		for bit := range 8 {
			mod := bytes.Clone(env)
			mod[i] ^= 1 << bit
			got, err := k.Open(testBinding, mod)
			if err == nil || got != nil {
				t.Fatalf("byte %d bit %d flipped: opened (%q, %v)", i, bit, got, err)
			}
			if !isOpenError(err) {
				t.Fatalf("byte %d bit %d: unexpected error kind %v", i, bit, err)
			}
		}
	}
}

func TestOpenRejectsTruncationAndExtension(t *testing.T) {
	k := testKEK(t)
	env, _ := k.Seal(testBinding, []byte("hunter2"))
	for n := range len(env) {
		if _, err := k.Open(testBinding, env[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: opened", n)
		}
	}
	for _, tail := range [][]byte{{0}, bytes.Repeat([]byte{0}, TagSize), bytes.Repeat([]byte{0}, PadBlockBytes)} {
		if _, err := k.Open(testBinding, append(bytes.Clone(env), tail...)); err == nil {
			t.Fatalf("extended by %d bytes: opened", len(tail))
		}
	}
}

func TestOpenRejectsOtherBinding(t *testing.T) {
	k := testKEK(t)
	sealedFor := Binding{Scope: "user:a", Key: "bc", SecretVersion: 2}
	env, _ := k.Seal(sealedFor, []byte("hunter2"))
	for _, tc := range []struct {
		name string
		b    Binding
	}{
		{"other scope", Binding{"user:b", "bc", 2}},
		{"other key", Binding{"user:a", "bd", 2}},
		{"older version", Binding{"user:a", "bc", 1}},
		{"newer version", Binding{"user:a", "bc", 3}},
		{"boundary moved into key", Binding{"user:", "abc", 2}},
		{"boundary moved into scope", Binding{"user:ab", "c", 2}},
		{"scope and key swapped", Binding{"bc", "user:a", 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := k.Open(tc.b, env)
			if !errors.Is(err, ErrAuthentication) || got != nil {
				t.Fatalf("Open = (%q, %v), want ErrAuthentication", got, err)
			}
		})
	}
}

func TestAADIsInjective(t *testing.T) {
	pairs := [][2]Binding{
		{{"a", "bc", 1}, {"ab", "c", 1}},
		{{"global", "k", 1}, {"global", "k", 1 << 8}},
		{{"global", "k", 1}, {"global", "k\x00", 1}},
	}
	for _, p := range pairs {
		for _, kekID := range []string{"", "k1"} {
			if bytes.Equal(aad(layerDEK, kekID, p[0]), aad(layerDEK, kekID, p[1])) {
				t.Errorf("AAD(%+v) == AAD(%+v)", p[0], p[1])
			}
		}
	}
	if bytes.Equal(aad(layerDEK, "", testBinding), aad(layerValue, "", testBinding)) {
		t.Error("the two layers share an AAD")
	}
	if bytes.Equal(dekAAD("ab", testBinding), dekAAD("a", Binding{"bglobal", testBinding.Key, 1})) {
		t.Error("KEK id and scope are not separated")
	}
}

func TestWrongKEK(t *testing.T) {
	env, _ := testKEK(t).Seal(testBinding, []byte("hunter2"))
	if _, err := mustKEK(t, testKEKID, otherKEKBytes()).Open(testBinding, env); !errors.Is(err, ErrAuthentication) {
		t.Errorf("same id, other key: %v, want ErrAuthentication", err)
	}
	if _, err := mustKEK(t, "other", testKEKBytes).Open(testBinding, env); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("other id, same key: %v, want ErrWrongKEK", err)
	}
}

func TestSwappedLayersFail(t *testing.T) {
	// A DEK from one envelope with the value of another: both are valid
	// layers, for the same binding and KEK, but were never sealed together.
	k := testKEK(t)
	a, _ := k.Seal(testBinding, []byte("value a"))
	b, _ := k.Seal(testBinding, []byte("value b"))
	ea, _ := Parse(a)
	eb, _ := Parse(b)
	ea.SealedValue, ea.ValueNonce = eb.SealedValue, eb.ValueNonce
	mixed, err := ea.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(testBinding, mixed); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("mixed envelope: %v, want ErrAuthentication", err)
	}
}

func TestRewrap(t *testing.T) {
	oldK := testKEK(t)
	newK := mustKEK(t, "kek-2", otherKEKBytes())
	env, _ := oldK.Seal(testBinding, []byte("hunter2"))
	re, err := Rewrap(oldK, newK, testBinding, env)
	if err != nil {
		t.Fatal(err)
	}
	got, err := newK.Open(testBinding, re)
	if err != nil || string(got) != "hunter2" {
		t.Fatalf("open rewrapped: %q, %v", got, err)
	}
	if _, err := oldK.Open(testBinding, re); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("old KEK opened rewrapped envelope: %v", err)
	}
	eOld, _ := Parse(env)
	eNew, _ := Parse(re)
	if !bytes.Equal(eOld.SealedValue, eNew.SealedValue) || eOld.ValueNonce != eNew.ValueNonce {
		t.Error("rewrap changed the value layer")
	}
	if eOld.WrapNonce == eNew.WrapNonce {
		t.Error("rewrap reused the wrap nonce")
	}
	if _, err := Rewrap(newK, oldK, testBinding, env); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("rewrap with the wrong source KEK: %v", err)
	}
	other := Binding{Scope: "global", Key: "other", SecretVersion: 1}
	if _, err := Rewrap(oldK, newK, other, env); !errors.Is(err, ErrAuthentication) {
		t.Errorf("rewrap for the wrong binding: %v", err)
	}
}

func TestNonCanonicalPaddingRejected(t *testing.T) {
	// Forge, with the KEK, envelopes whose padding Seal would never write.
	k := testKEK(t)
	for _, tc := range []struct {
		name   string
		padded []byte
	}{
		{"no marker", make([]byte, PadBlockBytes)},
		{"nonzero after marker", append(append([]byte("v\x80"), make([]byte, PadBlockBytes-3)...), 1)},
		{"a whole block too much", append([]byte("v\x80"), make([]byte, 2*PadBlockBytes-2)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := sealPadded(t, k, testBinding, tc.padded)
			if _, err := k.Open(testBinding, env); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Open = %v, want ErrMalformed", err)
			}
		})
	}
}

// sealPadded builds an envelope around an arbitrary padded plaintext.
func sealPadded(t *testing.T, k *KEK, b Binding, padded []byte) []byte {
	t.Helper()
	dek := bytes.Repeat([]byte{9}, KeySize)
	e := &Envelope{Version: FormatV1, KEKID: k.id}
	k.aead.Seal(e.WrappedDEK[:0], e.WrapNonce[:], dek, dekAAD(k.id, b))
	v := mustKEK(t, "x", dek)
	e.SealedValue = v.aead.Seal(nil, e.ValueNonce[:], padded, valueAAD(b))
	env, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestParseRejects(t *testing.T) {
	valid, _ := testKEK(t).Seal(testBinding, []byte("hunter2"))
	idEnd := 2 + len(testKEKID)
	set := func(i int, c byte) []byte { b := bytes.Clone(valid); b[i] = c; return b }
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"version only", []byte{FormatV1}},
		{"one short of minimum", make([]byte, MinSize-1)},
		{"one over maximum", append([]byte{FormatV1, 1, 'k'}, make([]byte, MaxSize-2)...)},
		{"version 0", set(0, 0)},
		{"version 2", set(0, 2)},
		{"version 0xff", set(0, 0xff)},
		{"empty KEK id", set(1, 0)},
		{"KEK id longer than limit", set(1, MaxKEKIDBytes+1)},
		{"KEK id length 255", set(1, 0xff)},
		{"KEK id with space", set(2, ' ')},
		{"KEK id with NUL", set(2, 0)},
		{"KEK id with slash", set(2, '/')},
		{"KEK id with high byte", set(2, 0xc3)},
		{"sealed value one byte short", valid[:len(valid)-1]},
		{"sealed value one byte long", append(bytes.Clone(valid), 0)},
		{"sealed value is only a tag", valid[:idEnd+2*NonceSize+WrappedDEKSize+TagSize]},
		{"sealed value a tag and a half block", valid[:idEnd+2*NonceSize+WrappedDEKSize+TagSize+PadBlockBytes/2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.b)
			if !errors.Is(err, ErrMalformed) || e != nil {
				t.Fatalf("Parse = (%v, %v), want ErrMalformed", e, err)
			}
		})
	}
}

func TestMarshalRejectsInvalid(t *testing.T) {
	good := func() *Envelope {
		return &Envelope{Version: FormatV1, KEKID: "k", SealedValue: make([]byte, PadBlockBytes+TagSize)}
	}
	if _, err := good().Marshal(); err != nil {
		t.Fatalf("valid envelope: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Envelope)
	}{
		{"version", func(e *Envelope) { e.Version = 2 }},
		{"empty KEK id", func(e *Envelope) { e.KEKID = "" }},
		{"long KEK id", func(e *Envelope) { e.KEKID = strings.Repeat("k", MaxKEKIDBytes+1) }},
		{"nil sealed value", func(e *Envelope) { e.SealedValue = nil }},
		{"unaligned sealed value", func(e *Envelope) { e.SealedValue = make([]byte, PadBlockBytes+TagSize+1) }},
		{"oversized sealed value", func(e *Envelope) { e.SealedValue = make([]byte, MaxPaddedBytes+PadBlockBytes+TagSize) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := good()
			tc.edit(e)
			if _, err := e.Marshal(); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Marshal = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestSealRejects(t *testing.T) {
	k := testKEK(t)
	if _, err := k.Seal(testBinding, make([]byte, MaxPlaintextBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized value: %v, want ErrTooLarge", err)
	}
	for _, b := range []Binding{
		{"", "k", 1},
		{"s", "", 1},
		{"s", "k", 0},
		{"s", "k", -1},
		{strings.Repeat("s", MaxBindingFieldBytes+1), "k", 1},
		{"s", strings.Repeat("k", MaxBindingFieldBytes+1), 1},
	} {
		if _, err := k.Seal(b, []byte("v")); err == nil {
			t.Errorf("Seal(%q, %q, %d) accepted an invalid binding", b.Scope, b.Key, b.SecretVersion)
		}
		if _, err := k.Open(b, nil); err == nil {
			t.Errorf("Open(%q, %q, %d) accepted an invalid binding", b.Scope, b.Key, b.SecretVersion)
		}
	}
}

func TestNewKEKRejects(t *testing.T) {
	for _, tc := range []struct {
		id  string
		key []byte
	}{
		{"k", nil},
		{"k", make([]byte, KeySize-1)},
		{"k", make([]byte, KeySize+1)},
		{"", make([]byte, KeySize)},
		{"bad id", make([]byte, KeySize)},
		{strings.Repeat("k", MaxKEKIDBytes+1), make([]byte, KeySize)},
	} {
		if _, err := NewKEK(tc.id, tc.key); err == nil {
			t.Errorf("NewKEK(%q, %d bytes) succeeded", tc.id, len(tc.key))
		}
	}
	if _, err := NewKEK(strings.Repeat("k", MaxKEKIDBytes), make([]byte, KeySize)); err != nil {
		t.Errorf("maximum-length id: %v", err)
	}
}

func TestErrorsDoNotContainValue(t *testing.T) {
	k := testKEK(t)
	value := []byte("sk-live-DO-NOT-LEAK")
	env, _ := k.Seal(testBinding, value)
	env[len(env)-1] ^= 1
	_, err := k.Open(testBinding, env)
	if err == nil || strings.Contains(err.Error(), string(value)) {
		t.Fatalf("error %v", err)
	}
}

// isOpenError reports whether err is one of the documented Open failures.
func isOpenError(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrWrongKEK) || errors.Is(err, ErrAuthentication)
}
