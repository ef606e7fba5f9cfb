package pairing

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/paircode"
	"github.com/palyra/palyra/internal/pake"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/pki"
)

// fixture is a pairing server on a real registry and CA, and a source of
// real TLS 1.3 connections to take channel bindings from.
type fixture struct {
	t   testing.TB
	srv *Server
	reg *devices.Registry
	ca  *pki.CA
	sc  *pki.ServerCert
	dir string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), bytes.Repeat([]byte{7}, 32), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := pki.NewServerCert(ca, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := devices.Open(context.Background(), filepath.Join(dir, "devices.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	srv := NewServer(Config{Devices: reg, CA: ca, CertTTL: time.Hour, Owner: authn.OwnerUser, Addrs: func() (string, string) { return "127.0.0.1:1", "127.0.0.1:1" }, StartsPerMinute: 1000})
	return &fixture{t: t, srv: srv, reg: reg, ca: ca, sc: sc, dir: dir}
}

// conn handshakes a real TLS 1.3 connection over a pipe and returns the
// server's and the client's view of it.
func (f *fixture) conn() (server, client *tls.ConnectionState) {
	f.t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	s := tls.Server(a, &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: f.sc.GetCertificate})
	c := tls.Client(b, pairingTLS("127.0.0.1:1", "h2"))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Handshake() }()
	if err := c.Handshake(); err != nil {
		f.t.Fatal(err)
	}
	wg.Wait()
	ss, cs := s.ConnectionState(), c.ConnectionState()
	return &ss, &cs
}

func (f *fixture) code(approve bool) paircode.Code {
	f.t.Helper()
	r, err := f.srv.createCode(context.Background(), authn.Caller{}, codeSpec{ttl: time.Minute, approve: approve})
	if err != nil {
		f.t.Fatal(err)
	}
	c, _ := paircode.Parse(r.GetCode())
	return c
}

// attempt is one client run of the protocol, split into its messages.
type attempt struct {
	id      *identity.Identity
	party   *pake.Party
	start   *palyrav1.PairingStartRequest
	startR  *palyrav1.PairingStartResponse
	result  *pake.Result
	keys    sessionKeys
	finish  *palyrav1.PairingFinishRequest
	outcome *palyrav1.PairingFinishResult
}

var tcpPeer = peer.Peer{Transport: peer.TCP, Remote: "127.0.0.1:5555"}

// pair runs the client side against f.srv with the client's channel view
// cview and the server's sview; it stops at the first failure.
func (f *fixture) pair(code paircode.Code, id *identity.Identity, sview, cview *tls.ConnectionState) (*attempt, error) {
	return f.pairWith(code, id, sview, cview, nil)
}

// pairWith is pair with the Finish payload changed by edit (if set) before
// it is sealed.
func (f *fixture) pairWith(code paircode.Code, id *identity.Identity, sview, cview *tls.ConnectionState, edit func(*palyrav1.PairingFinishPayload)) (*attempt, error) {
	ctx := context.Background()
	a := &attempt{id: id}
	binding, _ := ChannelBinding(cview)
	var share []byte
	var err error
	a.party, share, err = pake.Start(pake.Initiator, pake.Config{Password: code.Password(), ChannelBinding: binding, InitiatorID: initiatorID, ResponderID: responderID, Context: pakeContext(code.ID)}, rand.Reader)
	if err != nil {
		return a, err
	}
	a.start = &palyrav1.PairingStartRequest{Version: Version, CodeId: code.ID, Share: share}
	a.startR, _, err = f.srv.Start(ctx, tcpPeer, sview, a.start)
	if err != nil {
		return a, err
	}
	if a.result, err = a.party.Finish(a.startR.GetShare()); err != nil {
		return a, err
	}
	if err := a.result.Verify(a.startR.GetConfirmation()); err != nil {
		return a, ErrFailed
	}
	key, _ := a.result.Key()
	a.keys, _ = deriveKeys(key, a.startR.GetSessionId())
	csr, _ := pki.CreateDeviceCSR(id, "dev")
	payload := &palyrav1.PairingFinishPayload{Csr: csr, Name: "dev", Platform: "test"}
	if edit != nil {
		edit(payload)
	}
	pl, _ := proto.Marshal(payload)
	a.finish = &palyrav1.PairingFinishRequest{SessionId: a.startR.GetSessionId(), Confirmation: a.result.Confirmation(), Sealed: seal(a.keys.toDaemon, a.startR.GetSessionId(), pl)}
	fr, _, err := f.srv.Finish(ctx, tcpPeer, sview, a.finish)
	if err != nil {
		return a, err
	}
	a.outcome, err = openFinishResult(a.keys, a.startR.GetSessionId(), fr.GetSealed())
	return a, err
}

func newID(t *testing.T) *identity.Identity {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPairingWithPreApprovedCode(t *testing.T) {
	f := newFixture(t)
	s, c := f.conn()
	id := newID(t)
	a, err := f.pair(f.code(true), id, s, c)
	if err != nil {
		t.Fatal(err)
	}
	if a.outcome.GetState() != palyrav1.PairingState_PAIRING_STATE_COMPLETED || len(a.outcome.GetCertificate()) == 0 {
		t.Fatalf("pre-approved pairing not completed: %v", a.outcome.GetState())
	}
	if err := checkIssued(a.outcome.GetCertificate(), f.ca.Pool(), id); err != nil {
		t.Fatal(err)
	}
	if d, err := f.reg.Get(id.DeviceID); err != nil || d.Owner != authn.OwnerUser {
		t.Fatalf("device not recorded: %+v %v", d, err)
	}
}

func TestPendingRequestCompletesOnPollAfterApproval(t *testing.T) {
	f := newFixture(t)
	s, c := f.conn()
	id := newID(t)
	a, err := f.pair(f.code(false), id, s, c)
	if err != nil {
		t.Fatal(err)
	}
	rid := a.outcome.GetRequestId()
	poll := func(proof []byte) (*palyrav1.PairingPollResponse, error) {
		r, _, err := f.srv.Poll(context.Background(), tcpPeer, nil, &palyrav1.PairingPollRequest{RequestId: rid, Proof: proof})
		return r, err
	}
	if r, err := poll(a.keys.pollToken); err != nil || r.GetState() != palyrav1.PairingState_PAIRING_STATE_PENDING {
		t.Fatalf("poll before approval: %v %v", r, err)
	}
	// A wrong proof and an unknown id get the same refusal.
	bad := bytes.Repeat([]byte{1}, 32)
	_, err1 := poll(bad)
	_, _, err2 := f.srv.Poll(context.Background(), tcpPeer, nil, &palyrav1.PairingPollRequest{RequestId: "nope", Proof: a.keys.pollToken})
	if connect.CodeOf(err1) != connect.CodePermissionDenied || err1.Error() != err2.Error() {
		t.Fatalf("bad proof %v / unknown id %v", err1, err2)
	}
	q, _ := f.reg.Request(context.Background(), rid, time.Now())
	if _, err := f.srv.decide(true)(context.Background(), authn.Caller{Principal: authn.Owner()}, q); err != nil {
		t.Fatal(err)
	}
	r, err := poll(a.keys.pollToken)
	if err != nil || r.GetState() != palyrav1.PairingState_PAIRING_STATE_COMPLETED {
		t.Fatalf("poll after approval: %v %v", r, err)
	}
	if err := checkIssued(r.GetCertificate(), f.ca.Pool(), id); err != nil {
		t.Fatal(err)
	}
	// Decided requests cannot be decided again.
	q, _ = f.reg.Request(context.Background(), rid, time.Now())
	if _, err := f.srv.decide(false)(context.Background(), authn.Caller{Principal: authn.Owner()}, q); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("reject after completion: %v", err)
	}
}

func TestWrongCodeBurnsIt(t *testing.T) {
	f := newFixture(t)
	code := f.code(true)
	s, c := f.conn()
	wrong := code
	wrong.Secret = "000000"
	if wrong.Secret == code.Secret {
		wrong.Secret = "111111"
	}
	if _, err := f.pair(wrong, newID(t), s, c); !errors.Is(err, ErrFailed) {
		t.Fatalf("wrong code: %v", err)
	}
	s, c = f.conn()
	if _, err := f.pair(code, newID(t), s, c); !errors.Is(err, ErrFailed) {
		t.Fatalf("right code after a wrong attempt: %v", err)
	}
	if n := len(f.reg.List()); n != 0 {
		t.Fatalf("%d devices recorded", n)
	}
}

func TestUnknownCodeIDLooksLikeAWrongCode(t *testing.T) {
	f := newFixture(t)
	s, c := f.conn()
	a, err := f.pair(paircode.Code{ID: 4242, Secret: "123456"}, newID(t), s, c)
	if !errors.Is(err, ErrFailed) || a.startR == nil || len(a.startR.GetShare()) == 0 || len(a.startR.GetConfirmation()) == 0 {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestExpiredCodeFails(t *testing.T) {
	f := newFixture(t)
	code := f.code(true)
	f.srv.cfg.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	s, c := f.conn()
	if _, err := f.pair(code, newID(t), s, c); !errors.Is(err, ErrFailed) {
		t.Fatalf("expired code: %v", err)
	}
}

// A relay that terminates TLS has one connection to the client and
// another to the daemon: their exporters differ, so confirmation fails on
// both sides.
func TestTLSTerminatingRelayFailsBothSides(t *testing.T) {
	f := newFixture(t)
	code := f.code(true)
	daemonSide, _ := f.conn()
	_, clientSide := f.conn()
	if _, err := f.pair(code, newID(t), daemonSide, clientSide); !errors.Is(err, ErrFailed) {
		t.Fatalf("client side through a relay: %v", err)
	}
	// The relay knows no better: forwarding the client's confirmation
	// fails on the daemon's side too. Recompute it as a relay would: with
	// the client's messages only.
	s, c := f.conn()
	a, err := f.pair(code, newID(t), s, c)
	if !errors.Is(err, ErrFailed) || a.finish != nil {
		t.Fatalf("code not burned by the relayed attempt: %v", err)
	}
	if n := len(f.reg.List()); n != 0 {
		t.Fatalf("%d devices recorded", n)
	}
}

func TestDaemonRefusesConfirmationFromAnotherChannel(t *testing.T) {
	f := newFixture(t)
	code := f.code(true)
	s, c := f.conn()
	// The client computes everything on channel c; the daemon receives
	// Start on s, but Finish arrives on another connection.
	id := newID(t)
	binding, _ := ChannelBinding(c)
	party, share, _ := pake.Start(pake.Initiator, pake.Config{Password: code.Password(), ChannelBinding: binding, InitiatorID: initiatorID, ResponderID: responderID, Context: pakeContext(code.ID)}, rand.Reader)
	st, _, err := f.srv.Start(context.Background(), tcpPeer, s, &palyrav1.PairingStartRequest{Version: Version, CodeId: code.ID, Share: share})
	if err != nil {
		t.Fatal(err)
	}
	res, _ := party.Finish(st.GetShare())
	if err := res.Verify(st.GetConfirmation()); err != nil {
		t.Fatal(err)
	}
	other, _ := f.conn()
	csr, _ := pki.CreateDeviceCSR(id, "dev")
	key, _ := res.Key()
	keys, _ := deriveKeys(key, st.GetSessionId())
	pl, _ := proto.Marshal(&palyrav1.PairingFinishPayload{Csr: csr, Name: "dev"})
	_, ev, err := f.srv.Finish(context.Background(), tcpPeer, other, &palyrav1.PairingFinishRequest{SessionId: st.GetSessionId(), Confirmation: res.Confirmation(), Sealed: seal(keys.toDaemon, st.GetSessionId(), pl)})
	if connect.CodeOf(err) != connect.CodePermissionDenied || ev == nil || ev.Allowed {
		t.Fatalf("finish on another channel: %v %+v", err, ev)
	}
}

func TestReplayedMessagesFail(t *testing.T) {
	f := newFixture(t)
	code := f.code(false)
	s, c := f.conn()
	a, err := f.pair(code, newID(t), s, c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Start again, same bytes, same channel: the code is used, so the
	// daemon runs against a random password and its confirmation does
	// not verify for the code's holder.
	st, _, err := f.srv.Start(ctx, tcpPeer, s, a.start)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := a.party.Finish(st.GetShare()); err == nil && r.Verify(st.GetConfirmation()) == nil {
		t.Fatal("replayed start confirmed")
	}
	// Finish again: the session was used up.
	if _, _, err := f.srv.Finish(ctx, tcpPeer, s, a.finish); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("replayed finish: %v", err)
	}
	// The old finish against the new session: wrong session id.
	replay := proto.Clone(a.finish).(*palyrav1.PairingFinishRequest)
	replay.SessionId = st.GetSessionId()
	if _, _, err := f.srv.Finish(ctx, tcpPeer, s, replay); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("finish replayed into a new session: %v", err)
	}
	if qs, _ := f.reg.Requests(ctx, true, time.Now()); len(qs) != 1 {
		t.Fatalf("%d requests, want 1", len(qs))
	}
}

func TestRacingClientsAtMostOneSucceeds(t *testing.T) {
	f := newFixture(t)
	code := f.code(true)
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	views := make([][2]*tls.ConnectionState, n)
	for i := range views {
		views[i][0], views[i][1] = f.conn()
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.pair(code, newID(t), views[i][0], views[i][1]); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok > 1 {
		t.Fatalf("%d clients paired with one code", ok)
	}
	if len(f.reg.List()) != ok {
		t.Fatalf("%d devices for %d successes", len(f.reg.List()), ok)
	}
}

func TestKeyContinuity(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := newID(t)
	s, c := f.conn()
	if _, err := f.pair(f.code(true), id, s, c); err != nil {
		t.Fatal(err)
	}
	// The same id with another key.
	other := newID(t)
	other.DeviceID = id.DeviceID
	s, c = f.conn()
	if _, err := f.pair(f.code(true), other, s, c); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("known id, other key: %v", err)
	}
	// A revoked key under a fresh id.
	if err := f.reg.Revoke(ctx, id.DeviceID); err != nil {
		t.Fatal(err)
	}
	fresh := *id
	fresh.DeviceID = identity.NewDeviceID()
	s, c = f.conn()
	if _, err := f.pair(f.code(true), &fresh, s, c); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("revoked key, fresh id: %v", err)
	}
	// A non-random id.
	weak := newID(t)
	weak.DeviceID = "01J00000000000000000000000"
	s, c = f.conn()
	if _, err := f.pair(f.code(true), weak, s, c); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("weak id: %v", err)
	}
	if n := len(f.reg.List()); n != 1 {
		t.Fatalf("%d devices, want 1", n)
	}
}

func TestStartsAreRateLimitedPerSource(t *testing.T) {
	f := newFixture(t)
	f.srv.starts.perMinute = 3
	s, _ := f.conn()
	start := func(remote string) error {
		_, _, err := f.srv.Start(context.Background(), peer.Peer{Transport: peer.TCP, Remote: remote}, s, &palyrav1.PairingStartRequest{Version: Version, CodeId: 1, Share: make([]byte, 32)})
		return err
	}
	for range 3 {
		start("10.0.0.1:1000")
	}
	if err := start("10.0.0.1:2000"); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("4th start from one source: %v", err)
	}
	if err := start("10.0.0.2:1000"); connect.CodeOf(err) == connect.CodeResourceExhausted {
		t.Fatalf("another source limited: %v", err)
	}
}
