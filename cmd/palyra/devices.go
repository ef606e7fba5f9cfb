package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/statedir"
)

func devicesCmd(g *globals) *cobra.Command {
	cmd := asGroup(&cobra.Command{Use: "devices", Short: "Enroll, list and revoke client devices",
		Example: "  palyra devices enroll --name laptop --out ./laptop-bundle\n  palyra devices list\n  palyra devices revoke 01JCXYZ8R6Q0D0E6V4V5N7Z2KA"})
	var name, out, daemonHost string
	enroll := &cobra.Command{
		Use:   "enroll --name NAME --out BUNDLE_DIR",
		Short: "Create a device identity here and have the daemon certify it; write a client bundle",
		Long: "Create a device identity (its keys generated here), have the daemon certify it, and write a client\n" +
			"bundle. Enrolling is done on the daemon's machine, as its owner (--state-dir). Names are unique\n" +
			"among active devices (ignoring case); a revoked device's name may be reused.",
		Example: "  palyra devices enroll --name laptop --out ./laptop-bundle\n" +
			"  palyra devices enroll --name phone --out ./phone-bundle --daemon-host palyra.home.arpa",
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if name == "" || out == "" {
				return usagef("devices enroll needs --name and --out")
			}
			conn, err := g.dial(c.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			b, err := client.Enroll(c.Context(), conn, name, out, daemonHost)
			if errors.Is(err, client.ErrBundleDirNotEmpty) {
				return usageError{err}
			}
			if connect.CodeOf(err) == connect.CodePermissionDenied {
				// The daemon's denial names the id of the identity made
				// here for the attempt, which no longer exists.
				return deniedError{"this caller may not enroll devices: enrolling is done on the daemon's machine, as its owner: palyra --state-dir DIR devices enroll --name NAME --out BUNDLE_DIR"}
			}
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(map[string]any{"device_id": b.Identity.DeviceID, "fingerprint": b.Identity.Fingerprint(), "bundle": out, "cert_not_after": b.Cert.Leaf.NotAfter.UTC().Format(time.RFC3339)})
			}
			fmt.Printf("device id:    %s\nfingerprint:  %s\nbundle:       %s\nvalid until:  %s\n", b.Identity.DeviceID, b.Identity.Fingerprint(), out, b.Cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
			return nil
		},
	}
	enroll.Flags().StringVar(&name, "name", "", "device name (1..64 printable characters)")
	enroll.Flags().StringVar(&out, "out", "", "directory to write the client bundle to (created 0700; must be absent or empty)")
	enroll.Flags().StringVar(&daemonHost, "daemon-host", "", "host the device will dial the daemon at (default: the listen host; needed for a device on another machine, and must be in server_names)")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List enrolled devices",
		Example: "  palyra devices list\n  palyra devices list --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := call(c.Context(), g, devicesSvc, palyrav1connect.DeviceServiceClient.List, &palyrav1.ListDevicesRequest{})
			if err != nil {
				return err
			}
			ts := func(u int64) string {
				if u == 0 {
					return ""
				}
				return time.Unix(u, 0).UTC().Format(time.RFC3339)
			}
			if g.json {
				outList := []map[string]any{}
				for _, d := range r.Devices {
					outList = append(outList, map[string]any{
						"device_id": d.DeviceId, "name": d.Name, "owner": d.Owner, "fingerprint": d.Fingerprint,
						"enrolled": ts(d.EnrolledUnix), "revoked": d.RevokedUnix != 0, "revoked_at": ts(d.RevokedUnix),
						"cert_serial": d.CertSerial, "cert_not_after": ts(d.CertNotAfterUnix),
					})
				}
				return printJSON(outList)
			}
			if len(r.Devices) > 0 {
				fmt.Println("DEVICE ID\tNAME\tFINGERPRINT\tSTATE")
			}
			for _, d := range r.Devices {
				state := "active"
				if d.RevokedUnix != 0 {
					state = "revoked " + ts(d.RevokedUnix)
				}
				fmt.Printf("%s\t%s\t%s\t%s\n", d.DeviceId, tableText(d.Name), d.Fingerprint[:16], state)
			}
			return nil
		},
	}
	revoke := &cobra.Command{
		Use:        "revoke DEVICE_ID",
		SuggestFor: []string{"delete", "rm"},
		Short:      "Revoke a device: its certificates are refused and its connections closed",
		Long: "Revoke a device: its certificates are refused from now on and its open connections closed.\n" +
			"Revocation is final. Revoking a device revoked before succeeds and says so; its revocation\n" +
			"time stays the first one.",
		Example: "  palyra devices revoke 01JCXYZ8R6Q0D0E6V4V5N7Z2KA",
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			_, err := call(c.Context(), g, devicesSvc, palyrav1connect.DeviceServiceClient.Revoke, &palyrav1.RevokeDeviceRequest{DeviceId: args[0]})
			if connect.CodeOf(err) == connect.CodeFailedPrecondition {
				// Revoked before: nothing changed, and the goal holds.
				at := "an earlier time"
				if r, lerr := call(c.Context(), g, devicesSvc, palyrav1connect.DeviceServiceClient.List, &palyrav1.ListDevicesRequest{}); lerr == nil {
					for _, d := range r.Devices {
						if d.DeviceId == args[0] && d.RevokedUnix != 0 {
							at = time.Unix(d.RevokedUnix, 0).UTC().Format(time.RFC3339)
						}
					}
				}
				return g.report(map[string]any{"revoked": args[0], "already_revoked": true, "revoked_at": at}, "%s was already revoked at %s; nothing changed", args[0], at)
			}
			if err != nil {
				return err
			}
			return g.report(map[string]any{"revoked": args[0], "already_revoked": false}, "revoked %s", args[0])
		},
	}
	renew := &cobra.Command{
		Use:     "renew",
		Short:   "With --identity: renew this device's certificate now (palyra also renews automatically past 2/3 of its life)",
		Example: "  palyra --identity ./laptop-bundle devices renew",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if g.identity == "" || g.stateDir != "" {
				return usagef("devices renew needs --identity BUNDLE_DIR (and no --state-dir): a device renews its own certificate")
			}
			b, err := client.LoadBundle(g.identity)
			if err != nil {
				return usageError{err}
			}
			conn, err := g.dial(c.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			if err := client.Renew(c.Context(), conn, b, g.identity); err != nil {
				return err
			}
			until := b.Cert.Leaf.NotAfter.UTC().Format(time.RFC3339)
			return g.report(map[string]any{"device_id": b.Identity.DeviceID, "cert_not_after": until}, "renewed; valid until %s", until)
		},
	}
	var keyOut string
	exportKey := &cobra.Command{
		Use:   "export-key --out FILE",
		Short: "With --identity: write this device's private key as a 0600 PKCS#8 PEM, for grpcurl and other TLS tools",
		Long: "Write the bundle's Ed25519 private key as an unencrypted PKCS#8 PEM file (created 0600, never\n" +
			"overwritten), so that standard TLS tools can present the bundle's cert.pem. The file is the\n" +
			"device: keep it where the bundle is and delete it when done.",
		Example: "  palyra --identity ./laptop-bundle devices export-key --out ./laptop-bundle/key.pem\n" +
			"  grpcurl -cacert ./laptop-bundle/ca.pem -cert ./laptop-bundle/cert.pem -key ./laptop-bundle/key.pem 127.0.0.1:7443 list",
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if g.identity == "" || g.stateDir != "" {
				return usagef("devices export-key needs --identity BUNDLE_DIR (and no --state-dir)")
			}
			if keyOut == "" {
				return usagef("devices export-key needs --out FILE")
			}
			b, err := client.LoadBundle(g.identity)
			if err != nil {
				return usageError{err}
			}
			if err := b.ExportKeyPEM(keyOut); err != nil {
				if errors.Is(err, os.ErrExist) {
					return usagef("%s exists; an export never overwrites a file", keyOut)
				}
				return err
			}
			return g.report(map[string]any{"key": keyOut}, "wrote %s (0600): it is this device's private key", keyOut)
		},
	}
	exportKey.Flags().StringVar(&keyOut, "out", "", "file to create (0600; must not exist)")
	cmd.AddCommand(enroll, list, renew, revoke, exportKey, setAddressCmd(g), devicesRemoveCmd(g))
	return cmd
}

func setAddressCmd(g *globals) *cobra.Command {
	var tcp, quic, fromState, host string
	cmd := &cobra.Command{
		Use:   "set-address (--tcp HOST:PORT [--quic HOST:PORT] | --from-state-dir DIR [--daemon-host NAME])",
		Short: "With --identity: point this bundle at the daemon's new address (after a restart on another port)",
		Long: "Rewrite the bundle's daemon.json (atomically, 0600) with the daemon's new TCP and QUIC addresses,\n" +
			"given as flags (--quic defaults to the --tcp address: palyrad uses one port for both) or read from\n" +
			"the palyrad.addr of its state directory on this machine. Nothing else changes: the daemon at the\n" +
			"new address must still prove itself with the CA pinned in the bundle, or it is refused.",
		Example: "  palyra --identity ./laptop-bundle devices set-address --tcp 127.0.0.1:7443\n" +
			"  palyra --identity ./laptop-bundle devices set-address --from-state-dir ~/.local/state/palyra",
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if g.identity == "" || g.stateDir != "" {
				return usagef("devices set-address needs --identity BUNDLE_DIR (and no --state-dir; for the daemon's state directory use --from-state-dir)")
			}
			if (tcp == "") == (fromState == "") {
				return usagef("devices set-address needs --tcp HOST:PORT or --from-state-dir DIR (one of them)")
			}
			if fromState != "" && quic != "" || tcp != "" && host != "" {
				return usagef("--quic goes with --tcp, --daemon-host with --from-state-dir")
			}
			if _, err := client.LoadBundle(g.identity); err != nil {
				return usageError{err}
			}
			if fromState != "" {
				l, err := statedir.At(fromState)
				if err != nil {
					return err
				}
				tcp, quic, err = client.ListenAddrs(l.AddrFile, host)
				if errors.Is(err, fs.ErrNotExist) {
					return noDaemon("no "+filepath.Base(l.AddrFile)+" in "+l.Dir, l)
				}
				if err != nil {
					return err
				}
			} else if quic == "" {
				quic = tcp
			}
			d, err := client.SetDaemonAddrs(g.identity, tcp, quic)
			if errors.Is(err, client.ErrBadAddr) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			return g.report(map[string]any{"bundle": g.identity, "tcp": d.TCP, "quic": d.QUIC},
				"%s now dials tcp %s, quic %s (the daemon there must prove itself with the bundle's pinned CA)", filepath.Join(g.identity, client.DaemonFile), d.TCP, d.QUIC)
		},
	}
	cmd.Flags().StringVar(&tcp, "tcp", "", "the daemon's TCP address, HOST:PORT")
	cmd.Flags().StringVar(&quic, "quic", "", "the daemon's QUIC (UDP) address, HOST:PORT (default: the --tcp address)")
	cmd.Flags().StringVar(&fromState, "from-state-dir", "", "read the addresses from this state directory's palyrad.addr (the daemon must be running)")
	cmd.Flags().StringVar(&host, "daemon-host", "", "with --from-state-dir: the host to dial instead of the listen host (must be in server_names)")
	return cmd
}
