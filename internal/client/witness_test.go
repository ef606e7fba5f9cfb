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
	"sync"
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
	if err := w.check(http.Header{}, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{3, 3, 10} {
		if err := w.check(daemon.header(t, n, "h"+strconv.FormatInt(n, 10)), true, time.Now()); err != nil {
			t.Fatalf("checkpoint %d: %v", n, err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("witness file: %v %v", fi, err)
	}
	if rb := rollback(w.check(daemon.header(t, 7, "h7"), true, time.Now())); rb.Seen != 10 || rb.Presented != 7 || !strings.Contains(rb.Error(), "presents 7 records, this client saw 10") {
		t.Fatalf("rollback: %+v %v", rb, rb)
	}
	if rb := rollback(w.check(daemon.header(t, 10, "other"), true, time.Now())); !rb.Fork {
		t.Fatalf("fork: %+v", rb)
	}
	other := newJournalSigner(t, "palyra/01ARZ3NDEKTSV4RRFFQ69G5FAV")
	if rb := rollback(w.check(other.header(t, 20, "h20"), true, time.Now())); !rb.OtherKey {
		t.Fatalf("another key: %+v", rb)
	}
	// Once a key is pinned, a successful response without a checkpoint is
	// a journal emptied behind the client's back; an error may lack one.
	if rb := rollback(w.check(http.Header{}, true, time.Now())); rb.Presented != 0 || rb.Seen != 10 {
		t.Fatalf("no checkpoint: %+v", rb)
	}
	if err := w.check(http.Header{}, false, time.Now()); err != nil {
		t.Fatalf("error response without a checkpoint: %v", err)
	}
	// A forged header is an error, not a new high-water mark.
	bad := daemon.header(t, 50, "h50")
	bad.Set(guard.HeaderCheckpointKey, other.vkey)
	if err := w.check(bad, true, time.Now()); err == nil {
		t.Fatal("checkpoint with a mismatched key accepted")
	}
	if rb := rollback(w.check(daemon.header(t, 9, "h9"), true, time.Now())); rb.Seen != 10 {
		t.Fatalf("witness moved: %+v", rb)
	}
}

func TestWitnessFileIsChecked(t *testing.T) {
	daemon := newJournalSigner(t, "palyra/01ARZ3NDEKTSV4RRFFQ69G5FAV")
	good := func(t *testing.T) (string, *Witness) {
		path := filepath.Join(t.TempDir(), WitnessFile)
		w := NewWitness(path)
		if err := w.check(daemon.header(t, 5, "h5"), true, time.Now()); err != nil {
			t.Fatal(err)
		}
		return path, w
	}
	t.Run("writable by others", func(t *testing.T) {
		path, w := good(t)
		os.Chmod(path, 0o666)
		if err := w.check(daemon.header(t, 6, "h6"), true, time.Now()); err == nil || !strings.Contains(err.Error(), "insecure") {
			t.Fatalf("0666 witness: %v", err)
		}
	})
	t.Run("hand edited", func(t *testing.T) {
		path, w := good(t)
		b, _ := os.ReadFile(path)
		os.WriteFile(path, []byte(strings.Replace(string(b), `"size"`, `"Size"`, 1)), 0o600)
		if err := w.check(daemon.header(t, 6, "h6"), true, time.Now()); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Fatalf("edited witness: %v", err)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), WitnessFile)
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Skip(err)
		}
		done := make(chan error, 1)
		go func() { done <- NewWitness(path).check(daemon.header(t, 6, "h6"), true, time.Now()) }()
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

// TestWitnessConcurrentCallers: palyra processes running at once record
// newer checkpoints while an older response is on its way; that older view
// is not a rollback, but the same checkpoint shown to a call that began
// after the newer one was recorded is.
func TestWitnessConcurrentCallers(t *testing.T) {
	path := filepath.Join(t.TempDir(), WitnessFile)
	daemon := newJournalSigner(t, "palyra/01ARZ3NDEKTSV4RRFFQ69G5FAV")
	slow, fast := NewWitness(path), NewWitness(path)
	if err := slow.check(daemon.header(t, 5, "h5"), true, time.Now()); err != nil {
		t.Fatal(err)
	}
	slowStart := time.Now()
	// Another process's call begins and ends during the slow call.
	if err := fast.check(daemon.header(t, 9, "h9"), true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := slow.check(daemon.header(t, 7, "h7"), true, slowStart); err != nil {
		t.Fatalf("an older view from a call that began first: %v", err)
	}
	// A call that begins now and is shown 7 sees a rollback.
	var rb *RollbackError
	if err := slow.check(daemon.header(t, 7, "h7"), true, time.Now()); !errors.As(err, &rb) || rb.Seen != 9 {
		t.Fatalf("rollback after the newer checkpoint was recorded: %v", err)
	}
	// A different head for a recorded count is a fork whenever it is seen.
	if err := slow.check(daemon.header(t, 5, "other"), true, slowStart); !errors.As(err, &rb) || !rb.Fork {
		t.Fatalf("fork: %v", err)
	}
	// Many processes whose calls all began before any of them recorded
	// (each shown whatever the journal held when its response left, in any
	// order): no false alarm, and the witness ends at the highest count.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	start := time.Now()
	for i := range 64 {
		wg.Go(func() {
			n := int64(10 + i)
			errs <- NewWitness(path).check(daemon.header(t, n, "h"+strconv.FormatInt(n, 10)), true, start)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent callers: %v", err)
		}
	}
	st, err := NewWitness(path).load()
	if err != nil || st.Count != 73 {
		t.Fatalf("witness after the concurrent callers: %+v %v", st, err)
	}
}
