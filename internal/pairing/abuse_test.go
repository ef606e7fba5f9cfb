package pairing

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	_ "modernc.org/sqlite"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/paircode"
	"github.com/palyra/palyra/internal/pake"
	"github.com/palyra/palyra/internal/peer"
)

// tlsState is the server's view of a real TLS connection and its binding.
type tlsState struct {
	server  *tls.ConnectionState
	binding []byte
}

func newTLSState(sv *tls.ConnectionState) *tlsState {
	b, _ := ChannelBinding(sv)
	return &tlsState{server: sv, binding: b}
}

// decoyStart sends a Start for an unknown code id from remote on the
// server's view s of a real TLS connection.
func (f *fixture) decoyStart(remote string, s *tlsState) (*palyrav1.PairingStartResponse, bool, error) {
	_, share, _ := pake.Start(pake.Initiator, pake.Config{Password: []byte("x"), ChannelBinding: s.binding, InitiatorID: initiatorID, ResponderID: responderID, Context: pakeContext(9999)}, rand.Reader)
	r, ev, err := f.srv.Start(context.Background(), peer.Peer{Transport: peer.TCP, Remote: remote}, s.server, &palyrav1.PairingStartRequest{Version: Version, CodeId: 9999, Share: share})
	return r, ev != nil, err
}

// Starts with unknown code ids from many sources, more than the decoy
// table holds, neither block a pairing with a real code nor write a
// journal record each.
func TestDecoyStartsCannotBlockRealPairing(t *testing.T) {
	f := newFixture(t)
	code := f.code(true)
	sv, _ := f.conn()
	s := newTLSState(sv)
	journaled := 0
	for i := range maxDecoys + 100 {
		remote := fmt.Sprintf("10.%d.%d.1:4000", i/250, i%250)
		_, rec, err := f.decoyStart(remote, s)
		if err != nil {
			t.Fatalf("decoy start %d: %v", i, err)
		}
		if rec {
			journaled++
		}
	}
	if journaled > unknownRecordsPerMinute {
		t.Fatalf("%d journal records for unknown-code starts in a minute, want at most %d", journaled, unknownRecordsPerMinute)
	}
	f.srv.mu.Lock()
	n := len(f.srv.decoys)
	f.srv.mu.Unlock()
	if n > maxDecoys {
		t.Fatalf("%d decoy sessions held, bound %d", n, maxDecoys)
	}
	ss, cs := f.conn()
	id := newID(t)
	a, err := f.pair(code, id, ss, cs)
	if err != nil {
		t.Fatalf("real pairing after a decoy flood: %v", err)
	}
	if a.outcome.GetState() != palyrav1.PairingState_PAIRING_STATE_COMPLETED {
		t.Fatalf("state %v", a.outcome.GetState())
	}
}

// One source holds at most maxSessionsPerSource live sessions; the
// refusal says when to try again; other sources are not affected.
func TestSessionsPerSourceAreCapped(t *testing.T) {
	f := newFixture(t)
	sv, _ := f.conn()
	s := newTLSState(sv)
	var first *palyrav1.PairingStartResponse
	for i := range maxSessionsPerSource {
		r, _, err := f.decoyStart("10.0.0.1:1000", s)
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if first == nil {
			first = r
		}
	}
	_, _, err := f.decoyStart("10.0.0.1:2000", s)
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "try again in ") {
		t.Fatalf("start past the per-source cap: %v", err)
	}
	if _, _, err := f.decoyStart("10.0.0.2:1000", s); err != nil {
		t.Fatalf("another source: %v", err)
	}
	// A Finish ends a session, and frees its place.
	f.srv.Finish(context.Background(), tcpPeer, sv, &palyrav1.PairingFinishRequest{SessionId: first.GetSessionId(), Confirmation: make([]byte, 32)})
	if _, _, err := f.decoyStart("10.0.0.1:3000", s); err != nil {
		t.Fatalf("start after a finish: %v", err)
	}
}

// A client whose URI names another CA learns it before its CSR is
// accepted: the daemon refuses the Finish and records nothing, even for a
// pre-approved code.
func TestFinishWithAnotherCAIsRefusedAndRecordsNothing(t *testing.T) {
	for _, approve := range []bool{true, false} {
		f := newFixture(t)
		s, c := f.conn()
		_, err := f.pairWith(f.code(approve), newID(t), s, c, func(p *palyrav1.PairingFinishPayload) {
			p.ExpectedCaFingerprint = strings.Repeat("ab", 32)
		})
		if connect.CodeOf(err) != connect.CodeFailedPrecondition || !errors.Is(callError(err), ErrCAMismatch) {
			t.Fatalf("approve=%v: finish with another CA: %v", approve, err)
		}
		if qs, _ := f.reg.Requests(context.Background(), true, time.Now()); len(qs) != 0 || len(f.reg.List()) != 0 {
			t.Fatalf("approve=%v: %d requests, %d devices recorded", approve, len(qs), len(f.reg.List()))
		}
		// The right fingerprint pairs.
		s, c = f.conn()
		if _, err := f.pairWith(f.code(approve), newID(t), s, c, func(p *palyrav1.PairingFinishPayload) {
			p.ExpectedCaFingerprint = f.ca.Fingerprint()
		}); err != nil {
			t.Fatalf("approve=%v: right CA: %v", approve, err)
		}
	}
}

// devices.db holds each code's PAKE password sealed under the daemon's
// key: the stored bytes are not the password, and a server with another
// key cannot use them.
func TestCodesAreSealedInDevicesDB(t *testing.T) {
	f := newFixture(t)
	code := f.code(true)
	db, err := sql.Open("sqlite", filepath.Join(f.dir, "devices.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored []byte
	if err := db.QueryRow(`SELECT sealed_password FROM pairing_codes WHERE code_id = ?`, code.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, code.Password()) {
		t.Fatal("devices.db holds the code's password")
	}
	// Guessing the 10^6 digits against the stored bytes finds nothing.
	for d := range 1000000 {
		c := paircode.Code{ID: code.ID, Secret: fmt.Sprintf("%06d", d)}
		if bytes.Contains(stored, c.Password()) {
			t.Fatalf("digits %06d found in devices.db", d)
		}
	}
	// Another daemon key: the code does not open, the pairing fails.
	other := NewServer(Config{Devices: f.reg, CA: f.ca, CertTTL: time.Hour, Owner: authn.OwnerUser, Addrs: f.srv.cfg.Addrs, StartsPerMinute: 1000, CodeKey: bytes.Repeat([]byte{9}, 32)})
	main := f.srv
	f.srv = other
	s, c := f.conn()
	if _, err := f.pair(code, newID(t), s, c); !errors.Is(err, ErrFailed) {
		t.Fatalf("code opened under another key: %v", err)
	}
	f.srv = main
}

// Names and platforms that could pass for table columns are refused, and
// a malformed CSR is answered without the parser's words.
func TestFinishPayloadRules(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		edit func(*palyrav1.PairingFinishPayload)
		want string
	}{
		{"run of spaces", func(p *palyrav1.PairingFinishPayload) { p.Name = "phone      3f2a 9c01" }, "runs of spaces"},
		{"tab", func(p *palyrav1.PairingFinishPayload) { p.Name = "phone\tpending" }, "device name"},
		{"platform with spaces", func(p *palyrav1.PairingFinishPayload) { p.Platform = "linux  NAME IN USE" }, "platform"},
		{"platform upper case", func(p *palyrav1.PairingFinishPayload) { p.Platform = "Linux/amd64" }, "platform"},
		{"platform too long", func(p *palyrav1.PairingFinishPayload) { p.Platform = strings.Repeat("a", 33) }, "platform"},
		{"empty platform", func(p *palyrav1.PairingFinishPayload) { p.Platform = "" }, "platform"},
		{"malformed CSR", func(p *palyrav1.PairingFinishPayload) { p.Csr = []byte{0x30, 0x03, 0x02, 0x01} }, "pairing: invalid CSR"},
	} {
		s, c := f.conn()
		_, err := f.pairWith(f.code(true), newID(t), s, c, tc.edit)
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "asn1") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	s, c := f.conn()
	if _, err := f.pairWith(f.code(true), newID(t), s, c, func(p *palyrav1.PairingFinishPayload) { p.Platform = "linux/amd64" }); err != nil {
		t.Fatalf("valid payload: %v", err)
	}
}

// A name drawn like an active device's is flagged in the listing, and
// refused for a pre-approved code (nobody would see the flag); a code
// naming an active device is refused when it is made.
func TestLookalikeAndTakenNames(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	name := func(n string) func(*palyrav1.PairingFinishPayload) {
		return func(p *palyrav1.PairingFinishPayload) { p.Name = n }
	}
	s, c := f.conn()
	if _, err := f.pairWith(f.code(true), newID(t), s, c, name("laptop")); err != nil {
		t.Fatal(err)
	}
	s, c = f.conn()
	if _, err := f.pairWith(f.code(false), newID(t), s, c, name("lapt\u03bfp")); err != nil {
		t.Fatal(err)
	}
	r, err := f.srv.listRequests(ctx, authn.Caller{}, false)
	if err != nil || len(r.GetRequests()) != 1 || r.GetRequests()[0].GetLookalikeOf() != "laptop" {
		t.Fatalf("lookalike not flagged: %v %v", r, err)
	}
	s, c = f.conn()
	_, err = f.pairWith(f.code(true), newID(t), s, c, name("l\u0430ptop"))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), `looks like active device "laptop"`) || !strings.Contains(err.Error(), "new code") {
		t.Fatalf("pre-approved lookalike: %v", err)
	}
	s, c = f.conn()
	_, err = f.pairWith(f.code(true), newID(t), s, c, name("LAPTOP"))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "pair again with a new code and another --name") {
		t.Fatalf("pre-approved taken name: %v", err)
	}
	if _, err := f.srv.createCode(ctx, authn.Caller{}, codeSpec{name: "laptop", ttl: time.Minute}); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("code for a taken name: %v", err)
	}
	if len(f.reg.List()) != 1 {
		t.Fatalf("%d devices", len(f.reg.List()))
	}
}

// Approving or rejecting a request that is not pending says what it is.
func TestDecideNonPendingSaysItsState(t *testing.T) {
	f := newFixture(t)
	s, c := f.conn()
	a, err := f.pair(f.code(true), newID(t), s, c)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := f.reg.Request(context.Background(), a.outcome.GetRequestId(), time.Now())
	_, err = f.srv.decide(true)(context.Background(), authn.Caller{Principal: authn.Owner()}, q)
	want := "pairing request " + q.ID + " is already completed; nothing to approve"
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.HasSuffix(err.Error(), want) || strings.Contains(err.Error(), "devices:") {
		t.Fatalf("approve of a completed request: %v", err)
	}
}

// The daemon (or something at its address) resetting the connection
// during the handshake is an unreachable daemon, not a generic failure;
// nothing is left on disk.
func TestJoinReportsAResetAsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	out := filepath.Join(t.TempDir(), "b")
	_, err = Join(context.Background(), JoinOptions{Invite: "17-123456", Server: l.Addr().String(), OutDir: out, Name: "dev"})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("reset: %v", err)
	}
	if _, serr := os.Stat(out); !os.IsNotExist(serr) {
		t.Fatalf("bundle dir left: %v", serr)
	}
}

// --out creates only its last component: a missing parent is refused
// before anything is sent, and no folder is made.
func TestJoinRefusesAMissingOutParent(t *testing.T) {
	dir := t.TempDir()
	_, err := Join(context.Background(), JoinOptions{Invite: "17-123456", Server: "127.0.0.1:1", OutDir: filepath.Join(dir, "nonexistent", "zz", "b"), Name: "dev"})
	if !errors.Is(err, ErrOutParent) {
		t.Fatalf("missing parent: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nonexistent")); !os.IsNotExist(err) {
		t.Fatalf("parent folders made: %v", err)
	}
}

// After revoke and remove, a new key claiming the old device id is
// refused (it would inherit the id's vault scope and audit history); the
// name pairs again with a new key under a new id.
func TestRemovedDeviceIDCannotBeTakenOver(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old := newID(t)
	s, c := f.conn()
	if _, err := f.pair(f.code(true), old, s, c); err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Revoke(ctx, old.DeviceID); err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Remove(ctx, old.DeviceID); err != nil {
		t.Fatal(err)
	}
	taker := newID(t)
	taker.DeviceID = old.DeviceID
	s, c = f.conn()
	if _, err := f.pair(f.code(true), taker, s, c); connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("new key under a removed id: %v", err)
	}
	s, c = f.conn()
	if _, err := f.pair(f.code(true), newID(t), s, c); err != nil {
		t.Fatalf("name after remove, new key and id: %v", err)
	}
	if d, err := f.reg.Get(old.DeviceID); err == nil {
		t.Fatalf("old id taken over: %+v", d)
	}
}

func TestDecideRaceNamesTheRequest(t *testing.T) {
	f := newFixture(t)
	s, c := f.conn()
	a, err := f.pair(f.code(true), newID(t), s, c)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := f.reg.Request(context.Background(), a.outcome.GetRequestId(), time.Now())
	q.State = devices.PairingPending // read before another approval won
	_, err = f.srv.decide(true)(context.Background(), authn.Caller{Principal: authn.Owner()}, q)
	if err == nil || !strings.Contains(err.Error(), "pairing request "+q.ID+" is no longer pending") {
		t.Fatalf("lost race: %v", err)
	}
}
