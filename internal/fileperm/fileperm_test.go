package fileperm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("data"), 0o600)
	for _, tc := range []struct {
		mode    os.FileMode
		kind    Kind
		wantErr bool
	}{
		{0o600, Private, false},
		{0o640, Private, true},
		{0o604, Private, true},
		{0o644, Trusted, false},
		{0o664, Trusted, true},
		{0o646, Trusted, true},
		{0o644, System, false},
		{0o664, System, true},
	} {
		os.Chmod(p, tc.mode)
		_, err := ReadFile(p, tc.kind, 100)
		if (err != nil) != tc.wantErr {
			t.Errorf("mode %04o kind %d: err %v", tc.mode, tc.kind, err)
		}
		if err != nil && !errors.Is(err, ErrInsecure) {
			t.Errorf("mode %04o: error does not wrap ErrInsecure: %v", tc.mode, err)
		}
	}
	os.Chmod(p, 0o600)
	if _, err := ReadFile(p, Private, 3); err == nil {
		t.Error("read past maxBytes")
	}
	if _, err := ReadFile(dir, Private, 100); err == nil {
		t.Error("read a directory")
	}
	// A root-owned file (a system service's /etc/palyra/config.toml) is a
	// System file when only root may write it, never a Private or Trusted one
	// of another user.
	if fi, err := os.Stat("/etc/passwd"); err == nil && fi.Mode().Perm()&0o022 == 0 {
		if _, err := ReadFile("/etc/passwd", System, 1<<20); err != nil {
			t.Errorf("a root-owned 0644 file as System: %v", err)
		}
		if _, err := ReadFile("/etc/passwd", Trusted, 1<<20); os.Getuid() != 0 && !errors.Is(err, ErrInsecure) {
			t.Errorf("a root-owned file as Trusted: %v", err)
		}
	}
	if os.Getuid() == 0 {
		os.Chown(p, 65534, 65534)
		if _, err := ReadFile(p, System, 100); !errors.Is(err, ErrInsecure) {
			t.Errorf("System file of another user: %v", err)
		}
		if _, err := ReadFile(p, Private, 100); !errors.Is(err, ErrInsecure) {
			t.Errorf("file of another user: %v", err)
		}
	}
}
