package masterkey

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	k1, created, err := LoadOrCreateFile(path)
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreateFile(path)
	if err != nil || created {
		t.Fatalf("load: %v created=%v", err, created)
	}
	if k1.b != k2.b {
		t.Fatal("reloaded key differs")
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
	if _, _, err := LoadOrCreateFile(path); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(path)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateFile(path); err == nil {
		t.Fatal("loaded a 0644 key file")
	}
	os.Chmod(path, 0o600)
	for _, bad := range []string{"", "palyra-master-key/v1\nAAAA\n", "junk", string(orig[:len(orig)-3])} {
		os.WriteFile(path, []byte(bad), 0o600)
		if _, _, err := LoadOrCreateFile(path); err == nil {
			t.Fatalf("accepted %q", bad)
		}
		// The corrupt file must not have been replaced by a new key.
		got, _ := os.ReadFile(path)
		if string(got) != bad {
			t.Fatal("corrupt key file was overwritten")
		}
	}
}
