package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/gofrs/flock"
	"github.com/google/renameio/v2"

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/fileperm"
	"github.com/palyra/palyra/internal/guard"
)

// WitnessFile is the file, beside a bundle's files or in the state
// directory, where the CLI keeps the highest audit checkpoint it has seen.
const WitnessFile = "witness.json"

// maxWitnessBytes bounds the witness file.
const maxWitnessBytes = 4 << 10

// RollbackError means the daemon presented an audit journal that is shorter
// than, or forked from, one this client saw before: its journal was rolled
// back or replaced behind its back.
type RollbackError struct {
	// Witness is the witness file that holds what the client saw.
	Witness string
	// Seen and Presented are the record counts of the checkpoint this
	// client saw and of the one the daemon presents now.
	Seen, Presented int64
	// Fork is true when both counts are equal but the heads differ.
	Fork bool
	// OtherKey is true when the checkpoint is signed by another key than
	// the one pinned in the witness.
	OtherKey bool
}

func (e *RollbackError) Error() string {
	switch {
	case e.OtherKey:
		return fmt.Sprintf("audit journal signed by another key than the one this client pinned (witness %s): the daemon's identity was replaced", e.Witness)
	case e.Fork:
		return fmt.Sprintf("audit journal forked: the daemon presents %d records with another head than the %d this client saw (witness %s)", e.Presented, e.Seen, e.Witness)
	}
	return fmt.Sprintf("audit journal rolled back: the daemon presents %d records, this client saw %d (witness %s); its audit.db was truncated or replaced", e.Presented, e.Seen, e.Witness)
}

// witnessState is the witness file's content (JSON, version 1).
type witnessState struct {
	Version int    `json:"v"`
	Key     string `json:"key"`  // signed-note verifier key of the journal
	Count   int64  `json:"size"` // records covered by the highest checkpoint seen
	Head    string `json:"root"` // its head hash, standard base64
	Seen    string `json:"seen"` // when it was first seen, RFC 3339
	// Recent are the last checkpoints recorded, highest last, with when
	// each was recorded (RFC 3339, nanoseconds): a call compares what it is
	// shown only with what was recorded before it began, since concurrent
	// palyra processes record newer checkpoints while an older response is
	// still on its way.
	Recent []witnessEntry `json:"recent,omitempty"`
}

// witnessEntry is one recorded checkpoint.
type witnessEntry struct {
	Count int64  `json:"size"`
	Head  string `json:"root"`
	Seen  string `json:"seen"`
}

// maxWitnessEntries bounds witnessState.Recent.
const maxWitnessEntries = 16

// before returns the highest entry recorded before t (nil if none), and
// the entry recorded for count, if any.
func (s *witnessState) before(t time.Time, count int64) (base, same *witnessEntry) {
	entries := s.Recent
	if len(entries) == 0 { // a file written before entries were kept
		entries = []witnessEntry{{Count: s.Count, Head: s.Head, Seen: s.Seen}}
	}
	for i := range entries {
		e := &entries[i]
		if e.Count == count {
			same = e
		}
		seen, err := time.Parse(time.RFC3339Nano, e.Seen)
		if err != nil || seen.Before(t) {
			if base == nil || e.Count > base.Count {
				base = e
			}
		}
	}
	return base, same
}

// Witness checks every response's audit checkpoint against the highest one
// this client has seen and keeps the highest in a file (0600). It is a
// connect interceptor: add it with connect.WithInterceptors.
type Witness struct {
	path string
	mu   sync.Mutex
}

// NewWitness returns a Witness that keeps its state in path.
func NewWitness(path string) *Witness { return &Witness{path: path} }

// WrapUnary checks the checkpoint of each unary response, also of an error
// response, and fails the call with a *RollbackError on a rollback.
func (w *Witness) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		res, err := next(ctx, req)
		var werr error
		var ce *connect.Error
		switch {
		case err == nil:
			werr = w.check(res.Header(), true, start)
		case errors.As(err, &ce):
			werr = w.check(ce.Meta(), false, start)
		}
		if werr != nil {
			return nil, werr
		}
		return res, err
	}
}

// WrapStreamingClient checks the checkpoint when the response headers of a
// stream arrive.
func (w *Witness) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		return &witnessConn{StreamingClientConn: next(ctx, spec), w: w, start: time.Now()}
	}
}

// WrapStreamingHandler is the identity: a Witness is for clients.
func (w *Witness) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

type witnessConn struct {
	connect.StreamingClientConn
	w       *Witness
	start   time.Time
	checked bool
}

func (c *witnessConn) Receive(m any) error {
	err := c.StreamingClientConn.Receive(m)
	if !c.checked {
		c.checked = true
		if werr := c.w.check(c.ResponseHeader(), err == nil, c.start); werr != nil {
			return werr
		}
	}
	return err
}

// check verifies the checkpoint in h and records it if it is the highest
// seen. The response is compared with what was recorded before the call
// began (start): a checkpoint lower than that is a rollback, another head
// for a recorded count is a fork, and another key is another journal. A
// successful response (ok) without a checkpoint is refused once one was
// recorded before the call: the daemon signs a checkpoint before it serves
// anything, so only an emptied journal, or a server that is not palyrad,
// sends none. Error responses may lack one (a refusal before the request
// path). Concurrent palyra processes share the file under a lock.
func (w *Witness) check(h http.Header, ok bool, start time.Time) error {
	enc, key := h.Get(guard.HeaderCheckpoint), h.Get(guard.HeaderCheckpointKey)
	if (enc == "" || key == "") && !ok {
		return nil
	}
	var cp audit.Checkpoint
	var head string
	if enc != "" && key != "" {
		msg, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return fmt.Errorf("client: malformed audit checkpoint header")
		}
		origin, pub, err := parseVerifierKey(key)
		if err != nil {
			return err
		}
		if cp, err = audit.ParseCheckpoint(msg, pub, origin); err != nil {
			return fmt.Errorf("client: the daemon's audit checkpoint does not verify: %w", err)
		}
		head = base64.StdEncoding.EncodeToString(cp.Head[:])
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	unlock, err := w.lock()
	if err != nil {
		return err
	}
	defer unlock()
	old, err := w.load()
	if err != nil {
		return err
	}
	if head == "" { // a success without a checkpoint
		if old != nil {
			if base, _ := old.before(start, -1); base != nil {
				return &RollbackError{Witness: w.path, Seen: base.Count, Presented: 0}
			}
		}
		return nil
	}
	if old != nil {
		if old.Key != key {
			return &RollbackError{Witness: w.path, OtherKey: true}
		}
		base, same := old.before(start, cp.Count)
		switch {
		case same != nil && same.Head != head:
			return &RollbackError{Witness: w.path, Seen: same.Count, Presented: cp.Count, Fork: true}
		case base != nil && cp.Count < base.Count:
			return &RollbackError{Witness: w.path, Seen: base.Count, Presented: cp.Count}
		case cp.Count <= old.Count:
			return nil // an older view, recorded by a call that ended after this one began
		}
	}
	now := time.Now().UTC()
	st := witnessState{Version: 1, Key: key, Count: cp.Count, Head: head, Seen: now.Format(time.RFC3339)}
	if old != nil {
		st.Recent = append(st.Recent, old.Recent...)
	}
	st.Recent = append(st.Recent, witnessEntry{Count: cp.Count, Head: head, Seen: now.Format(time.RFC3339Nano)})
	if n := len(st.Recent); n > maxWitnessEntries {
		st.Recent = st.Recent[n-maxWitnessEntries:]
	}
	if err := renameio.WriteFile(w.path, st.encode(), 0o600); err != nil {
		return fmt.Errorf("client: write witness %s: %w", w.path, err)
	}
	return nil
}

// lockTimeout bounds the wait for another palyra process's witness update.
const lockTimeout = 10 * time.Second

// lock takes the witness's lock file (beside it, 0600), so that concurrent
// palyra processes read, compare and write the witness one at a time.
func (w *Witness) lock() (func(), error) {
	l := flock.New(w.path+".lock", flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	ok, err := l.TryLockContext(ctx, 10*time.Millisecond)
	if err != nil || !ok {
		return nil, fmt.Errorf("client: witness %s: another palyra holds its lock: %v", w.path, err)
	}
	return func() { l.Unlock() }, nil
}

// load reads the witness file; nil when there is none yet. Like the
// bundle's other trust files it must be a regular file of this user's that
// others cannot write (whoever can write it can reset rollback detection),
// and it must be exactly what this package writes.
func (w *Witness) load() (*witnessState, error) {
	b, err := fileperm.ReadFile(w.path, fileperm.Trusted, maxWitnessBytes)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: witness: %w", err)
	}
	var s witnessState
	if json.Unmarshal(b, &s) != nil || s.Version != 1 || s.Count < 1 || !bytes.Equal(b, s.encode()) {
		return nil, fmt.Errorf("client: witness %s is malformed; remove it only if you trust the daemon's journal", w.path)
	}
	return &s, nil
}

// encode is the one form a witness file has (so a hand-edited file, with
// other spellings of the keys or duplicates, is refused).
func (s witnessState) encode() []byte {
	b, _ := json.Marshal(s)
	return append(b, '\n')
}

// parseVerifierKey splits a signed-note Ed25519 verifier key
// "<name>+<hash>+<base64(0x01 || key)>" into its name and public key.
func parseVerifierKey(k string) (string, ed25519.PublicKey, error) {
	name, rest, ok := strings.Cut(k, "+")
	_, b64, ok2 := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if !ok || !ok2 || err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 1 {
		return "", nil, errors.New("client: malformed audit checkpoint key header")
	}
	return name, ed25519.PublicKey(raw[1:]), nil
}
