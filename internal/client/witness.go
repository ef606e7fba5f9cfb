package client

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/renameio/v2"

	"github.com/palyra/palyra/internal/audit"
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
		res, err := next(ctx, req)
		var h http.Header
		var ce *connect.Error
		switch {
		case err == nil:
			h = res.Header()
		case errors.As(err, &ce):
			h = ce.Meta()
		}
		if werr := w.check(h); werr != nil {
			return nil, werr
		}
		return res, err
	}
}

// WrapStreamingClient checks the checkpoint when the response headers of a
// stream arrive.
func (w *Witness) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		return &witnessConn{StreamingClientConn: next(ctx, spec), w: w}
	}
}

// WrapStreamingHandler is the identity: a Witness is for clients.
func (w *Witness) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

type witnessConn struct {
	connect.StreamingClientConn
	w       *Witness
	checked bool
}

func (c *witnessConn) Receive(m any) error {
	err := c.StreamingClientConn.Receive(m)
	if !c.checked {
		c.checked = true
		if werr := c.w.check(c.ResponseHeader()); werr != nil {
			return werr
		}
	}
	return err
}

// check verifies the checkpoint in h (if any) and records it if it is the
// highest seen.
func (w *Witness) check(h http.Header) error {
	if h == nil {
		return nil
	}
	enc, key := h.Get(guard.HeaderCheckpoint), h.Get(guard.HeaderCheckpointKey)
	if enc == "" || key == "" {
		return nil
	}
	msg, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return fmt.Errorf("client: malformed audit checkpoint header")
	}
	origin, pub, err := parseVerifierKey(key)
	if err != nil {
		return err
	}
	cp, err := audit.ParseCheckpoint(msg, pub, origin)
	if err != nil {
		return fmt.Errorf("client: the daemon's audit checkpoint does not verify: %w", err)
	}
	head := base64.StdEncoding.EncodeToString(cp.Head[:])

	w.mu.Lock()
	defer w.mu.Unlock()
	old, err := w.load()
	if err != nil {
		return err
	}
	if old != nil {
		switch {
		case old.Key != key:
			return &RollbackError{Witness: w.path, OtherKey: true}
		case cp.Count < old.Count:
			return &RollbackError{Witness: w.path, Seen: old.Count, Presented: cp.Count}
		case cp.Count == old.Count && head != old.Head:
			return &RollbackError{Witness: w.path, Seen: old.Count, Presented: cp.Count, Fork: true}
		case cp.Count == old.Count:
			return nil
		}
	}
	b, _ := json.Marshal(witnessState{Version: 1, Key: key, Count: cp.Count, Head: head, Seen: time.Now().UTC().Format(time.RFC3339)})
	if err := renameio.WriteFile(w.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("client: write witness %s: %w", w.path, err)
	}
	return nil
}

// load reads the witness file; nil when there is none yet.
func (w *Witness) load() (*witnessState, error) {
	f, err := os.Open(w.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: witness: %w", err)
	}
	defer f.Close()
	var s witnessState
	dec := json.NewDecoder(io.LimitReader(f, maxWitnessBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil || s.Version != 1 || s.Count < 1 {
		return nil, fmt.Errorf("client: witness %s is malformed; remove it only if you trust the daemon's journal", w.path)
	}
	return &s, nil
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
