package masterkey

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/palyra/palyra/internal/fileperm"
)

func TestWriteAndLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	k1, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := k1.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadFile(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if k1.b != k2.b {
		t.Fatal("reloaded key differs")
	}
	if err := k1.WriteFile(path); err == nil {
		t.Fatal("WriteFile replaced an existing key file")
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestDeriveSeparatesLabels(t *testing.T) {
	k, err := New()
	if err != nil {
		t.Fatal(err)
	}
	a, b := k.Derive(LabelVaultKEK), k.Derive(LabelIdentitySeal)
	if len(a) != Size || bytes.Equal(a, b) || bytes.Equal(a, k.b[:]) {
		t.Fatal("sub-keys must be 32 bytes, distinct per label and differ from the master key")
	}
	if !bytes.Equal(a, k.Derive(LabelVaultKEK)) {
		t.Fatal("derive is not deterministic")
	}
}

func TestRejectsInsecureOrCorruptFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	k, _ := New()
	if err := k.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(path)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); !errors.Is(err, fileperm.ErrInsecure) {
		t.Fatalf("loaded a 0644 key file: %v", err)
	}
	os.Chmod(path, 0o600)
	for _, bad := range []string{"", "palyra-master-key/v1\nAAAA\n", "junk", string(orig[:len(orig)-3])} {
		os.WriteFile(path, []byte(bad), 0o600)
		if _, err := LoadFile(path); err == nil {
			t.Fatalf("accepted %q", bad)
		}
		// The corrupt file must not have been replaced by a new key.
		got, _ := os.ReadFile(path)
		if string(got) != bad {
			t.Fatal("corrupt key file was overwritten")
		}
	}
	// A FIFO planted at the path is refused without hanging the start.
	os.Remove(path)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err == nil {
		t.Fatal("loaded a FIFO")
	}
}
