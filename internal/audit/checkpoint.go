package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is the content of a signed checkpoint: the journal named Origin
// held Count records and the last one's hash was Head.
type Checkpoint struct {
	Origin string
	Count  int64
	Head   [32]byte
}

// maxCheckpointBytes bounds what ParseCheckpoint reads. A checkpoint written
// by this package is an origin (at most maxOriginBytes), a decimal count, 44
// base64 characters and one signature line, well under this.
const (
	maxCheckpointBytes = 2048
	maxOriginBytes     = 256
)

// errMalformedCheckpoint is returned (wrapped) for a checkpoint that does not
// parse; it never quotes the input.
var errMalformedCheckpoint = errors.New("malformed checkpoint")

// checkOrigin applies the signed-note key name rules (non-empty UTF-8, no
// spaces, no '+') because the origin is also the name of the signing key.
func checkOrigin(origin string) error {
	if origin == "" || len(origin) > maxOriginBytes || !utf8.ValidString(origin) ||
		strings.IndexFunc(origin, unicode.IsSpace) >= 0 || strings.Contains(origin, "+") ||
		strings.IndexFunc(origin, unicode.IsControl) >= 0 {
		return fmt.Errorf("audit: origin must be 1-%d bytes of UTF-8 without spaces, control characters or '+'", maxOriginBytes)
	}
	return nil
}

// text returns the note text of c: "<origin>\n<count>\n<base64 head>\n".
func (c Checkpoint) text() string {
	return c.Origin + "\n" + strconv.FormatInt(c.Count, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Head[:]) + "\n"
}

// ed25519Signer is a note.Signer for a raw Ed25519 private key, named after
// the journal's origin.
type ed25519Signer struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

func (s *ed25519Signer) Name() string                    { return s.name }
func (s *ed25519Signer) KeyHash() uint32                 { return s.hash }
func (s *ed25519Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// newVerifier returns the note verifier for pub under the key name origin.
func newVerifier(pub ed25519.PublicKey, origin string) (note.Verifier, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	vkey, err := note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return nil, fmt.Errorf("audit: public key: %w", err)
	}
	return note.NewVerifier(vkey)
}

// newSigner returns the note signer for key under the key name origin. The
// key hash comes from the verifier so signer and verifier always agree.
func newSigner(key ed25519.PrivateKey, origin string) (*ed25519Signer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("audit: signer is %d bytes, want an Ed25519 private key of %d", len(key), ed25519.PrivateKeySize)
	}
	v, err := newVerifier(key.Public().(ed25519.PublicKey), origin)
	if err != nil {
		return nil, err
	}
	return &ed25519Signer{name: origin, hash: v.KeyHash(), key: key}, nil
}

// sign returns c as a signed note.
func (s *ed25519Signer) sign(c Checkpoint) ([]byte, error) {
	return note.Sign(&note.Note{Text: c.text()}, s)
}

// ParseCheckpoint checks that msg is a checkpoint for the journal named
// origin, signed by pub, and returns its content. It is strict: exactly one
// signature, by pub under the key name origin; exactly three text lines; the
// count in canonical decimal and at least 1; the head in canonical padded
// base64 of 32 bytes. Any error is safe to show (it never quotes msg).
func ParseCheckpoint(msg []byte, pub ed25519.PublicKey, origin string) (Checkpoint, error) {
	v, err := newVerifier(pub, origin)
	if err != nil {
		return Checkpoint{}, err
	}
	c, err := parseCheckpoint(msg, v, origin)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	return c, nil
}

func parseCheckpoint(msg []byte, v note.Verifier, origin string) (Checkpoint, error) {
	if len(msg) > maxCheckpointBytes {
		return Checkpoint{}, fmt.Errorf("%w: %d bytes, at most %d", errMalformedCheckpoint, len(msg), maxCheckpointBytes)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, errors.New("not signed by the given key")
		case errors.As(err, &invalid):
			return Checkpoint{}, errors.New("signature does not verify")
		}
		return Checkpoint{}, errMalformedCheckpoint
	}
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 {
		return Checkpoint{}, fmt.Errorf("%d signatures, want exactly one", len(n.Sigs)+len(n.UnverifiedSigs))
	}
	// n.Text ends in "\n" (note.Open guarantees it), so it splits into the
	// lines and one final empty string.
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return Checkpoint{}, fmt.Errorf("%w: want 3 text lines", errMalformedCheckpoint)
	}
	if lines[0] != origin {
		return Checkpoint{}, errors.New("for another origin")
	}
	c := Checkpoint{Origin: origin}
	c.Count, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || c.Count < 1 || strconv.FormatInt(c.Count, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("%w: bad record count", errMalformedCheckpoint)
	}
	head, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(head) != len(c.Head) || base64.StdEncoding.EncodeToString(head) != lines[2] {
		return Checkpoint{}, fmt.Errorf("%w: bad head hash", errMalformedCheckpoint)
	}
	copy(c.Head[:], head)
	return c, nil
}
