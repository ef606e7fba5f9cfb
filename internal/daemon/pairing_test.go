package daemon

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/pake"
	"github.com/palyra/palyra/internal/peer"
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
