package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func signedCheckpoint(t testing.TB, k ed25519.PrivateKey, origin, text string) []byte {
	t.Helper()
	s, err := newSigner(k, origin)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestParseCheckpoint(t *testing.T) {
	head := [32]byte{1, 2, 3}
	b64 := base64.StdEncoding.EncodeToString(head[:])
	good := testOrigin + "\n42\n" + b64 + "\n"
	otherSigner := signedCheckpoint(t, testKey("other"), testOrigin, good)
	valid := signedCheckpoint(t, key, testOrigin, good)

	c, err := ParseCheckpoint(valid, pub, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if c != (Checkpoint{Origin: testOrigin, Count: 42, Head: head}) {
		t.Fatalf("parsed %+v", c)
	}
	if c.text() != good {
		t.Fatalf("text() = %q, want %q", c.text(), good)
	}

	// A second signature line, even a valid one by another key, is refused.
	twoSigs := append(bytes.Clone(valid), otherSigner[len(good)+1:]...)

	for name, msg := range map[string][]byte{
		"other key":          otherSigner,
		"two signatures":     twoSigs,
		"no signature":       []byte(good + "\n"),
		"unsigned text":      []byte(good),
		"other origin":       signedCheckpoint(t, key, testOrigin, "palyra/other\n42\n"+b64+"\n"),
		"count zero":         signedCheckpoint(t, key, testOrigin, testOrigin+"\n0\n"+b64+"\n"),
		"negative count":     signedCheckpoint(t, key, testOrigin, testOrigin+"\n-1\n"+b64+"\n"),
		"leading zero":       signedCheckpoint(t, key, testOrigin, testOrigin+"\n042\n"+b64+"\n"),
		"plus sign":          signedCheckpoint(t, key, testOrigin, testOrigin+"\n+42\n"+b64+"\n"),
		"count overflow":     signedCheckpoint(t, key, testOrigin, testOrigin+"\n9223372036854775808\n"+b64+"\n"),
		"short head":         signedCheckpoint(t, key, testOrigin, testOrigin+"\n42\n"+b64[:40]+"\n"),
		"unpadded head":      signedCheckpoint(t, key, testOrigin, testOrigin+"\n42\n"+strings.TrimRight(b64, "=")+"\n"),
		"non-canonical head": signedCheckpoint(t, key, testOrigin, testOrigin+"\n42\n"+b64[:42]+"B=\n"),
		"url base64 head":    signedCheckpoint(t, key, testOrigin, testOrigin+"\n42\n"+base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32))+"\n"),
		"extension line":     signedCheckpoint(t, key, testOrigin, good+"extra\n"),
		"two lines":          signedCheckpoint(t, key, testOrigin, testOrigin+"\n42\n"),
		"flipped text":       append([]byte(strings.Replace(good, "42", "43", 1)), valid[len(good):]...),
		"too long":           signedCheckpoint(t, key, testOrigin, testOrigin+"\n42\n"+b64+"\n"+strings.Repeat("x", maxCheckpointBytes)+"\n"),
		"empty":              nil,
	} {
		if c, err := ParseCheckpoint(msg, pub, testOrigin); err == nil {
			t.Errorf("%s: accepted as %+v", name, c)
		} else if !strings.HasPrefix(err.Error(), "audit: checkpoint: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
}

// FuzzParseCheckpoint feeds arbitrary notes to the checkpoint parser, which
// reads rows an attacker may have written. Properties: it never panics,
// refuses oversized input, and whatever it accepts is exactly the note this
// package would have signed for that content.
func FuzzParseCheckpoint(f *testing.F) {
	head := [32]byte{0xde, 0xad, 0xbe, 0xef}
	s, err := newSigner(key, testOrigin)
	if err != nil {
		f.Fatal(err)
	}
	seed, err := s.sign(Checkpoint{Origin: testOrigin, Count: 7, Head: head})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	v, err := newVerifier(pub, testOrigin)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := parseCheckpoint(msg, v, testOrigin)
		if err != nil {
			return
		}
		if len(msg) > maxCheckpointBytes {
			t.Fatalf("accepted %d bytes", len(msg))
		}
		if c.Origin != testOrigin || c.Count < 1 {
			t.Fatalf("accepted %+v", c)
		}
		// The signed text is exactly what this package writes for c.
		if !bytes.HasPrefix(msg, []byte(c.text()+"\n")) {
			t.Fatalf("accepted text that is not the canonical form of %+v", c)
		}
		// Ed25519 is deterministic: re-signing gives a note that parses
		// to the same checkpoint.
		again, err := s.sign(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := parseCheckpoint(again, v, testOrigin)
		if err != nil || c2 != c {
			t.Fatalf("re-signed checkpoint: %+v, %v; want %+v", c2, err, c)
		}
	})
}
