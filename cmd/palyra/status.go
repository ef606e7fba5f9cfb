package main

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/version"
)

func statusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's version, identity, certificates, uptime and listeners, and who you are to it",
		Example: "  palyra status\n" +
			"  palyra --identity ./laptop-bundle --transport quic status --json",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := call(cmd.Context(), g, daemonSvc, palyrav1connect.DaemonServiceClient.Status, &palyrav1.StatusRequest{})
			if err != nil {
				return err
			}
			now := time.Now()
			ts := func(u int64) string { return time.Unix(u, 0).UTC().Format(time.RFC3339) }
			started := time.Unix(m.StartedUnix, 0)
			uptime := max(now.Sub(started).Truncate(time.Second), 0)
			var clientCert *x509.Certificate
			if d := g.dialed; d != nil && d.bundle != nil {
				clientCert = d.bundle.Cert.Leaf
			}
			if g.json {
				out := map[string]any{
					"version": m.Version, "device_id": m.DeviceId, "fingerprint": m.Fingerprint,
					"ca_fingerprint": m.CaFingerprint, "principal": m.Principal,
					"listeners":             map[string]string{"tcp": m.Listeners.GetTcp(), "quic": m.Listeners.GetQuic(), "socket": m.Listeners.GetSocket()},
					"server_cert_not_after": ts(m.ServerCertNotAfterUnix),
					"ca_not_after":          ts(m.CaNotAfterUnix),
					"started":               ts(m.StartedUnix),
					"uptime_seconds":        int64(uptime.Seconds()),
				}
				if clientCert != nil {
					out["client_cert_not_after"] = clientCert.NotAfter.UTC().Format(time.RFC3339)
				}
				return printJSON(out)
			}
			line := func(label, format string, args ...any) {
				fmt.Printf("%-21s"+format+"\n", append([]any{label + ":"}, args...)...)
			}
			line("version", "%s", m.Version)
			line("daemon id", "%s", m.DeviceId)
			line("daemon key", "%s (SHA-256 of its Ed25519 key)", m.Fingerprint)
			line("CA", "%s (SHA-256 of its certificate), valid until %s", m.CaFingerprint, ts(m.CaNotAfterUnix))
			line("server certificate", "valid until %s (palyrad renews it at 2/3 of its life)", ts(m.ServerCertNotAfterUnix))
			line("running since", "%s (up %s)", ts(m.StartedUnix), uptime)
			line("tcp (gRPC over TLS)", "%s", m.Listeners.GetTcp())
			line("quic (HTTP/3)", "%s", m.Listeners.GetQuic())
			if s := m.Listeners.GetSocket(); s != "" {
				line("admin socket", "%s", s)
			}
			line("you are", "%s", m.Principal)
			if clientCert != nil {
				line("your certificate", "valid until %s (bundle %s; palyra renews it at 2/3 of its life)", clientCert.NotAfter.UTC().Format(time.RFC3339), g.dialed.bundleDir)
			}
			return nil
		},
	}
}

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print palyra's version",
		Example: "  palyra version\n  palyra version --json",
		Args:    exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			if g.json {
				return printJSON(version.Get())
			}
			fmt.Println("palyra " + version.Get().String())
			return nil
		},
	}
}
