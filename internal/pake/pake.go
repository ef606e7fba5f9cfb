package pake

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
)

// Role says which side of the exchange a Party is. The initiator's share is
// Ya and the responder's Yb in the transcript; the two sides must take
// different roles.
type Role uint8

// The roles.
const (
	Initiator Role = 1
	Responder Role = 2
)

// String returns "initiator" or "responder".
func (r Role) String() string {
	switch r {
	case Initiator:
		return "initiator"
	case Responder:
		return "responder"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Config is what both sides must agree on. Every field except Password may be
// empty; any difference between the two sides' Configs makes both
// confirmations fail.
type Config struct {
	// Password is the low-entropy shared secret (paircode.Code.Password()).
	// Required.
	Password []byte
	// ChannelBinding is the TLS exporter value (RFC 9266) of the connection
	// the exchange runs on; it is CPace's sid. Both sides must use equal bytes
	// or confirmation fails, which is what defeats a relay that terminates
	// TLS.
	ChannelBinding []byte
	// InitiatorID and ResponderID are optional identities, bound (not sent)
	// in CPace's CI.
	InitiatorID, ResponderID []byte
	// Context is extra bound data (protocol version, code id), in CI.
	Context []byte
}

// Fixed associated data: the roles. They are bound in the transcript and make
// the two confirmation tags differ; both sides know them, so they are not
// sent.
var (
	adInitiator = []byte("initiator")
	adResponder = []byte("responder")
)

// ciLabel versions this construction's CI encoding.
const ciLabel = "palyra-pake-v1"

// sessionKeyInfo is the HKDF info for Result.Key.
const sessionKeyInfo = "palyra-pake-v1 session key"

var (
	// ErrConfirmation means the peer's confirmation did not verify: a wrong
	// password, a relay (different channel binding), a different Context or
	// identities, or tampering with a share or the confirmation.
	ErrConfirmation = errors.New("pake: key confirmation failed (wrong code, relayed connection or tampered message)")
	// ErrInvalidShare means the peer's share has the wrong length, is not a
	// canonical ristretto255 encoding, is the identity element, or is this
	// side's own share reflected back. Finish returns it wrapped.
	ErrInvalidShare = errors.New("pake: invalid peer share")
	// ErrNotConfirmed is returned by Key before a successful Verify.
	ErrNotConfirmed = errors.New("pake: session key not available before the peer's confirmation verified")
)

// Party is one side of one exchange, between Start and Finish. It is not
// safe for concurrent use.
type Party struct {
	role     Role
	y        *ristretto255.Scalar // cleared by Finish
	share    []byte
	sid      []byte
	adA, adB []byte
	finished bool
}

// Start begins an exchange as role with cfg, drawing the secret scalar from
// rand (crypto/rand.Reader when nil). It returns the Party and the share to
// send to the peer (ShareSize bytes). It fails on an unknown role, an empty
// password or a failing rand.
func Start(role Role, cfg Config, rand io.Reader) (p *Party, share []byte, err error) {
	if len(cfg.Password) == 0 {
		return nil, nil, errors.New("pake: empty password")
	}
	ci := lvCat([]byte(ciLabel), cfg.InitiatorID, cfg.ResponderID, cfg.Context)
	return start(role, cfg.Password, ci, cfg.ChannelBinding, adInitiator, adResponder, rand)
}

// start runs CPace's first step with the draft's own inputs (PRS, CI, sid,
// ADa, ADb); the known-answer tests drive it directly.
func start(role Role, prs, ci, sid, adA, adB []byte, rnd io.Reader) (*Party, []byte, error) {
	if role != Initiator && role != Responder {
		return nil, nil, fmt.Errorf("pake: unknown %v", role)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	y, err := sampleScalar(rnd)
	if err != nil {
		return nil, nil, err
	}
	share := ristretto255.NewElement().ScalarMult(y, calculateGenerator(prs, ci, sid)).Encode(nil)
	p := &Party{
		role:  role,
		y:     y,
		share: share,
		sid:   append([]byte(nil), sid...),
		adA:   adA,
		adB:   adB,
	}
	return p, append([]byte(nil), share...), nil
}

// Finish completes the exchange with the peer's share and returns the Result
// holding both confirmation tags. A Party finishes at most once: a second
// call fails, whatever the first returned. Errors wrap ErrInvalidShare when
// the share has the wrong length, does not decode, is the identity or equals
// this side's own share.
func (p *Party) Finish(peerShare []byte) (*Result, error) {
	if p.finished {
		return nil, errors.New("pake: exchange already finished")
	}
	p.finished = true
	y := p.y
	p.y = nil
	defer y.Zero()

	if len(peerShare) != ShareSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidShare, len(peerShare), ShareSize)
	}
	if subtle.ConstantTimeCompare(peerShare, p.share) == 1 {
		return nil, fmt.Errorf("%w: own share reflected", ErrInvalidShare)
	}
	k := scalarMultVfy(y, peerShare)
	if isIdentity(k) {
		return nil, fmt.Errorf("%w: not a canonical non-identity ristretto255 element", ErrInvalidShare)
	}
	defer clear(k)

	ya, yb := p.share, peerShare
	if p.role == Responder {
		ya, yb = peerShare, p.share
	}
	isk := intermediateKey(p.sid, k, transcriptIR(ya, p.adA, yb, p.adB))
	ta := confirmationTag(p.sid, isk, ya, p.adA)
	tb := confirmationTag(p.sid, isk, yb, p.adB)
	r := &Result{isk: isk, sid: p.sid, own: ta, peer: tb}
	if p.role == Responder {
		r.own, r.peer = tb, ta
	}
	return r, nil
}

// Result is a finished exchange: this side's confirmation to send and the
// one expected from the peer. The session key is released only after the
// peer's confirmation verified. It is not safe for concurrent use.
type Result struct {
	isk       []byte
	sid       []byte
	own, peer []byte
	verified  bool
	failed    bool
}

// Confirmation returns this side's key-confirmation tag to send to the peer
// (ConfirmationSize bytes).
func (r *Result) Confirmation() []byte {
	return append([]byte(nil), r.own...)
}

// Verify checks the peer's confirmation tag in constant time and returns
// ErrConfirmation on a mismatch (any length other than ConfirmationSize is a
// mismatch). One failure is final: the Result then never verifies and never
// releases a key.
func (r *Result) Verify(peerConfirmation []byte) error {
	if r.failed || subtle.ConstantTimeCompare(peerConfirmation, r.peer) != 1 {
		r.failed = true
		r.verified = false
		clear(r.isk)
		return ErrConfirmation
	}
	r.verified = true
	return nil
}

// Key returns the 32-byte session key, HKDF-SHA-512 (RFC 5869) of the
// intermediate key ISK with salt sid. It fails with ErrNotConfirmed unless
// Verify succeeded.
func (r *Result) Key() ([]byte, error) {
	if !r.verified {
		return nil, ErrNotConfirmed
	}
	return hkdf.Key(sha512.New, r.isk, r.sid, sessionKeyInfo, 32)
}
