package fsops

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// workspace returns a workspace dir and an outside dir holding "secret".
func workspace(t *testing.T) (ws, out string) {
	t.Helper()
	tmp := t.TempDir()
	ws, out = filepath.Join(tmp, "ws"), filepath.Join(tmp, "out")
	for _, d := range []string{ws, out, filepath.Join(ws, "d")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(out, "secret"), "OUTSIDE")
	write(t, filepath.Join(ws, "d", "f"), "inside")
	return ws, out
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPathsAreRefusedBeforeAnyAccess(t *testing.T) {
	ws, _ := workspace(t)
	for _, rel := range []string{"", "/etc/passwd", "../out/secret", "d/../../out/secret", "d/..", "..", "d/f\x00", "a/\x00/b"} {
		if _, err := Read(ws, rel, 100); !errors.Is(err, ErrPath) {
			t.Errorf("Read(%q) = %v, want ErrPath", rel, err)
		}
		if _, err := Write(ws, rel, []byte("x"), WriteOptions{Create: true}); !errors.Is(err, ErrPath) {
			t.Errorf("Write(%q) = %v, want ErrPath", rel, err)
		}
		if _, err := List(ws, rel, 10); !errors.Is(err, ErrPath) {
			t.Errorf("List(%q) = %v, want ErrPath", rel, err)
		}
	}
	if _, err := Read("relative/ws", "d/f", 10); !errors.Is(err, ErrPath) {
		t.Errorf("relative root: %v", err)
	}
	if _, err := Write(ws, ".", nil, WriteOptions{}); !errors.Is(err, ErrPath) {
		t.Errorf("Write(.) = %v", err)
	}
}

func TestSymlinksOutOfTheWorkspaceAreRefused(t *testing.T) {
	ws, out := workspace(t)
	must(t, os.Symlink(filepath.Join(out, "secret"), filepath.Join(ws, "abs")))
	must(t, os.Symlink("../out/secret", filepath.Join(ws, "rel")))
	must(t, os.Symlink(out, filepath.Join(ws, "dirlink")))
	must(t, os.Symlink("d/f", filepath.Join(ws, "inside")))
	for _, rel := range []string{"abs", "rel", "dirlink/secret", "dirlink/new"} {
		if r, err := Read(ws, rel, 100); err == nil {
			t.Errorf("Read(%q) = %q", rel, r.Data)
		}
		if _, err := Write(ws, rel, []byte("pwned"), WriteOptions{Create: true}); err == nil {
			t.Errorf("Write(%q) succeeded", rel)
		}
	}
	if _, err := Write(ws, "dirlink/sub/new", []byte("pwned"), WriteOptions{Create: true, MakeParents: true}); err == nil {
		t.Error("MakeParents through a symlink out succeeded")
	}
	if _, err := List(ws, "dirlink", 10); err == nil {
		t.Error("List through a symlink out succeeded")
	}
	assertOutsideUntouched(t, out)
	// A link that stays inside is followed.
	r, err := Read(ws, "inside", 100)
	if err != nil || string(r.Data) != "inside" {
		t.Fatalf("in-workspace symlink: %v %q", err, r.Data)
	}
}

func assertOutsideUntouched(t *testing.T, out string) {
	t.Helper()
	ents, err := os.ReadDir(out)
	if err != nil || len(ents) != 1 || ents[0].Name() != "secret" {
		t.Fatalf("outside dir changed: %v %v", ents, err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "secret")); string(b) != "OUTSIDE" {
		t.Fatalf("outside file changed: %q", b)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadBoundsAndKinds(t *testing.T) {
	ws, _ := workspace(t)
	write(t, filepath.Join(ws, "big"), strings.Repeat("x", 5000))
	r, err := Read(ws, "big", 1000)
	if err != nil || len(r.Data) != 1000 || !r.Truncated || r.Size != 5000 {
		t.Fatalf("big: %v len %d truncated %v size %d", err, len(r.Data), r.Truncated, r.Size)
	}
	r, err = Read(ws, "./d//f", 6)
	if err != nil || string(r.Data) != "inside" || r.Truncated {
		t.Fatalf("exact: %v %+v", err, r)
	}
	if _, err := Read(ws, "d", 10); !errors.Is(err, ErrNotRegular) {
		t.Errorf("directory: %v", err)
	}
	must(t, syscall.Mkfifo(filepath.Join(ws, "fifo"), 0o600))
	if _, err := Read(ws, "fifo", 10); !errors.Is(err, ErrNotRegular) {
		t.Errorf("fifo: %v", err)
	}
	if _, err := Write(ws, "fifo", []byte("x"), WriteOptions{}); err == nil {
		t.Error("write to a fifo succeeded")
	}
	if _, err := Read(ws, "missing", 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	if _, err := Read(ws, "d/f", 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("maxBytes 0: %v", err)
	}
}

func TestWriteModesAndLimits(t *testing.T) {
	ws, _ := workspace(t)
	res, err := Write(ws, "a/b/new.txt", []byte("one"), WriteOptions{Create: true, MakeParents: true})
	if err != nil || !res.Created || res.Written != 3 || res.Size != 3 {
		t.Fatalf("create: %v %+v", err, res)
	}
	for p, want := range map[string]fs.FileMode{"a": 0o700, "a/b": 0o700, "a/b/new.txt": 0o600} {
		fi, err := os.Stat(filepath.Join(ws, p))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (%v)", p, fi.Mode().Perm(), want, err)
		}
	}
	if _, err := Write(ws, "a/b/new.txt", []byte("x"), WriteOptions{Create: true, Exclusive: true}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("exclusive: %v", err)
	}
	if _, err := Write(ws, "nope/x", []byte("x"), WriteOptions{Create: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing parent without MakeParents: %v", err)
	}
	if _, err := Write(ws, "absent", []byte("x"), WriteOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file without Create: %v", err)
	}
	res, err = Write(ws, "a/b/new.txt", []byte("-two"), WriteOptions{Append: true})
	if err != nil || res.Created || res.Size != 7 {
		t.Fatalf("append: %v %+v", err, res)
	}
	res, err = Write(ws, "a/b/new.txt", []byte("r"), WriteOptions{Create: true})
	if err != nil || res.Created || res.Size != 1 {
		t.Fatalf("replace: %v %+v", err, res)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "a/b/new.txt")); string(b) != "r" {
		t.Fatalf("content %q", b)
	}
	// Limits: a refused write leaves the file as it was.
	if _, err := Write(ws, "a/b/new.txt", []byte("12345"), WriteOptions{MaxFileBytes: 4}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over limit: %v", err)
	}
	if _, err := Write(ws, "a/b/new.txt", []byte("123"), WriteOptions{Append: true, MaxFileBytes: 3}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("append over limit: %v", err)
	}
	if _, err := Write(ws, "fresh", make([]byte, DefaultMaxFileBytes+1), WriteOptions{Create: true}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the default limit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ws, "fresh")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a refused write created its file")
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "a/b/new.txt")); string(b) != "r" {
		t.Fatalf("refused writes changed the file: %q", b)
	}
}

func TestWriteRefusesHardLinkedFiles(t *testing.T) {
	ws, out := workspace(t)
	if err := os.Link(filepath.Join(out, "secret"), filepath.Join(ws, "hl")); err != nil {
		t.Skip("hard links unsupported:", err)
	}
	if _, err := Write(ws, "hl", []byte("pwned"), WriteOptions{}); !errors.Is(err, ErrHardLinked) {
		t.Fatalf("err = %v", err)
	}
	assertOutsideUntouched(t, out)
}

// TestReadRefusesHardLinkedFiles: a hard link in the workspace to a file
// outside it (as the daemon's uid could make with ln) is not read.
func TestReadRefusesHardLinkedFiles(t *testing.T) {
	ws, out := workspace(t)
	if err := os.Link(filepath.Join(out, "secret"), filepath.Join(ws, "hl")); err != nil {
		t.Skip("hard links unsupported:", err)
	}
	if res, err := Read(ws, "hl", 1<<20); !errors.Is(err, ErrHardLinked) || len(res.Data) != 0 {
		t.Fatalf("err = %v, %d bytes read", err, len(res.Data))
	}
}

func TestList(t *testing.T) {
	ws, out := workspace(t)
	write(t, filepath.Join(ws, "b.txt"), "bb")
	must(t, os.Symlink(out, filepath.Join(ws, "link")))
	res, err := List(ws, ".", 10)
	if err != nil || res.Truncated {
		t.Fatal(err, res.Truncated)
	}
	var got []string
	for _, e := range res.Entries {
		got = append(got, e.Name+":"+string(e.Type))
	}
	if strings.Join(got, " ") != "b.txt:file d:dir link:symlink" {
		t.Fatalf("entries %v", got)
	}
	if res.Entries[0].Size != 2 {
		t.Errorf("size %d", res.Entries[0].Size)
	}
	res, err = List(ws, ".", 2)
	if err != nil || !res.Truncated || len(res.Entries) != 2 {
		t.Fatalf("bounded: %v %+v", err, res)
	}
	if _, err := List(ws, "b.txt", 10); err == nil {
		t.Error("List of a file succeeded")
	}
	if _, err := List(ws, ".", 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("maxEntries 0: %v", err)
	}
}

// TestSwappedParentNeverReachesOutside races the operations against a
// goroutine that keeps replacing the workspace's directory d by a symbolic
// link to the outside directory and back. Nothing outside may ever be read,
// listed or written. A control reader that opens path strings naively must
// see the outside file, proving the race window is real.
func TestSwappedParentNeverReachesOutside(t *testing.T) {
	ws, out := workspace(t)
	d, real := filepath.Join(ws, "d"), filepath.Join(ws, "d.real")
	write(t, filepath.Join(out, "f"), "OUTSIDE")   // same name as d/f
	write(t, filepath.Join(ws, "d", "secret"), "") // same name as out/secret
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = os.Rename(d, real)
			_ = os.Symlink(out, d)
			_ = os.Remove(d)
			_ = os.Rename(real, d)
			time.Sleep(20 * time.Microsecond) // leave the real directory in place for a while too
		}
	}()
	var ok, refused, naiveOutside int
	for i := 0; i < 3000; i++ {
		if b, err := os.ReadFile(filepath.Join(ws, "d", "f")); err == nil && bytes.Equal(b, []byte("OUTSIDE")) {
			naiveOutside++
		}
		r, err := Read(ws, "d/f", 100)
		if err == nil {
			ok++
			if string(r.Data) == "OUTSIDE" {
				t.Fatal("read a file outside the workspace")
			}
		} else {
			refused++
		}
		_, _ = Write(ws, "d/f", []byte("inside"), WriteOptions{})
		_, _ = Write(ws, "d/new", []byte("pwned"), WriteOptions{Create: true})
		if l, err := List(ws, "d", 100); err == nil {
			for _, e := range l.Entries {
				if e.Name == "f" && e.Size == int64(len("OUTSIDE")) {
					t.Fatal("listed the outside directory")
				}
			}
		}
	}
	close(stop)
	<-done
	t.Logf("reads: %d ok, %d refused; naive reader saw outside %d times", ok, refused, naiveOutside)
	if ok == 0 {
		t.Fatal("no read ever succeeded; the workspace directory was never in place")
	}
	if naiveOutside == 0 {
		t.Fatal("the swap never raced the naive reader; the test proves nothing")
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 2 {
		t.Fatalf("outside dir gained entries: %v", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "f")); string(b) != "OUTSIDE" {
		t.Fatalf("outside file written: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "secret")); string(b) != "OUTSIDE" {
		t.Fatalf("outside file written: %q", b)
	}
}

func TestPathForContext(t *testing.T) {
	for rel, want := range map[string]string{"a//b/./c": "/ws/a/b/c", ".": "/ws", "x/": "/ws/x"} {
		if got, err := Path("/ws", rel); err != nil || got != want {
			t.Errorf("Path(%q) = %q, %v; want %q", rel, got, err, want)
		}
	}
	for _, c := range [][2]string{{"/ws", "../x"}, {"/ws", "/etc"}, {"/ws", ""}, {"ws", "a"}} {
		if _, err := Path(c[0], c[1]); !errors.Is(err, ErrPath) {
			t.Errorf("Path(%q, %q) = %v, want ErrPath", c[0], c[1], err)
		}
	}
}
