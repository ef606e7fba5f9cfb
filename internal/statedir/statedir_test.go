package statedir

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCreateAndCheck(t *testing.T) {
	l, err := At(filepath.Join(t.TempDir(), "a", "state"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Create(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(l.Dir)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %04o", fi.Mode().Perm())
	}
	os.Chmod(l.Dir, 0o750)
	if err := l.Check(); err == nil {
		t.Fatal("accepted a 0750 state directory")
	}
	if err := l.Create(); err == nil {
		t.Fatal("Create accepted an existing 0750 directory")
	}
}
