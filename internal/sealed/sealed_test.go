package sealed

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

var testKey = bytes.Repeat([]byte{7}, 32)

func TestRoundTripAndBinding(t *testing.T) {
	pt := []byte("private key material")
	blob, err := Seal(testKey, "identity", pt)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, pt) {
		t.Fatal("plaintext visible in blob")
	}
	got, err := Open(testKey, "identity", blob)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("open: %v", err)
	}
	if _, err := Open(testKey, "ca-key", blob); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("opened under another name: %v", err)
	}
	other := bytes.Repeat([]byte{8}, 32)
	if _, err := Open(other, "identity", blob); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("opened with another key: %v", err)
	}
	for i := range blob {
		b := bytes.Clone(blob)
		b[i] ^= 0x01
		if _, err := Open(testKey, "identity", b); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("flipped byte %d accepted: %v", i, err)
		}
	}
}

func TestWriteFileIs0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.sealed")
	if err := WriteFile(path, testKey, "identity", []byte("x")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat: %v mode %v", err, fi.Mode())
	}
	got, err := ReadFile(path, testKey, "identity")
	if err != nil || string(got) != "x" {
		t.Fatalf("read back: %q %v", got, err)
	}
}

// FuzzOpen checks that arbitrary bytes never panic Open and that whatever
// opens was sealed by us: every seed sealed the plaintext "seed" under
// testKey for "identity", so anything else that opens would be a forgery.
func FuzzOpen(f *testing.F) {
	blob, _ := Seal(testKey, "identity", []byte("seed"))
	f.Add(blob)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := Open(testKey, "identity", b)
		if err == nil && string(pt) != "seed" {
			t.Fatalf("forged blob opened to %q", pt)
		}
		if err == nil {
			if _, err := Open(testKey, "ca-key", b); err == nil {
				t.Fatal("blob opened under another name")
			}
		}
	})
}
