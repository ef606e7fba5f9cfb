package daemon

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/pki"
)

// TestReliabilityClockSkew runs a daemon whose certificate clock (Daemon.now,
// what the CA issues device certificates with) is off from the real clock,
// which the TLS handshakes, the guard's certificate check and the client
// keep. That is the relation a real skew creates between an issuer and a
// verifier on another machine. Within the CA's backdating (pki.Backdate, 5
// minutes) either way, enrollment, calls over TCP and QUIC, and renewal
// work. Beyond it, an issuer ahead of the verifier hands out certificates
// that are not yet valid, and the handshake refuses them until the
// verifier's clock catches up; an issuer behind is harmless until its lag
// eats the certificate's lifetime.
func TestReliabilityClockSkew(t *testing.T) {
	for _, c := range []struct {
		skew  time.Duration
		works bool
	}{
		{+pki.Backdate, true},
		{-pki.Backdate, true},
		{-time.Hour, true},
		{pki.Backdate + time.Minute, false},
	} {
		t.Run(c.skew.String(), func(t *testing.T) {
			td := startDaemonHook(t, nil, func(d *Daemon) {
				d.now = func() time.Time { return time.Now().Add(c.skew) }
			})
			ctx := context.Background()
			if _, err := td.admin.Vault.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/k", Value: []byte("v")})); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "b")
			b, err := client.Enroll(ctx, td.admin, "skewed", dir, "")
			if err != nil {
				t.Fatalf("enroll with the daemon's clock %s: %v", c.skew, err)
			}
			leaf := b.Cert.Leaf
			t.Logf("daemon clock %+v: certificate valid from %s to %s (real now %s)", c.skew,
				leaf.NotBefore.Format(time.TimeOnly), leaf.NotAfter.Format(time.RFC3339), time.Now().UTC().Format(time.TimeOnly))
			call := func(tr peer.Transport) error {
				conn, err := client.DialBundle(b, tr)
				if err != nil {
					return err
				}
				defer conn.Close()
				r, err := conn.Vault.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/k"}))
				if err == nil && string(r.Msg.GetValue()) != "v" {
					t.Fatalf("%s: read %q", tr, r.Msg.GetValue())
				}
				return err
			}
			for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
				err := call(tr)
				switch {
				case c.works && err != nil:
					t.Fatalf("%s call with the daemon's clock %s: %v", tr, c.skew, err)
				case !c.works && err == nil:
					t.Fatalf("%s call succeeded with a certificate not yet valid (daemon clock %s)", tr, c.skew)
				case !c.works:
					t.Logf("%s call refused as expected beyond the backdating: %v", tr, err)
				}
			}
			if !c.works {
				return
			}
			conn, _ := client.DialBundle(b, peer.TCP)
			defer conn.Close()
			first := leaf.SerialNumber
			if err := client.Renew(ctx, conn, b, dir); err != nil {
				t.Fatalf("renew with the daemon's clock %s: %v", c.skew, err)
			}
			if b.Cert.Leaf.SerialNumber.Cmp(first) == 0 {
				t.Fatal("renewal returned the same certificate")
			}
			for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
				if err := call(tr); err != nil {
					t.Fatalf("%s call after renewal: %v", tr, err)
				}
			}
			t.Logf("daemon clock %+v: enroll, TCP and QUIC calls, renewal and calls with the renewed certificate all work", c.skew)
		})
	}
}
