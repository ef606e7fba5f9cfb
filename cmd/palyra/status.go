package main

import (
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
		Short: "Show the daemon's version, identity, CA and listeners",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := call(cmd.Context(), g, daemonSvc, palyrav1connect.DaemonServiceClient.Status, &palyrav1.StatusRequest{})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(map[string]any{
					"version": m.Version, "device_id": m.DeviceId, "fingerprint": m.Fingerprint,
					"ca_fingerprint": m.CaFingerprint, "principal": m.Principal,
					"listeners":             map[string]string{"tcp": m.Listeners.GetTcp(), "quic": m.Listeners.GetQuic(), "socket": m.Listeners.GetSocket()},
					"server_cert_not_after": time.Unix(m.ServerCertNotAfterUnix, 0).UTC().Format(time.RFC3339),
				})
			}
			fmt.Printf("version:         %s\n", m.Version)
			fmt.Printf("daemon device:   %s\n", m.DeviceId)
			fmt.Printf("fingerprint:     %s\n", m.Fingerprint)
			fmt.Printf("CA fingerprint:  %s\n", m.CaFingerprint)
			fmt.Printf("tcp (gRPC/TLS):  %s\n", m.Listeners.GetTcp())
			fmt.Printf("quic (HTTP/3):   %s\n", m.Listeners.GetQuic())
			if s := m.Listeners.GetSocket(); s != "" {
				fmt.Printf("admin socket:    %s\n", s)
			}
			fmt.Printf("server cert to:  %s\n", time.Unix(m.ServerCertNotAfterUnix, 0).UTC().Format(time.RFC3339))
			fmt.Printf("you are:         %s\n", m.Principal)
			return nil
		},
	}
}

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print palyra's version",
		Args:  exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			if g.json {
				return printJSON(version.Get())
			}
			fmt.Println("palyra " + version.Get().String())
			return nil
		},
	}
}
