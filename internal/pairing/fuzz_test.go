package pairing

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pki"
)

// FuzzDecodeFinishPayload: the daemon's decoder of what a client seals into
// Finish never panics, and accepts only a valid CSR, name and platform.
func FuzzDecodeFinishPayload(f *testing.F) {
	id, _ := identity.Generate()
	csr, _ := pki.CreateDeviceCSR(id, "phone")
	for _, m := range []*palyrav1.PairingFinishPayload{
		{Csr: csr, Name: "phone", Platform: "linux/amd64"},
		{Csr: csr, Name: " padded"},
		{Csr: csr[:len(csr)/2], Name: "half"},
		{Name: "phone"},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeFinishPayload(b)
		if err != nil {
			return
		}
		if p.csr == nil || !ValidName(p.name) || !platformPattern.MatchString(p.platform) {
			t.Fatalf("accepted an invalid payload: %+v", p)
		}
	})
}

// FuzzOpenFinishPayload: a sealed payload that was not sealed under the
// session's key never opens.
func FuzzOpenFinishPayload(f *testing.F) {
	sid := bytes.Repeat([]byte{3}, sessionIDLen)
	keys, _ := deriveKeys(bytes.Repeat([]byte{5}, 32), sid)
	f.Add(seal(keys.toDaemon, sid, []byte("x")))
	f.Add(make([]byte, 12))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, sealed []byte) {
		pl, err := openFinishPayload(keys, sid, sealed)
		if err == nil && pl.csr == nil {
			t.Fatal("opened without a CSR")
		}
		// Whatever opened under the wrong direction's key is a bug.
		if _, err := open(keys.toClient, sid, sealed); err == nil && len(sealed) > 0 {
			if _, err2 := open(keys.toDaemon, sid, sealed); err2 == nil {
				t.Fatal("one message opens under both directions' keys")
			}
		}
	})
}

// FuzzDecodeFinishResult: the client's decoder of the daemon's sealed
// answer never panics and requires a request id and a CA certificate.
func FuzzDecodeFinishResult(f *testing.F) {
	for _, m := range []*palyrav1.PairingFinishResult{
		{RequestId: "01JD0REQ5W3X8M2K9T4N6B1C7Q", CaCertificate: []byte{0x30, 0x03}, State: palyrav1.PairingState_PAIRING_STATE_PENDING, Kind: "device", Tcp: "127.0.0.1:7443"},
		{RequestId: "r", State: palyrav1.PairingState_PAIRING_STATE_COMPLETED, Certificate: []byte{1}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte{0x1a, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeFinishResult(b)
		if err == nil && (r.GetRequestId() == "" || len(r.GetCaCertificate()) == 0) {
			t.Fatalf("accepted an incomplete answer: %v", r)
		}
	})
}

// FuzzServerMessages: any Start, Finish or Poll message an anonymous
// caller can send is answered without a panic and never pairs a device.
func FuzzServerMessages(f *testing.F) {
	fx := newFixture(f)
	code := fx.code(true).ID
	st, _ := proto.Marshal(&palyrav1.PairingStartRequest{Version: Version, CodeId: code, Share: make([]byte, 32)})
	fin, _ := proto.Marshal(&palyrav1.PairingFinishRequest{SessionId: make([]byte, sessionIDLen), Confirmation: make([]byte, 64), Sealed: make([]byte, 40)})
	poll, _ := proto.Marshal(&palyrav1.PairingPollRequest{RequestId: "x", Proof: make([]byte, 32)})
	f.Add(uint8(0), st)
	f.Add(uint8(1), fin)
	f.Add(uint8(2), poll)
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		fx.t = t
		s, _ := fx.conn()
		ctx := t.Context()
		switch which % 3 {
		case 0:
			var m palyrav1.PairingStartRequest
			if proto.Unmarshal(b, &m) == nil {
				fx.srv.Start(ctx, tcpPeer, s, &m)
			}
		case 1:
			var m palyrav1.PairingFinishRequest
			if proto.Unmarshal(b, &m) == nil {
				fx.srv.Finish(ctx, tcpPeer, s, &m)
			}
		case 2:
			var m palyrav1.PairingPollRequest
			if proto.Unmarshal(b, &m) == nil {
				fx.srv.Poll(ctx, tcpPeer, s, &m)
			}
		}
		if n := len(fx.reg.List()); n != 0 {
			t.Fatalf("%d devices paired by fuzzed messages", n)
		}
	})
}
