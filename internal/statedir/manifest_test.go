package statedir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
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
	for _, p := range l.parts("file") {
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
	stamped, err := l.Record(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV", testKey)
	if err != nil || len(stamped) != 4 {
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
	if stamped, err := l.Record(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV", testKey); err != nil || len(stamped) != 0 {
		t.Fatalf("re-record: %v %v", stamped, err)
	}

	os.Remove(l.Audit)
	os.WriteFile(l.CACert, []byte("another certificate"), 0o600)
	other, _ := At(filepath.Join(t.TempDir(), "other"))
	makeParts(t, other)
	if _, err := other.Record(ctx, "x", testKey); err != nil {
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

var testKey = KeyRecord{Provider: "file", Check: strings.Repeat("ab", 32)}

// TestManifestKeyProvider: the key file the manifest covers follows the
// provider, and moving the key to another provider keeps every other entry.
func TestManifestKeyProvider(t *testing.T) {
	ctx := context.Background()
	l, _ := At(filepath.Join(t.TempDir(), "state"))
	makeParts(t, l)
	if _, err := l.Record(ctx, "id", testKey); err != nil {
		t.Fatal(err)
	}
	before, _ := l.readManifest()
	if before.KeyProvider() != "file" || before.Files["master.key"].SHA256 == "" {
		t.Fatalf("file: %+v", before)
	}
	sealed := filepath.Join(l.Dir, "master.key.sealed")
	os.WriteFile(sealed, []byte("sealed"), 0o600)
	if err := l.SetKeyProvider(ctx, "passphrase", strings.Repeat("cd", 32)); err == nil {
		t.Fatal("moved to a key with another check value")
	}
	if err := l.SetKeyProvider(ctx, "passphrase", testKey.Check); err != nil {
		t.Fatal(err)
	}
	os.Remove(l.MasterKey)
	in, err := l.Inspect(ctx)
	if err != nil || len(in.Problems) != 0 || in.KeyProvider != "passphrase" {
		t.Fatalf("passphrase: %+v %v", in, err)
	}
	if _, ok := in.Manifest.Files["master.key"]; ok || in.Manifest.Files["vault.db"] != before.Files["vault.db"] {
		t.Fatalf("entries: %+v", in.Manifest.Files)
	}
	os.Remove(sealed)
	if in, _ := l.Inspect(ctx); len(in.Problems) != 1 || in.Problems[0].String() != "master.key.sealed missing" {
		t.Fatalf("missing sealed file: %+v", in.Problems)
	}
	if err := l.SetKeyProvider(ctx, "env", testKey.Check); err != nil {
		t.Fatal(err)
	}
	in, _ = l.Inspect(ctx)
	if len(in.Problems) != 0 || in.KeyProvider != "env" || len(in.Manifest.Files) != 7 || in.Manifest.MasterKey.Check != testKey.Check {
		t.Fatalf("env: %+v", in)
	}
	if got := PartNames("env"); got[0] != "identity.sealed" || PartNames("file")[0] != "master.key" {
		t.Fatalf("part names: %v", got)
	}
}

// TestAddedPart: a manifest that predates approvals.db gets it added once
// (absent, or an unstamped database a start left before recording it);
// once recorded, a missing approvals.db is a problem like any part's, and a
// stamped database from elsewhere is never adopted.
func TestAddedPart(t *testing.T) {
	ctx := context.Background()
	l, _ := At(filepath.Join(t.TempDir(), "state"))
	makeParts(t, l)
	if _, err := l.Record(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV", testKey); err != nil {
		t.Fatal(err)
	}
	// Rewrite the manifest as an older palyrad wrote it.
	m, err := l.readManifest()
	if err != nil {
		t.Fatal(err)
	}
	delete(m.Files, "approvals.db")
	if err := l.writeManifest(m); err != nil {
		t.Fatal(err)
	}
	os.Remove(l.Approvals)
	in, err := l.Inspect(ctx)
	if err != nil || len(in.Problems) != 0 || !slices.Equal(in.Added, []string{"approvals.db"}) {
		t.Fatalf("predating manifest: %+v %v", in, err)
	}
	// A start created it and stopped before recording: still added.
	db, err := sqlitedb.Open(ctx, l.Approvals, []string{"CREATE TABLE t (x)"})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if in, _ := l.Inspect(ctx); len(in.Problems) != 0 || len(in.Added) != 1 {
		t.Fatalf("unstamped: %+v", in)
	}
	if _, err := l.Record(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV", testKey); err != nil {
		t.Fatal(err)
	}
	if in, _ := l.Inspect(ctx); len(in.Problems) != 0 || len(in.Added) != 0 || in.Manifest.Files["approvals.db"].InstanceID == 0 {
		t.Fatalf("recorded: %+v", in)
	}
	os.Remove(l.Approvals)
	in, _ = l.Inspect(ctx)
	if len(in.Added) != 0 || len(in.Problems) != 1 || in.Problems[0].String() != "approvals.db missing" {
		t.Fatalf("recorded then missing: %+v", in)
	}
	if msg := (&ProblemError{Dir: l.Dir, Problems: in.Problems}).Error(); !strings.Contains(msg, "--recreate approvals.db") {
		t.Fatalf("guidance: %s", msg)
	}

	// A stamped database from another directory is not adopted.
	delete(m.Files, "approvals.db")
	if err := l.writeManifest(m); err != nil {
		t.Fatal(err)
	}
	other, _ := At(filepath.Join(t.TempDir(), "other"))
	makeParts(t, other)
	if _, err := other.Record(ctx, "x", testKey); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(other.Approvals)
	os.WriteFile(l.Approvals, b, 0o600)
	if in, _ := l.Inspect(ctx); len(in.Added) != 0 || len(in.Problems) != 1 || !strings.Contains(in.Problems[0].Reason, "not recorded") {
		t.Fatalf("foreign database: %+v", in)
	}
}
