package pairing

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"connectrpc.com/connect"
	"golang.org/x/crypto/chacha20poly1305"
	"google.golang.org/protobuf/proto"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/loglimit"
	"github.com/palyra/palyra/internal/pake"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/pki"
	"github.com/palyra/palyra/internal/sealed"
)

// Limits and defaults.
const (
	DefaultTTL = 10 * time.Minute
	MinTTL     = 30 * time.Second
	MaxTTL     = 24 * time.Hour
	// MaxActiveCodes bounds the codes usable at once.
	MaxActiveCodes = 32
	// MaxOpenRequests bounds the requests pending or approved at once.
	MaxOpenRequests = 64
	// RequestTTL is how long a request may wait for approval and for the
	// device's poll.
	RequestTTL = 15 * time.Minute
	// sessionTTL bounds the time between Start and Finish.
	sessionTTL = 30 * time.Second
	// maxDecoys bounds the sessions held for Starts with an unknown,
	// used or expired code id; when full, the oldest is dropped. Sessions
	// for real codes are held apart (at most one per code: the first
	// Start uses the code up), so decoys can never crowd them out.
	maxDecoys = 1024
	// maxSessionsPerSource bounds the live sessions of one source.
	maxSessionsPerSource = 16
	// unknownRecordsPerMinute bounds the journal records of attempts on
	// unknown codes (Start, and Finish of their decoy sessions), over all
	// sources; the rest are counted in one log line per minute.
	unknownRecordsPerMinute = 10
	// DefaultStartsPerMinute is how many Starts one source may make per
	// minute.
	DefaultStartsPerMinute = 20
	// maxCodeID is the largest code id minted: short enough to type.
	maxCodeID = 9999
	// Body limits of the anonymous procedures, in bytes.
	MaxStartBytes  = 1 << 10
	MaxFinishBytes = 8 << 10
	MaxPollBytes   = 1 << 10
	maxNameLen     = 64
)

// platformPattern is what a device may report as its platform.
var platformPattern = regexp.MustCompile(`^[a-z0-9/_.-]{1,32}$`)

// Config is what a Server needs.
type Config struct {
	Devices *devices.Registry
	CA      *pki.CA
	// CertTTL is the lifetime of issued client certificates.
	CertTTL time.Duration
	// Owner is the user paired devices act for.
	Owner string
	// DaemonID is the daemon's own device id, which no device may take.
	DaemonID identity.DeviceID
	// CodeKey (32 bytes, derived from the daemon's master key) seals the
	// codes' PAKE passwords in devices.db (XChaCha20-Poly1305, the code
	// id as AAD); nil makes a random key, good for one process only.
	CodeKey []byte
	// Addrs returns the daemon's dialable TCP and QUIC addresses.
	Addrs func() (tcp, quic string)
	// StartsPerMinute per source; 0 means DefaultStartsPerMinute.
	StartsPerMinute int
	Now             func() time.Time
	Rand            io.Reader
	Log             *slog.Logger
}

// Server is the daemon side of pairing. Safe for concurrent use.
type Server struct {
	cfg     Config
	starts  startLimiter
	limited loglimit.Limiter // log lines for refused starts

	unknown loglimit.Limiter // journal records of unknown-code attempts

	mu sync.Mutex
	// sessions holds the sessions of real codes, decoys those of unknown
	// codes; perSource counts both per source.
	sessions, decoys map[string]*session
	perSource        map[netip.Prefix]int
}

// session is one started PAKE, held in memory until Finish or sessionTTL.
type session struct {
	result  *pake.Result
	code    devices.PairingCode
	known   bool // the code id named an active code
	binding []byte
	source  netip.Prefix
	created time.Time
	expires time.Time
}

// NewServer returns a Server for cfg.
func NewServer(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.StartsPerMinute <= 0 {
		cfg.StartsPerMinute = DefaultStartsPerMinute
	}
	if cfg.CodeKey == nil {
		cfg.CodeKey = make([]byte, chacha20poly1305.KeySize)
		rand.Read(cfg.CodeKey)
	}
	return &Server{cfg: cfg, starts: startLimiter{perMinute: cfg.StartsPerMinute},
		unknown:  loglimit.Limiter{Window: time.Minute, Max: unknownRecordsPerMinute},
		sessions: map[string]*session{}, decoys: map[string]*session{}, perSource: map[netip.Prefix]int{}}
}

// anyDevice is the resource of pairing operations not yet tied to a device.
var anyDevice = authz.Resource{Type: authz.ResourceDevice, ID: authz.AllDevices}

func deviceResource(id identity.DeviceID) authz.Resource {
	return authz.Resource{Type: authz.ResourceDevice, ID: id.String()}
}

// errFailed is the one answer to a pairing that did not confirm: it does
// not say whether the code id exists, was used, expired, or was wrong, or
// whether the connection was intercepted.
var errFailed = errors.New("pairing failed: the code is wrong, used or expired, or the connection is intercepted; ask for a new code")

// Start is the PairingService.Start protocol route's function.
func (s *Server) Start(_ context.Context, p peer.Peer, st *tls.ConnectionState, m *palyrav1.PairingStartRequest) (*palyrav1.PairingStartResponse, *guard.Event, error) {
	if m.GetVersion() != Version {
		return nil, nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("pairing protocol version %d is not supported (want %d)", m.GetVersion(), Version))
	}
	if m.GetCodeId() == 0 || len(m.GetShare()) == 0 || len(m.GetShare()) > maxShareBytes {
		return nil, nil, connect.NewError(connect.CodeInvalidArgument, errors.New("pairing start needs a code id and a PAKE share"))
	}
	binding, err := ChannelBinding(st)
	if err != nil {
		return nil, nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("pairing runs only over TLS (TCP or QUIC)"))
	}
	now := s.cfg.Now()
	if wait, ok := s.starts.allow(p.Remote, now); !ok {
		if n, ok := s.limited.Allow(now); ok {
			s.cfg.Log.Warn("pairing starts rate limited", "remote", p.Remote, "suppressed_before", n)
		}
		return nil, nil, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("too many pairing attempts from this address; try again in %d s", wait))
	}
	src := sourceOf(p.Remote)
	s.mu.Lock()
	s.pruneLocked(now)
	wait, full := s.sourceFullLocked(src, now)
	s.mu.Unlock()
	if full {
		return nil, nil, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("too many pairings in progress from this address; try again in %d s", wait))
	}
	code, known, err := s.cfg.Devices.TakeCode(context.Background(), m.GetCodeId(), now)
	if err != nil {
		s.cfg.Log.Error("pairing: take code", "err", err)
		return nil, nil, connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	var password []byte
	if known {
		if password, err = sealed.Open(s.cfg.CodeKey, codeName(code.ID), code.SealedPassword); err != nil {
			s.cfg.Log.Error("pairing: code does not open under this daemon's key", "code_id", code.ID)
			known = false
		}
	}
	if !known {
		// Run the same PAKE against a random password, so the answer
		// does not tell whether the id exists.
		password = make([]byte, 32)
		io.ReadFull(s.cfg.Rand, password)
	}
	// The code's use is already durable in devices.db; the record of the
	// attempt is committed, not waited for.
	ev := &guard.Event{Resource: anyDevice, Allowed: known, Reason: "pairing_started"}
	if !known {
		ev = s.unknownEvent(now, "pairing_code_unknown")
	}
	party, share, err := pake.Start(pake.Responder, pake.Config{
		Password: password, ChannelBinding: binding, InitiatorID: initiatorID, ResponderID: responderID, Context: pakeContext(m.GetCodeId()),
	}, s.cfg.Rand)
	if err != nil {
		return nil, ev, connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	res, err := party.Finish(m.GetShare())
	if err != nil {
		if ev != nil {
			ev.Allowed, ev.Reason = false, "pairing_bad_share"
		}
		return nil, ev, connect.NewError(connect.CodeInvalidArgument, errors.New("malformed PAKE share"))
	}
	sid := make([]byte, sessionIDLen)
	if _, err := io.ReadFull(s.cfg.Rand, sid); err != nil {
		return nil, ev, connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	s.mu.Lock()
	s.addLocked(string(sid), &session{result: res, code: code, known: known, binding: binding, source: src, created: now, expires: now.Add(sessionTTL)})
	s.mu.Unlock()
	return &palyrav1.PairingStartResponse{SessionId: sid, Share: share, Confirmation: res.Confirmation()}, ev, nil
}

// sourceFullLocked reports whether src holds maxSessionsPerSource live
// sessions, and in how many seconds its oldest expires. s.mu must be held.
func (s *Server) sourceFullLocked(src netip.Prefix, now time.Time) (wait int, full bool) {
	if s.perSource[src] < maxSessionsPerSource {
		return 0, false
	}
	first := now.Add(sessionTTL)
	for _, t := range []map[string]*session{s.sessions, s.decoys} {
		for _, v := range t {
			if v.source == src && v.expires.Before(first) {
				first = v.expires
			}
		}
	}
	return int(first.Sub(now).Seconds()) + 1, true
}

// addLocked holds sess under sid: a real code's in sessions, a decoy in
// decoys, dropping the oldest decoy when decoys is full. s.mu must be
// held.
func (s *Server) addLocked(sid string, sess *session) {
	t := s.sessions
	if !sess.known {
		t = s.decoys
		if len(t) >= maxDecoys {
			var oldest string
			for k, v := range t {
				if oldest == "" || v.created.Before(t[oldest].created) {
					oldest = k
				}
			}
			s.removeLocked(t, oldest)
		}
	}
	t[sid] = sess
	s.perSource[sess.source]++
}

// takeLocked removes and returns the session sid, if any. s.mu must be
// held.
func (s *Server) takeLocked(sid string) (*session, bool) {
	for _, t := range []map[string]*session{s.sessions, s.decoys} {
		if v, ok := t[sid]; ok {
			s.removeLocked(t, sid)
			return v, true
		}
	}
	return nil, false
}

func (s *Server) removeLocked(t map[string]*session, sid string) {
	v := t[sid]
	delete(t, sid)
	if s.perSource[v.source]--; s.perSource[v.source] <= 0 {
		delete(s.perSource, v.source)
	}
}

func (s *Server) pruneLocked(now time.Time) {
	for _, t := range []map[string]*session{s.sessions, s.decoys} {
		for k, v := range t {
			if now.After(v.expires) {
				s.removeLocked(t, k)
			}
		}
	}
}

// unknownEvent is the journal event of an attempt on an unknown code, or
// nil past unknownRecordsPerMinute (then counted, and the count logged
// with the next one journaled).
func (s *Server) unknownEvent(now time.Time, reason string) *guard.Event {
	dropped, ok := s.unknown.Allow(now)
	if dropped > 0 {
		s.cfg.Log.Warn("pairing: attempts on unknown codes not journaled (over the per-minute bound)", "count", dropped)
	}
	if !ok {
		return nil
	}
	return &guard.Event{Resource: anyDevice, Reason: reason}
}

// codeName is the sealed-blob name of a code's PAKE password.
func codeName(id uint32) string { return fmt.Sprintf("pairing-code/%d", id) }

// Finish is the PairingService.Finish protocol route's function.
func (s *Server) Finish(ctx context.Context, _ peer.Peer, st *tls.ConnectionState, m *palyrav1.PairingFinishRequest) (*palyrav1.PairingFinishResponse, *guard.Event, error) {
	if len(m.GetSessionId()) != sessionIDLen || len(m.GetConfirmation()) == 0 || len(m.GetConfirmation()) > maxConfirmationBytes {
		return nil, nil, connect.NewError(connect.CodeInvalidArgument, errors.New("pairing finish needs a session id and a confirmation"))
	}
	now := s.cfg.Now()
	s.mu.Lock()
	sess, ok := s.takeLocked(string(m.GetSessionId())) // one attempt per session
	s.mu.Unlock()
	if !ok || now.After(sess.expires) {
		return nil, nil, connect.NewError(connect.CodePermissionDenied, errFailed)
	}
	if !sess.known {
		// A decoy: it fails like a wrong code, journaled within the
		// unknown-code bound.
		sess.result.Verify(m.GetConfirmation())
		return nil, s.unknownEvent(now, "pairing_confirmation_failed"), connect.NewError(connect.CodePermissionDenied, errFailed)
	}
	ev := &guard.Event{Resource: anyDevice, Reason: "pairing_confirmation_failed", Durable: true}
	binding, err := ChannelBinding(st)
	if err != nil || subtle.ConstantTimeCompare(binding, sess.binding) != 1 {
		ev.Reason = "pairing_channel_changed"
		return nil, ev, connect.NewError(connect.CodePermissionDenied, errFailed)
	}
	if err := sess.result.Verify(m.GetConfirmation()); err != nil {
		return nil, ev, connect.NewError(connect.CodePermissionDenied, errFailed)
	}
	key, err := sess.result.Key()
	if err != nil {
		return nil, ev, connect.NewError(connect.CodePermissionDenied, errFailed)
	}
	keys, err := deriveKeys(key, m.GetSessionId())
	if err != nil {
		return nil, ev, connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	pl, err := openFinishPayload(keys, m.GetSessionId(), m.GetSealed())
	if err != nil {
		ev.Reason = "pairing_bad_payload"
		return nil, ev, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if pl.expectedCA != "" && !strings.EqualFold(pl.expectedCA, pki.CertFingerprint(s.cfg.CA.Cert.Raw)) {
		// The client holds a URI for another daemon: nothing is
		// recorded, no certificate is issued.
		ev.Reason = "pairing_ca_mismatch"
		return nil, ev, connect.NewError(connect.CodeFailedPrecondition, errCAMismatch)
	}
	name := pl.name
	switch {
	case sess.code.Connector != "":
		name = sess.code.Connector
	case sess.code.Name != "":
		name = sess.code.Name
	}
	ev.Resource = deviceResource(pl.csr.DeviceID)
	if pl.csr.DeviceID == s.cfg.DaemonID {
		ev.Reason = "pairing_daemon_id"
		return nil, ev, connect.NewError(connect.CodeInvalidArgument, errors.New("that device id is the daemon's own"))
	}
	if err := s.cfg.Devices.Admissible(pl.csr.DeviceID, pl.csr.PublicKey); err != nil {
		ev.Reason = "pairing_key_refused"
		return nil, ev, connect.NewError(connect.CodePermissionDenied, continuityError(err))
	}
	if sess.code.Approve {
		// Pre-approved: nobody will see a conflict or a lookalike
		// flagged, so refuse now rather than issue or leave an approved
		// request that cannot complete. The code is used up either way.
		what := ""
		if s.cfg.Devices.NameInUse(name, pl.csr.DeviceID) {
			what = fmt.Sprintf("an active device is named %s", strconv.QuoteToASCII(name))
		} else if other, ok := s.cfg.Devices.NameLookalike(name, pl.csr.DeviceID); ok {
			what = fmt.Sprintf("the name %s looks like active device %s", strconv.QuoteToASCII(name), strconv.QuoteToASCII(other))
		}
		if what != "" {
			ev.Reason = "pairing_name_in_use"
			next := "pair again with a new code and another --name"
			if sess.code.Name != "" || sess.code.Connector != "" {
				next = "ask the daemon's owner for a new code with another name"
			}
			return nil, ev, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%s; this code is used up: %s", what, next))
		}
	}
	rid := identity.NewDeviceID().String()
	q := devices.PairingRequest{
		ID: rid, CodeID: sess.code.ID, DeviceID: pl.csr.DeviceID, Name: name, Platform: pl.platform, Connector: sess.code.Connector,
		PublicKey: pl.csr.PublicKey, CSR: pl.csr.CSR.Raw, PollHash: pollHash(keys.pollToken), State: devices.PairingPending,
		CreatedAt: now, ExpiresAt: now.Add(RequestTTL),
	}
	out := &palyrav1.PairingFinishResult{RequestId: rid, CaCertificate: s.cfg.CA.Cert.Raw, State: palyrav1.PairingState_PAIRING_STATE_PENDING, Kind: "device", DaemonId: s.cfg.DaemonID.String()}
	if q.Connector != "" {
		out.Kind = "connector"
	}
	out.Tcp, out.Quic = s.cfg.Addrs()
	if sess.code.Approve {
		// Pre-approved: stored and completed in one transaction.
		q.State = devices.PairingApproved
		cert, err := s.complete(ctx, q, true)
		if err != nil {
			ev.Reason = "pairing_issue_failed"
			return nil, ev, err
		}
		ev.Allowed, ev.Reason = true, "pairing_completed"
		out.State, out.Certificate = palyrav1.PairingState_PAIRING_STATE_COMPLETED, cert
	} else {
		if err := s.cfg.Devices.CreateRequest(ctx, q, now, MaxOpenRequests); err != nil {
			ev.Reason = "pairing_request_refused"
			if errors.Is(err, devices.ErrTooManyRequests) {
				return nil, ev, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("too many pairing requests wait for approval (%d); ask the daemon's owner to approve or reject them, then use a new code", MaxOpenRequests))
			}
			s.cfg.Log.Error("pairing: store request", "err", err)
			return nil, ev, connect.NewError(connect.CodeInternal, errors.New("internal error"))
		}
		ev.Allowed, ev.Reason = true, "pairing_requested"
	}
	s.cfg.Log.Info("pairing request", "request_id", rid, "device_id", q.DeviceID, "name", name, "connector", q.Connector, "fingerprint", identity.Fingerprint(q.PublicKey), "state", out.State.String())
	b, err := proto.Marshal(out)
	if err != nil {
		return nil, ev, connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	return &palyrav1.PairingFinishResponse{Sealed: seal(keys.toClient, m.GetSessionId(), b)}, ev, nil
}

// continuityError is what a device refused for key continuity is told.
func continuityError(err error) error {
	switch {
	case errors.Is(err, devices.ErrKeyBarred):
		return errors.New("this device key was revoked and can never be paired again; make a new identity")
	case errors.Is(err, devices.ErrKeyMismatch):
		return errors.New("this device id is paired with another key; a device keeps its key for life")
	case errors.Is(err, devices.ErrRevoked):
		return errors.New("this device id was revoked; make a new identity")
	case errors.Is(err, devices.ErrWeakID):
		return errors.New("the device id is not random; make a new identity")
	}
	return errors.New("device refused")
}

// finishPayload is a validated PairingFinishPayload.
type finishPayload struct {
	csr                        *pki.DeviceCSR
	name, platform, expectedCA string
}

// openFinishPayload opens and validates Finish's sealed payload.
func openFinishPayload(keys sessionKeys, sid, sealed []byte) (finishPayload, error) {
	pt, err := open(keys.toDaemon, sid, sealed)
	if err != nil {
		return finishPayload{}, err
	}
	return decodeFinishPayload(pt)
}

// decodeFinishPayload decodes and validates a PairingFinishPayload.
func decodeFinishPayload(b []byte) (finishPayload, error) {
	var m palyrav1.PairingFinishPayload
	if err := proto.Unmarshal(b, &m); err != nil {
		return finishPayload{}, errors.New("pairing: malformed payload")
	}
	if !ValidName(m.GetName()) {
		return finishPayload{}, ErrBadName
	}
	if !platformPattern.MatchString(m.GetPlatform()) {
		return finishPayload{}, errors.New("pairing: platform must be 1 to 32 of [a-z0-9/_.-]")
	}
	if len(m.GetExpectedCaFingerprint()) > 128 {
		return finishPayload{}, errors.New("pairing: expected CA fingerprint too long")
	}
	csr, err := pki.ParseDeviceCSR(m.GetCsr())
	if err != nil {
		// The parser's words (ASN.1 details) are not for the client.
		return finishPayload{}, errors.New("pairing: invalid CSR")
	}
	return finishPayload{csr: csr, name: m.GetName(), platform: m.GetPlatform(), expectedCA: m.GetExpectedCaFingerprint()}, nil
}

// ErrBadName is the answer to an invalid device name.
var ErrBadName = fmt.Errorf("pairing: device name must be 1..%d printable characters, no tabs, no runs of spaces, without surrounding spaces", maxNameLen)

// errCAMismatch is Finish's answer when the client expects another CA.
var errCAMismatch = errors.New("pairing: this daemon's CA does not match the fingerprint in the pairing URI")

// ValidName reports whether n is a valid device name: 1..64 printable
// characters (no tabs or other control or non-ASCII space characters),
// without surrounding spaces or runs of two or more spaces, so a name
// cannot pass for columns of a listing.
func ValidName(n string) bool {
	return n != "" && len([]rune(n)) <= maxNameLen && strings.TrimSpace(n) == n && !strings.Contains(n, "  ") && printable(n)
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// complete issues the certificate of an approved request and records the
// device, in one transaction with the request's move to completed (and,
// with store, the request's own insertion).
func (s *Server) complete(ctx context.Context, q devices.PairingRequest, store bool) ([]byte, error) {
	csr, err := pki.ParseDeviceCSR(q.CSR)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	d := devices.Device{ID: q.DeviceID, Name: q.Name, Owner: s.cfg.Owner, PublicKey: q.PublicKey, Connector: q.Connector}
	cert, err := s.cfg.CA.IssueClient(csr, d.CommonName(), s.cfg.Now(), s.cfg.CertTTL)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	if q.Connector != "" {
		d.Owner = ""
	}
	var newRequest *devices.PairingRequest
	if store {
		newRequest = &q
	}
	if _, err := s.cfg.Devices.CompletePairing(ctx, q.ID, d, cert, newRequest); err != nil {
		switch {
		case errors.Is(err, devices.ErrNameTaken):
			return nil, connect.NewError(connect.CodeFailedPrecondition, err)
		case errors.Is(err, devices.ErrRequestNotActive):
			return nil, connect.NewError(connect.CodeFailedPrecondition, err)
		case errors.Is(err, devices.ErrKeyBarred), errors.Is(err, devices.ErrKeyMismatch), errors.Is(err, devices.ErrRevoked), errors.Is(err, devices.ErrWeakID):
			return nil, connect.NewError(connect.CodePermissionDenied, continuityError(err))
		}
		s.cfg.Log.Error("pairing: complete", "err", err)
		return nil, connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	s.cfg.Log.Info("paired device", "device_id", q.DeviceID, "name", q.Name, "connector", q.Connector, "fingerprint", identity.Fingerprint(q.PublicKey))
	return cert.Raw, nil
}

// errPollRefused is the one answer to a poll for an unknown request or with
// a wrong proof.
var errPollRefused = errors.New("no such pairing request, or the proof is wrong")

// Poll is the PairingService.Poll protocol route's function.
func (s *Server) Poll(ctx context.Context, _ peer.Peer, _ *tls.ConnectionState, m *palyrav1.PairingPollRequest) (*palyrav1.PairingPollResponse, *guard.Event, error) {
	if len(m.GetRequestId()) > 64 || len(m.GetProof()) != 32 {
		return nil, nil, connect.NewError(connect.CodeInvalidArgument, errors.New("pairing poll needs a request id and a 32-byte proof"))
	}
	q, err := s.cfg.Devices.Request(ctx, m.GetRequestId(), s.cfg.Now())
	if err != nil && !errors.Is(err, devices.ErrRequestNotFound) {
		s.cfg.Log.Error("pairing: poll", "err", err)
		return nil, nil, connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	want := q.PollHash
	if err != nil {
		want = make([]byte, 32) // compare anyway: same work, same answer
	}
	if subtle.ConstantTimeCompare(pollHash(m.GetProof()), want) != 1 || err != nil {
		return nil, nil, connect.NewError(connect.CodePermissionDenied, errPollRefused)
	}
	out := &palyrav1.PairingPollResponse{State: StateProto(q.State), Certificate: q.Certificate}
	if q.State != devices.PairingApproved {
		return out, nil, nil
	}
	ev := &guard.Event{Resource: deviceResource(q.DeviceID), Allowed: true, Reason: "pairing_completed", Durable: true}
	cert, err := s.complete(ctx, q, false)
	if err != nil {
		ev.Allowed, ev.Reason = false, "pairing_issue_failed"
		return nil, ev, err
	}
	out.State, out.Certificate = palyrav1.PairingState_PAIRING_STATE_COMPLETED, cert
	return out, ev, nil
}

// StateProto is the API form of a request state.
func StateProto(st devices.PairingState) palyrav1.PairingState {
	switch st {
	case devices.PairingPending:
		return palyrav1.PairingState_PAIRING_STATE_PENDING
	case devices.PairingApproved:
		return palyrav1.PairingState_PAIRING_STATE_APPROVED
	case devices.PairingCompleted:
		return palyrav1.PairingState_PAIRING_STATE_COMPLETED
	case devices.PairingRejected:
		return palyrav1.PairingState_PAIRING_STATE_REJECTED
	case devices.PairingExpired:
		return palyrav1.PairingState_PAIRING_STATE_EXPIRED
	}
	return palyrav1.PairingState_PAIRING_STATE_UNSPECIFIED
}

// startLimiter allows perMinute starts per source (an IPv4 address or an
// IPv6 /64) per fixed one-minute window.
type startLimiter struct {
	perMinute int
	mu        sync.Mutex
	seen      map[netip.Prefix]startCount
}

type startCount struct {
	start time.Time
	n     int
}

const maxTrackedSources = 10000

func sourceOf(remote string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// allow reports whether one more Start from remote is allowed at now, and
// otherwise in how many seconds the next one will be.
func (l *startLimiter) allow(remote string, now time.Time) (wait int, ok bool) {
	src := sourceOf(remote)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[netip.Prefix]startCount{}
	}
	c := l.seen[src]
	if now.Sub(c.start) >= time.Minute || now.Before(c.start) {
		c = startCount{start: now}
	}
	if c.n >= l.perMinute {
		return int(c.start.Add(time.Minute).Sub(now).Seconds()) + 1, false
	}
	c.n++
	if len(l.seen) >= maxTrackedSources {
		for k, v := range l.seen {
			if now.Sub(v.start) >= time.Minute {
				delete(l.seen, k)
			}
		}
		if len(l.seen) >= maxTrackedSources {
			return 60, false
		}
	}
	l.seen[src] = c
	return 0, true
}

// newCodeID picks a random code id in 1..maxCodeID.
func newCodeID(r io.Reader) (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:])%maxCodeID + 1, nil
}
