package client

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/palyra/palyra/internal/guard"
)

// journalSigner signs checkpoints as a daemon whose journal origin is name.
type journalSigner struct {
	signer note.Signer
	vkey   string
}

func newJournalSigner(t *testing.T, name string) journalSigner {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return journalSigner{s, vkey}
}

// header is a response header carrying a checkpoint for count records whose
// head is the hash of seed.
func (j journalSigner) header(t *testing.T, count int64, seed string) http.Header {
	t.Helper()
	head := sha256.Sum256([]byte(seed))
	text := j.signer.Name() + "\n" + strconv.FormatInt(count, 10) + "\n" + base64.StdEncoding.EncodeToString(head[:]) + "\n"
	msg, err := note.Sign(&note.Note{Text: text}, j.signer)
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{guard.HeaderCheckpoint: {base64.StdEncoding.EncodeToString(msg)}, guard.HeaderCheckpointKey: {j.vkey}}
}

func TestWitness(t *testing.T) {
	path := filepath.Join(t.TempDir(), WitnessFile)
	w := NewWitness(path)
	daemon := newJournalSigner(t, "palyra/01ARZ3NDEKTSV4RRFFQ69G5FAV")
	rollback := func(err error) *RollbackError {
		t.Helper()
		var rb *RollbackError
		if !errors.As(err, &rb) {
			t.Fatalf("want a rollback error, got %v", err)
		}
		return rb
	}
	// Nothing pinned yet: a response without a checkpoint is fine.
	if err := w.check(http.Header{}, true); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{3, 3, 10} {
		if err := w.check(daemon.header(t, n, "h"+strconv.FormatInt(n, 10)), true); err != nil {
			t.Fatalf("checkpoint %d: %v", n, err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("witness file: %v %v", fi, err)
	}
	if rb := rollback(w.check(daemon.header(t, 7, "h7"), true)); rb.Seen != 10 || rb.Presented != 7 || !strings.Contains(rb.Error(), "presents 7 records, this client saw 10") {
		t.Fatalf("rollback: %+v %v", rb, rb)
	}
	if rb := rollback(w.check(daemon.header(t, 10, "other"), true)); !rb.Fork {
		t.Fatalf("fork: %+v", rb)
	}
	other := newJournalSigner(t, "palyra/01ARZ3NDEKTSV4RRFFQ69G5FAV")
	if rb := rollback(w.check(other.header(t, 20, "h20"), true)); !rb.OtherKey {
		t.Fatalf("another key: %+v", rb)
	}
	// Once a key is pinned, a successful response without a checkpoint is
	// a journal emptied behind the client's back; an error may lack one.
	if rb := rollback(w.check(http.Header{}, true)); rb.Presented != 0 || rb.Seen != 10 {
		t.Fatalf("no checkpoint: %+v", rb)
	}
	if err := w.check(http.Header{}, false); err != nil {
		t.Fatalf("error response without a checkpoint: %v", err)
	}
	// A forged header is an error, not a new high-water mark.
	bad := daemon.header(t, 50, "h50")
	bad.Set(guard.HeaderCheckpointKey, other.vkey)
	if err := w.check(bad, true); err == nil {
		t.Fatal("checkpoint with a mismatched key accepted")
	}
	if rb := rollback(w.check(daemon.header(t, 9, "h9"), true)); rb.Seen != 10 {
		t.Fatalf("witness moved: %+v", rb)
	}
}

func TestWitnessFileIsChecked(t *testing.T) {
	daemon := newJournalSigner(t, "palyra/01ARZ3NDEKTSV4RRFFQ69G5FAV")
	good := func(t *testing.T) (string, *Witness) {
		path := filepath.Join(t.TempDir(), WitnessFile)
		w := NewWitness(path)
		if err := w.check(daemon.header(t, 5, "h5"), true); err != nil {
			t.Fatal(err)
		}
		return path, w
	}
	t.Run("writable by others", func(t *testing.T) {
		path, w := good(t)
		os.Chmod(path, 0o666)
		if err := w.check(daemon.header(t, 6, "h6"), true); err == nil || !strings.Contains(err.Error(), "insecure") {
			t.Fatalf("0666 witness: %v", err)
		}
	})
	t.Run("hand edited", func(t *testing.T) {
		path, w := good(t)
		b, _ := os.ReadFile(path)
		os.WriteFile(path, []byte(strings.Replace(string(b), `"size"`, `"Size"`, 1)), 0o600)
		if err := w.check(daemon.header(t, 6, "h6"), true); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Fatalf("edited witness: %v", err)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), WitnessFile)
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Skip(err)
		}
		done := make(chan error, 1)
		go func() { done <- NewWitness(path).check(daemon.header(t, 6, "h6"), true) }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("fifo witness accepted")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a FIFO at the witness path hangs the client")
		}
	})
}
