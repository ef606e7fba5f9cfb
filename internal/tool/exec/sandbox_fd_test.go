package exec

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInheritedDescriptorsDoNotReachTheProgram reproduces the descriptor
// leak: a file palyrad holds open without O_CLOEXEC (as one its parent
// passed it), 0600 and outside the workspace, was readable by the program
// through its descriptor number. The launcher's two stages mark every
// descriptor from 3 up close-on-exec: the program sees only 0, 1 and 2.
func TestInheritedDescriptorsDoNotReachTheProgram(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("outside-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(secret, unix.O_RDONLY, 0) // no O_CLOEXEC: inherited by every child
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	tl := testTool(t, nil)
	out := python(t, tl, `
import os, sys
o = []
for f in range(0, 4096):
    try:
        os.fstat(f); o.append(f)
    except OSError:
        pass
print(o)
try:
    print(os.pread(int(sys.argv[1]), 64, 0))
except OSError as e:
    print("read", e.errno)
`, strconv.Itoa(fd))
	if out != "[0, 1, 2]\nread 9" {
		t.Fatalf("the program saw more than 0, 1, 2 (inherited fd %d): %q", fd, out)
	}
}
