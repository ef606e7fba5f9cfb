package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/mdp/qrterminal/v3"
	"github.com/spf13/cobra"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/paircode"
	"github.com/palyra/palyra/internal/pairing"
	"github.com/palyra/palyra/internal/peer"
)

func pairingSvc(c *client.Conn) palyrav1connect.PairingServiceClient { return c.Pairing }

// pairCmd is `palyra pair`: codes, requests and joining (docs/pairing.md).
func pairCmd(g *globals) *cobra.Command {
	cmd := asGroup(&cobra.Command{Use: "pair", Short: "Pair devices and connectors with one-time codes",
		Long: "Pair a device or connector with a one-time code: the daemon's owner makes a code (pair new), the\n" +
			"new device joins with it (pair join), and the owner approves (pair approve) unless the code was made\n" +
			"with --approve. The code is never sent: a PAKE bound to the TLS connection proves it. See docs/pairing.md.",
		Example: "  palyra pair new --name phone\n  palyra pair join 17-482913 --server 192.168.1.5:7443 --out ./phone-bundle\n  palyra pair requests\n  palyra pair approve 01JD0REQ5W3X8M2K9T4N6B1C7Q"})
	cmd.AddCommand(pairNewCmd(g), pairListCmd(g), pairCancelCmd(g), pairRequestsCmd(g), pairDecideCmd(g, true), pairDecideCmd(g, false), pairJoinCmd(g))
	return cmd
}

func pairNewCmd(g *globals) *cobra.Command {
	var name, connector, host string
	var ttl time.Duration
	var approve, noQR bool
	c := &cobra.Command{
		Use:   "new [--name NAME] [--connector NAME] [--ttl 10m] [--approve]",
		Short: "Make a one-time pairing code; print it, its QR code and its palyra:// URI",
		Long: "Make a one-time pairing code, shown once as ID-DIGITS with a QR code and a palyra://pair URI that\n" +
			"also carries the daemon's addresses and CA fingerprint. The daemon keeps it only sealed under its master key. A code is\n" +
			"used by the first attempt, right or wrong, and expires after --ttl (30s to 24h). With --connector the\n" +
			"paired principal is Connector::\"NAME\"; with --approve its request is approved at once.",
		Example: "  palyra pair new --name phone\n  palyra pair new --connector slack --approve --ttl 2m",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			conn, err := g.dial(c.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			r, err := conn.Pairing.CreateCode(c.Context(), connect.NewRequest(&palyrav1.CreatePairingCodeRequest{
				Name: name, Connector: connector, TtlSeconds: int64(ttl / time.Second), Approve: approve,
			}))
			if err != nil {
				return preconditionFailure(err)
			}
			st, err := conn.Daemon.Status(c.Context(), connect.NewRequest(&palyrav1.StatusRequest{}))
			if err != nil {
				return err
			}
			l := st.Msg.GetListeners()
			code, err := paircode.Parse(r.Msg.GetCode())
			if err != nil {
				return err
			}
			uri := paircode.Invite{Code: code, TCP: client.DialAddr(l.GetTcp(), host), QUIC: client.DialAddr(l.GetQuic(), host), CAFingerprint: st.Msg.GetCaFingerprint()}.URI()
			expires := time.Unix(r.Msg.GetExpiresUnix(), 0).UTC().Format(time.RFC3339)
			if g.json {
				return printJSON(map[string]any{"code": r.Msg.GetCode(), "code_id": r.Msg.GetCodeId(), "uri": uri, "expires": expires})
			}
			fmt.Printf("code:     %s\nexpires:  %s\nuri:      %s\n", r.Msg.GetCode(), expires, uri)
			if !noQR {
				qrterminal.GenerateWithConfig(uri, qrterminal.Config{Level: qrterminal.M, Writer: os.Stdout, HalfBlocks: true,
					BlackChar: qrterminal.BLACK_BLACK, WhiteChar: qrterminal.WHITE_WHITE, BlackWhiteChar: qrterminal.BLACK_WHITE, WhiteBlackChar: qrterminal.WHITE_BLACK, QuietZone: 2})
			}
			fmt.Print(joinHint(uri, r.Msg.GetCode(), client.DialAddr(l.GetTcp(), host), client.DialAddr(l.GetQuic(), host)))
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "name of the device to pair (default: the name the device proposes)")
	c.Flags().StringVar(&connector, "connector", "", "pair a connector: the principal becomes Connector::\"NAME\"")
	c.Flags().DurationVar(&ttl, "ttl", pairing.DefaultTTL, "how long the code stays usable (30s to 24h)")
	c.Flags().BoolVar(&approve, "approve", false, "approve the request made with this code at once")
	c.Flags().StringVar(&host, "daemon-host", "", "host the device dials the daemon at, in the URI (default: the listen host)")
	c.Flags().BoolVar(&noQR, "no-qr", false, "do not print the QR code")
	return c
}

// joinHint is what pair new prints last: the pair join command that works
// on the new device, with the URI (which carries the addresses and the CA
// fingerprint), and with the code alone and the daemon's address.
func joinHint(uri, code, tcp, quic string) string {
	s := "on the new device: palyra pair join '" + uri + "' --out BUNDLE_DIR   (over QUIC: add --transport quic)\n"
	switch {
	case tcp != "" && quic != "":
		s += "or with the code: palyra pair join " + code + " --server " + tcp + " --out BUNDLE_DIR   (over QUIC: --transport quic --server " + quic + ")\n"
	case tcp != "":
		s += "or with the code: palyra pair join " + code + " --server " + tcp + " --out BUNDLE_DIR\n"
	case quic != "":
		s += "or with the code: palyra pair join " + code + " --transport quic --server " + quic + " --out BUNDLE_DIR\n"
	}
	return s
}

func pairListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the active pairing codes (never their digits)",
		Example: "  palyra pair list\n  palyra pair list --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := call(c.Context(), g, pairingSvc, palyrav1connect.PairingServiceClient.ListCodes, &palyrav1.ListPairingCodesRequest{})
			if err != nil {
				return err
			}
			ts := func(u int64) string { return time.Unix(u, 0).UTC().Format(time.RFC3339) }
			if g.json {
				out := []map[string]any{}
				for _, pc := range r.Codes {
					out = append(out, map[string]any{"code_id": pc.CodeId, "name": pc.Name, "connector": pc.Connector, "approve": pc.Approve, "created": ts(pc.CreatedUnix), "expires": ts(pc.ExpiresUnix)})
				}
				return printJSON(out)
			}
			if len(r.Codes) > 0 {
				fmt.Println("CODE ID\tNAME\tCONNECTOR\tAPPROVE\tEXPIRES")
			}
			for _, pc := range r.Codes {
				fmt.Printf("%d\t%s\t%s\t%v\t%s\n", pc.CodeId, tableText(pc.Name), pc.Connector, pc.Approve, ts(pc.ExpiresUnix))
			}
			return nil
		},
	}
}

func pairCancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "cancel CODE_ID|CODE",
		Short:   "Withdraw an unused pairing code",
		Example: "  palyra pair cancel 17\n  palyra pair cancel 17-482913",
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			// The whole code is accepted too; only its id is sent.
			arg, _, _ := strings.Cut(args[0], "-")
			id, err := strconv.ParseUint(arg, 10, 32)
			if err != nil || id == 0 {
				return usagef("code id %q: want the number before the dash of the code", arg)
			}
			if _, err := call(c.Context(), g, pairingSvc, palyrav1connect.PairingServiceClient.CancelCode, &palyrav1.CancelPairingCodeRequest{CodeId: uint32(id)}); err != nil {
				return err
			}
			return g.report(map[string]any{"cancelled": id}, "cancelled pairing code %d", id)
		},
	}
}

func pairRequestsCmd(g *globals) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "requests [--all]",
		Short: "List pairing requests waiting for approval",
		Long: "List pairing requests waiting for approval: the name the device proposed, a short fingerprint of its\n" +
			"key (compare it with the one `pair join` shows on the device), NAME IN USE when an active device\n" +
			"already has the name, and LOOKS LIKE \"OTHER\" when it is drawn like an active device's name. A name with\n" +
			"spaces or characters outside printable ASCII is shown quoted, non-ASCII escaped (\\u03bf).",
		Example: "  palyra pair requests\n  palyra pair requests --all --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := call(c.Context(), g, pairingSvc, palyrav1connect.PairingServiceClient.ListRequests, &palyrav1.ListPairingRequestsRequest{All: all})
			if err != nil {
				return err
			}
			if g.json {
				out := []map[string]any{}
				for _, q := range r.Requests {
					out = append(out, map[string]any{"request_id": q.RequestId, "device_id": q.DeviceId, "name": q.Name, "platform": q.Platform,
						"connector": q.Connector, "key": q.ShortFingerprint, "fingerprint": q.Fingerprint, "state": stateName(q.State),
						"name_in_use": q.NameConflict, "lookalike_of": q.LookalikeOf, "code_id": q.CodeId})
				}
				return printJSON(out)
			}
			if len(r.Requests) > 0 {
				fmt.Println("REQUEST ID\tNAME\tKEY\tSTATE\tPLATFORM\tNOTE")
			}
			for _, q := range r.Requests {
				var notes []string
				if q.NameConflict {
					notes = append(notes, "NAME IN USE by an active device")
				}
				if q.LookalikeOf != "" {
					notes = append(notes, "LOOKS LIKE "+strconv.QuoteToASCII(q.LookalikeOf)+" (an active device)")
				}
				if q.Connector != "" {
					notes = append(notes, "connector "+q.Connector)
				}
				fmt.Printf("%s\t%s\t%s\t%s\t%s\t%s\n", q.RequestId, tableText(q.Name), q.ShortFingerprint, stateName(q.State), tableText(q.Platform), strings.Join(notes, "; "))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "also list decided, completed and expired requests")
	return c
}

func stateName(s palyrav1.PairingState) string {
	switch s {
	case palyrav1.PairingState_PAIRING_STATE_PENDING:
		return "pending"
	case palyrav1.PairingState_PAIRING_STATE_APPROVED:
		return "approved"
	case palyrav1.PairingState_PAIRING_STATE_COMPLETED:
		return "completed"
	case palyrav1.PairingState_PAIRING_STATE_REJECTED:
		return "rejected"
	case palyrav1.PairingState_PAIRING_STATE_EXPIRED:
		return "expired"
	}
	return "unknown"
}

func pairDecideCmd(g *globals, approve bool) *cobra.Command {
	verb, rpc := "reject", palyrav1connect.PairingServiceClient.Reject
	short := "Reject a pending pairing request"
	if approve {
		verb, rpc = "approve", palyrav1connect.PairingServiceClient.Approve
		short = "Approve a pending pairing request; the device receives its certificate at its next poll"
	}
	return &cobra.Command{
		Use:     verb + " REQUEST_ID",
		Short:   short,
		Example: "  palyra pair " + verb + " 01JD0REQ5W3X8M2K9T4N6B1C7Q",
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			r, err := call(c.Context(), g, pairingSvc, rpc, &palyrav1.DecidePairingRequest{RequestId: args[0]})
			if err != nil {
				return preconditionFailure(err)
			}
			return g.report(map[string]any{"request_id": args[0], "state": stateName(r.State)}, "pairing request %s %s", args[0], stateName(r.State))
		},
	}
}

// exampleInvite is the URI in pair join's help, made by paircode so that
// it stays one pair join accepts.
var exampleInvite = paircode.Invite{Code: paircode.Code{ID: 17, Secret: "482913"}, TCP: "192.168.1.5:7443", QUIC: "192.168.1.5:7443",
	CAFingerprint: "8d4107aa5e2c90b3f1e6c2d97a04b85e3c61f0a9d2b7e4851c6a39f07d2e5b14"}.URI()

func pairJoinCmd(g *globals) *cobra.Command {
	var server, out, name string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "join CODE_OR_URI [--server HOST:PORT] [--transport tcp|quic] --out BUNDLE_DIR",
		Short: "Pair this machine with a daemon using a code or palyra:// URI; write a client bundle",
		Long: "Pair this machine with a daemon: make a device identity here (its key never leaves this machine), prove\n" +
			"the code with a PAKE bound to the TLS connection, wait for the owner's approval, and write the same\n" +
			"client bundle `devices enroll` writes. A wrong code fails and uses the code up: ask for a new one.\n" +
			"--transport quic pairs over QUIC (it needs no --identity: the bundle is what pair join makes). On a\n" +
			"terminal a progress line is rewritten in place; otherwise one line on stderr says which request waits\n" +
			"for approval and its key fingerprint. The result goes to stderr (with --json: stdout).",
		Example: "  palyra pair join 17-482913 --server 192.168.1.5:7443 --out ./phone-bundle\n" +
			"  palyra pair join 17-482913 --transport quic --server 192.168.1.5:7443 --out ./phone-bundle\n" +
			"  palyra pair join '" + exampleInvite + "' --out ./phone-bundle",
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if out == "" {
				return usagef("pair join needs --out BUNDLE_DIR")
			}
			t, err := g.bundleTransport()
			if err != nil {
				return err
			}
			inv, err := paircode.ParseInvite(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			if server == "" && (t == peer.TCP && inv.TCP == "" || t == peer.QUIC && inv.QUIC == "") {
				return usagef("no daemon address: pass --server HOST:PORT or a palyra://pair URI")
			}
			// One progress line, rewritten in place, on a terminal only:
			// a script sees the result, or one line saying what failed.
			tty := false
			if fi, err := os.Stderr.Stat(); err == nil {
				tty = fi.Mode()&os.ModeCharDevice != 0 && !g.json
			}
			progress := func(s string) {
				if tty {
					fmt.Fprintf(os.Stderr, "\r\033[K%s", s)
				}
			}
			// Off a terminal the wait is said once, on one line: what the
			// owner must approve, and the key to compare.
			waiting := func(requestID, key string) {
				if !tty && !g.json {
					fmt.Fprintf(os.Stderr, "waiting for approval of request %s (key %s): on the daemon's machine, compare the key in palyra pair requests, then palyra pair approve %s\n", requestID, key, requestID)
				}
			}
			var daemonID, caFP, addr string
			paired := func(d, fp, a string) { daemonID, caFP, addr = d, fp, a }
			b, err := pairing.Join(c.Context(), pairing.JoinOptions{Invite: args[0], Server: server, Transport: t, OutDir: out, Name: name, Timeout: timeout, Progress: progress, Waiting: waiting, Paired: paired})
			if tty {
				fmt.Fprint(os.Stderr, "\r\033[K")
			}
			if err != nil {
				return joinError(err)
			}
			return g.report(map[string]any{"device_id": b.Identity.DeviceID, "fingerprint": b.Identity.Fingerprint(), "bundle": out, "cert_not_after": b.Cert.Leaf.NotAfter.UTC().Format(time.RFC3339),
				"daemon_id": daemonID, "ca_fingerprint": caFP, "daemon_addr": addr},
				"paired: device id %s, key %s, bundle %s, with daemon %s (CA %s) at %s", b.Identity.DeviceID, pairing.KeyShortFingerprint(b.Identity), out, daemonID, pairing.ShortFingerprint(caFP), addr)
		},
	}
	c.Flags().StringVar(&server, "server", "", "daemon address HOST:PORT: its TCP listener, or with --transport quic its QUIC one (default: from the URI)")
	c.Flags().StringVar(&out, "out", "", "directory to write the client bundle to (created 0700; must be absent or empty)")
	c.Flags().StringVar(&name, "name", "", "name to propose for this device (default: the host name)")
	c.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long, approval wait included")
	return c
}

// joinError words a failed `pair join` (docs/pairing.md, exit codes).
func joinError(err error) error {
	switch {
	case errors.Is(err, client.ErrBundleDirNotEmpty), errors.Is(err, pairing.ErrOutParent), errors.Is(err, pairing.ErrBadName):
		return usageError{err}
	case errors.Is(err, pairing.ErrFailed), errors.Is(err, pairing.ErrRejected), errors.Is(err, pairing.ErrExpired),
		errors.Is(err, pairing.ErrCAMismatch), errors.Is(err, pairing.ErrRefused):
		return deniedError{err.Error()}
	case errors.Is(err, pairing.ErrBusy):
		return busyError{err.Error()}
	case errors.Is(err, pairing.ErrUnreachable):
		return unreachableError{strings.TrimPrefix(err.Error(), pairing.ErrUnreachable.Error()+": ")}
	}
	return err
}

// preconditionFailure words the daemon's refusal of a pairing command
// whose state does not allow it (a request no longer pending, a name in
// use) without the gRPC code word: one line, exit code 1.
func preconditionFailure(err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) && ce.Code() == connect.CodeFailedPrecondition {
		return failureError{ce.Message()}
	}
	return err
}

// tableText is s as a table cell: as is when it is printable ASCII
// without spaces, else quoted with non-ASCII characters escaped, so that
// no name can pass for other columns or for another name.
func tableText(s string) string {
	for _, r := range s {
		if r <= ' ' || r > '~' || r == '"' || r == '\\' {
			return strconv.QuoteToASCII(s)
		}
	}
	return s
}

// connectorsCmd is `palyra connectors`.
func connectorsCmd(g *globals) *cobra.Command {
	cmd := asGroup(&cobra.Command{Use: "connectors", Short: "List paired connectors",
		Long:    "List paired connectors. A connector pairs like a device (palyra pair new --connector NAME) and is revoked\nand removed like one (palyra devices revoke|remove ID).",
		Example: "  palyra connectors list"})
	cmd.AddCommand(&cobra.Command{
		Use:     "list",
		Short:   "List paired connectors",
		Example: "  palyra connectors list\n  palyra connectors list --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := call(c.Context(), g, pairingSvc, palyrav1connect.PairingServiceClient.ListConnectors, &palyrav1.ListConnectorsRequest{})
			if err != nil {
				return err
			}
			if g.json {
				out := []map[string]any{}
				for _, x := range r.Connectors {
					out = append(out, map[string]any{"name": x.Name, "device_id": x.DeviceId, "fingerprint": x.Fingerprint, "revoked": x.RevokedUnix != 0})
				}
				return printJSON(out)
			}
			if len(r.Connectors) == 0 {
				fmt.Fprintln(os.Stderr, "no connectors paired (pair one with: palyra pair new --connector NAME)")
				return nil
			}
			fmt.Println("NAME\tDEVICE ID\tFINGERPRINT\tSTATE")
			for _, x := range r.Connectors {
				state := "active"
				if x.RevokedUnix != 0 {
					state = "revoked"
				}
				fmt.Printf("%s\t%s\t%s\t%s\n", x.Name, x.DeviceId, x.Fingerprint[:16], state)
			}
			return nil
		},
	})
	return cmd
}

// devicesRemoveCmd is `palyra devices remove`.
func devicesRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove DEVICE_ID",
		Short: "Forget a revoked device's name; its key and id stay barred for ever",
		Long: "Forget a revoked device (or connector): its name may be used again, by a new device (a new key\n" +
			"and a new id). Its key and its id stay barred: neither can ever be enrolled or paired again.",
		Example: "  palyra devices remove 01JCXYZ8R6Q0D0E6V4V5N7Z2KA",
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := call(c.Context(), g, pairingSvc, palyrav1connect.PairingServiceClient.RemoveDevice, &palyrav1.RemoveDeviceRequest{DeviceId: args[0]}); err != nil {
				return err
			}
			return g.report(map[string]any{"removed": args[0]}, "removed device %s (its key and id stay barred)", args[0])
		},
	}
}
