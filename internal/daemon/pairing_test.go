package daemon

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/pairing"
	"github.com/palyra/palyra/internal/pake"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/pki"
)

// TestPairingStartIsAnonymousAndJournaled checks the protocol route kind:
// a caller without a certificate reaches Start over TCP and QUIC (r.TLS
// carries the exporter on both), its attempt is journaled under
// "anonymous", and over the Unix socket (no TLS, nothing to bind to) it is
// refused without a record.
func TestPairingStartIsAnonymousAndJournaled(t *testing.T) {
	td := startDaemon(t, nil)
	ctx := context.Background()
	_, share, err := pake.Start(pake.Initiator, pake.Config{Password: make([]byte, 32), ChannelBinding: make([]byte, 32)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := &palyrav1.PairingStartRequest{Version: 1, CodeId: 4242, Share: share}
	for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
		hc, closeFn := client.TCPHTTPClient(nil, td.ca.Pool())
		addr := td.addrs.TCP
		if tr == peer.QUIC {
			hc, closeFn = client.QUICHTTPClient(nil, td.ca.Pool())
			addr = td.addrs.QUIC
		}
		svc := palyrav1connect.NewPairingServiceClient(hc, "https://"+addr, client.ClientOptions(tr)...)
		r, err := svc.Start(ctx, connect.NewRequest(req))
		closeFn()
		if err != nil || len(r.Msg.GetShare()) == 0 || len(r.Msg.GetConfirmation()) == 0 || len(r.Msg.GetSessionId()) != 16 {
			t.Fatalf("%s: anonymous start of an unknown code: %v %v", tr, r, err)
		}
	}
	if _, err := td.admin.Pairing.Start(ctx, connect.NewRequest(req)); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("start over the unix socket: %v", err)
	}
	l, err := td.admin.Audit.List(ctx, connect.NewRequest(&palyrav1.AuditListRequest{Principal: "anonymous"}))
	if err != nil {
		t.Fatal(err)
	}
	var transports []string
	for _, rec := range l.Msg.GetRecords() {
		if rec.GetAction() != "device.pair" || rec.GetDecision() != "deny" || rec.GetReason() != "pairing_code_unknown" {
			t.Errorf("record: %v", rec)
		}
		transports = append(transports, rec.GetTransport())
	}
	if len(transports) != 2 || transports[0] != "tcp" || transports[1] != "quic" {
		t.Fatalf("anonymous records on %v, want tcp and quic", transports)
	}
}

// TestEnrollRefusesABarredKey: a key ever revoked cannot be enrolled again,
// under a fresh id either, and a non-random id is refused.
func TestEnrollRefusesABarredKey(t *testing.T) {
	td := startDaemon(t, nil)
	ctx := context.Background()
	b := td.enroll(t, "laptop")
	if _, err := td.admin.Devices.Revoke(ctx, connect.NewRequest(&palyrav1.RevokeDeviceRequest{DeviceId: b.Identity.DeviceID.String()})); err != nil {
		t.Fatal(err)
	}
	again := *b.Identity
	again.DeviceID = identity.NewDeviceID()
	csr, err := pki.CreateDeviceCSR(&again, "laptop2")
	if err != nil {
		t.Fatal(err)
	}
	_, err = td.admin.Devices.Enroll(ctx, connect.NewRequest(&palyrav1.EnrollDeviceRequest{Name: "laptop2", Csr: csr}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("barred key under a fresh id: %v", err)
	}
	weak, _ := identity.Generate()
	weak.DeviceID = "01J00000000000000000000000"
	csr, _ = pki.CreateDeviceCSR(weak, "weak")
	_, err = td.admin.Devices.Enroll(ctx, connect.NewRequest(&palyrav1.EnrollDeviceRequest{Name: "weak", Csr: csr}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("non-random id: %v", err)
	}
	if n := len(td.devices.List()); n != 1 {
		t.Fatalf("%d devices", n)
	}
}

// TestPairingBodiesAreBounded: the anonymous pairing procedures take only
// small bodies.
func TestPairingBodiesAreBounded(t *testing.T) {
	td := startDaemon(t, nil)
	hc, closeFn := client.TCPHTTPClient(nil, td.ca.Pool())
	defer closeFn()
	svc := palyrav1connect.NewPairingServiceClient(hc, "https://"+td.addrs.TCP, client.ClientOptions(peer.TCP)...)
	big := make([]byte, pairing.MaxFinishBytes)
	_, err := svc.Finish(context.Background(), connect.NewRequest(&palyrav1.PairingFinishRequest{SessionId: make([]byte, 16), Confirmation: make([]byte, 64), Sealed: big}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("oversized finish: %v", err)
	}
	_, err = svc.Start(context.Background(), connect.NewRequest(&palyrav1.PairingStartRequest{Version: 1, CodeId: 1, Share: make([]byte, pairing.MaxStartBytes)}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("oversized start: %v", err)
	}
}
