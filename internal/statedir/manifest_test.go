package statedir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palyra/palyra/internal/sqlitedb"
)

// makeParts creates stand-ins for every part: key files with content and
// real (empty) SQLite databases.
func makeParts(t *testing.T, l Layout) {
	t.Helper()
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range l.parts() {
		if p.kind == kindKey {
			if err := os.WriteFile(p.path, []byte("content of "+p.name), 0o600); err != nil {
				t.Fatal(err)
			}
			continue
		}
		db, err := sqlitedb.Open(context.Background(), p.path, []string{"CREATE TABLE t (x)"})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
}

func TestManifest(t *testing.T) {
	ctx := context.Background()
	l, _ := At(filepath.Join(t.TempDir(), "state"))
	if in, err := l.Inspect(ctx); err != nil || in.State != Fresh {
		t.Fatalf("absent: %+v %v", in, err)
	}
	makeParts(t, l)
	if in, err := l.Inspect(ctx); err != nil || in.State != Unrecorded || len(in.Problems) != 0 {
		t.Fatalf("unrecorded: %+v %v", in, err)
	}
	stamped, err := l.Record(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	if err != nil || len(stamped) != 3 {
		t.Fatalf("record: %v %v", stamped, err)
	}
	in, err := l.Inspect(ctx)
	if err != nil || in.State != Recorded || len(in.Problems) != 0 {
		t.Fatalf("recorded: %+v %v", in, err)
	}
	if fi, err := os.Stat(filepath.Join(l.Dir, ManifestFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("manifest mode: %v %v", fi.Mode(), err)
	}
	// Re-recording keeps the instance ids: nothing is stamped again.
	if stamped, err := l.Record(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV"); err != nil || len(stamped) != 0 {
		t.Fatalf("re-record: %v %v", stamped, err)
	}

	os.Remove(l.Audit)
	os.WriteFile(l.CACert, []byte("another certificate"), 0o600)
	other, _ := At(filepath.Join(t.TempDir(), "other"))
	makeParts(t, other)
	if _, err := other.Record(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(other.Vault)
	os.WriteFile(l.Vault, b, 0o600)
	in, err = l.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, p := range in.Problems {
		got = append(got, p.String())
	}
	want := "ca.crt replaced (not the file this state directory was created with), vault.db replaced (not the file this state directory was created with), audit.db missing"
	if strings.Join(got, ", ") != want {
		t.Fatalf("problems:\n%s\nwant\n%s", strings.Join(got, ", "), want)
	}
	msg := (&ProblemError{Dir: l.Dir, Problems: in.Problems}).Error()
	if !strings.Contains(msg, "start over with a new --state-dir") {
		t.Fatalf("message: %s", msg)
	}
	msg = (&ProblemError{Dir: l.Dir, Problems: in.Problems[2:]}).Error()
	if !strings.Contains(msg, "--recreate audit.db") {
		t.Fatalf("message: %s", msg)
	}

	// A broken manifest is refused, never rewritten silently.
	os.WriteFile(filepath.Join(l.Dir, ManifestFile), []byte(`{"version":1,"files":{},"extra":1}`), 0o600)
	if _, err := l.Inspect(ctx); err == nil {
		t.Fatal("manifest with an unknown field accepted")
	}
}

func TestWatch(t *testing.T) {
	l, _ := At(filepath.Join(t.TempDir(), "state"))
	makeParts(t, l)
	w, err := l.Watch()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Check(); err != nil {
		t.Fatal(err)
	}
	// Replaced: a new file at the same path.
	b, _ := os.ReadFile(l.Devices)
	os.Remove(l.Devices)
	os.WriteFile(l.Devices, b, 0o600)
	err = w.Check()
	if !errors.Is(err, ErrReplaced) || !strings.Contains(err.Error(), "devices.db was replaced") {
		t.Fatalf("replaced: %v", err)
	}
	// It keeps reporting the first problem.
	if w.Err() == nil || w.Check() == nil {
		t.Fatal("problem forgotten")
	}
	w2, _ := l.Watch()
	defer w2.Close()
	os.Remove(l.Audit)
	if err := w2.Check(); err == nil || !strings.Contains(err.Error(), "audit.db was deleted") {
		t.Fatalf("deleted: %v", err)
	}
}
