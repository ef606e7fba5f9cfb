package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/pairing"
	"github.com/palyra/palyra/internal/peer"
)

// BenchmarkPairing measures a full pairing with a pre-approved code (code
// to usable bundle: new identity and CSR, TLS connection, CPace, sealed
// CSR, certificate issuance recorded in devices.db and the journal, bundle
// written), over TCP and QUIC, split into phases (transport: dial and TLS
// handshake; pake: Start with both sides' CPace; issuance: Finish with the
// CA signing and the database transaction). Beside it, in the same run, the
// baseline: one new mTLS connection plus one RPC (Status) with an enrolled
// bundle; x-baseline is the ratio of the two, protocol-x-baseline the same
// without making the identity and writing the bundle (fsyncs on the
// client's disk).
func BenchmarkPairing(b *testing.B) {
	td := startDaemonHook(b, nil, func(d *Daemon) { d.pairingStarts = 1 << 30 })
	ctx := context.Background()
	bundle := td.enroll(b, "bench")
	n := 0
	for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
		addr := td.addrs.TCP
		if tr == peer.QUIC {
			addr = td.addrs.QUIC
		}
		var base float64
		b.Run(tr.String()+"/mtls_connect_rpc", func(b *testing.B) {
			for b.Loop() {
				c, err := client.DialBundle(bundle, tr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{})); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			base = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		b.Run(tr.String()+"/pair_approved", func(b *testing.B) {
			phases := map[string]time.Duration{}
			dir := b.TempDir()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				r, err := td.admin.Pairing.CreateCode(ctx, connect.NewRequest(&palyrav1.CreatePairingCodeRequest{Approve: true}))
				if err != nil {
					b.Fatal(err)
				}
				n++
				out := filepath.Join(dir, fmt.Sprint(n))
				b.StartTimer()
				if _, err := pairing.Join(ctx, pairing.JoinOptions{
					Invite: r.Msg.GetCode(), Server: addr, Transport: tr, OutDir: out, Name: fmt.Sprint("bench-", n),
					Trace: func(p string, d time.Duration) { phases[p] += d },
				}); err != nil {
					b.Fatal(err)
				}
			}
			per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			for p, d := range phases {
				b.ReportMetric(float64(d.Microseconds())/float64(b.N), p+"-µs/op")
			}
			b.ReportMetric(1e9/per, "pairings/s")
			if base > 0 {
				b.ReportMetric(per/base, "x-baseline")
				proto := phases["transport"] + phases["pake"] + phases["issuance"]
				b.ReportMetric(float64(proto.Nanoseconds())/float64(b.N)/base, "protocol-x-baseline")
			}
		})
	}
}
