package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/connect"

	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/statedir"
)

// layout resolves the state directory from --state-dir or the default.
func (g *globals) layout() (statedir.Layout, error) {
	dir := g.stateDir
	if dir == "" {
		var err error
		if dir, err = statedir.Default(); err != nil {
			return statedir.Layout{}, err
		}
	}
	return statedir.At(dir)
}

// dialed is what g.dial connected to, kept to explain a failed call.
type dialed struct {
	// As a device: the bundle, its directory and the transport.
	bundleDir string
	bundle    *client.Bundle
	transport peer.Transport
	// As the owner: the state directory.
	layout statedir.Layout
}

// noDaemon is the guidance for a state directory or socket with no daemon.
func noDaemon(what string, l statedir.Layout) unreachableError {
	return unreachableError{fmt.Sprintf("%s (is palyrad running with --state-dir %s?)", what, l.Dir)}
}

// localLayout is the state directory of a command that works on it
// locally: it must exist (else the same guidance as a missing socket);
// other problems (permissions) are reported as they are.
func (g *globals) localLayout() (statedir.Layout, error) {
	l, err := g.layout()
	if err != nil {
		return l, err
	}
	if _, err := os.Stat(l.Dir); errors.Is(err, fs.ErrNotExist) {
		return l, noDaemon("no palyrad state at "+l.Dir, l)
	} else if err != nil {
		return l, fmt.Errorf("state directory: %w", err)
	}
	// Like ssh with ~/.ssh: a state directory that is not this user's, or
	// that others may write, could hold anyone's socket; secrets are never
	// sent to it.
	if err := l.Check(); err != nil {
		return l, err
	}
	return l, nil
}

// dial connects as the bundle's device (--identity) or as the local owner
// over the admin socket.
func (g *globals) dial(ctx context.Context) (*client.Conn, error) {
	if g.identity != "" && g.stateDir != "" {
		return nil, usagef("--identity and --state-dir are exclusive: act as a device over mTLS, or as the local owner")
	}
	if g.identity != "" {
		b, err := client.LoadBundle(g.identity)
		if err != nil {
			return nil, usageError{err}
		}
		t, err := g.bundleTransport()
		if err != nil {
			return nil, err
		}
		g.dialed = &dialed{bundleDir: g.identity, bundle: b, transport: t}
		wopt := connect.WithInterceptors(approvalWaiter{quiet: g.json}, client.NewWitness(filepath.Join(g.identity, client.WitnessFile)))
		c, err := client.DialBundle(b, t, wopt)
		if err != nil {
			return nil, usageError{err}
		}
		// Renew a certificate past two thirds of its life before using it,
		// so a device in regular use never holds an expired one. A failed
		// renewal is not fatal while the current certificate is valid.
		if b.RenewDue(time.Now()) && time.Now().Before(b.Cert.Leaf.NotAfter) {
			if err := client.Renew(ctx, c, b, g.identity); err != nil {
				fmt.Fprintf(os.Stderr, "palyra: warning: certificate renewal failed (%s); it expires %s\n", describe(g.diagnose(ctx, err)), b.Cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
			} else {
				c.Close()
				return client.DialBundle(b, t, wopt)
			}
		}
		return c, nil
	}
	l, err := g.localLayout()
	if err != nil {
		return nil, err
	}
	g.dialed = &dialed{layout: l}
	if _, err := os.Stat(l.Socket); errors.Is(err, fs.ErrNotExist) {
		return nil, noDaemon("no admin socket at "+l.Socket, l)
	} else if err != nil {
		return nil, fmt.Errorf("admin socket: %w (the state directory must be this user's, mode 0700)", err)
	}
	return client.DialUnix(l.Socket, connect.WithInterceptors(approvalWaiter{quiet: g.json}, client.NewWitness(filepath.Join(l.Dir, client.WitnessFile)))), nil
}

// diagnose explains a failed call by what was dialed: a device refused in
// the handshake (expired or revoked), a bundle whose daemon is not at its
// address any more, a socket nobody listens on. Other errors are returned
// as they are.
func (g *globals) diagnose(ctx context.Context, err error) error {
	d := g.dialed
	if d == nil || err == nil {
		return err
	}
	o := classify(err)
	if d.bundle == nil {
		if o.exit == 5 && unreachable(err) {
			// The socket file is there (dial checked), but nobody listens:
			// a palyrad that did not stop cleanly left it behind.
			return noDaemon("no daemon listens on the admin socket "+d.layout.Socket, d.layout)
		}
		return err
	}
	refusal := o.code == "refused"
	if !refusal && o.exit == 5 && d.transport == peer.TCP && !unreachable(err) {
		// In TLS 1.3 over TCP, HTTP/2 may report only a failed connection
		// where the daemon sent an alert: a bare handshake reads it.
		refusal = errors.Is(client.ProbeTCP(ctx, d.bundle.Daemon.TCP, &d.bundle.Cert, d.bundle.Roots()), client.ErrHandshakeRefused)
	}
	if refusal {
		return d.refusal(time.Now())
	}
	if o.exit == 5 && unreachable(err) {
		addr := d.bundle.Daemon.TCP
		if d.transport == peer.QUIC {
			addr = d.bundle.Daemon.QUIC
		}
		return unreachableError{fmt.Sprintf("no daemon at %s from %s (palyrad is stopped, or restarted on another port: then point the bundle at it with palyra --identity %s devices set-address --tcp HOST:PORT, or --from-state-dir DIR on the daemon's machine)",
			addr, filepath.Join(d.bundleDir, client.DaemonFile), d.bundleDir)}
	}
	return err
}

// refusal explains the daemon's refusal of the bundle's certificate at now.
// A refusal comes after this side verified the daemon's certificate against
// the bundle's pinned CA (a failure there is an untrusted daemon instead):
// so the daemon is the one the device was enrolled with, and if the
// certificate is valid by this clock, the daemon refuses the device itself.
func (d *dialed) refusal(now time.Time) error {
	leaf := d.bundle.Cert.Leaf
	switch {
	case now.After(leaf.NotAfter):
		return certExpiredError{bundle: d.bundleDir, notAfter: leaf.NotAfter}
	case now.Before(leaf.NotBefore):
		return certExpiredError{bundle: d.bundleDir, notYet: true, when: leaf.NotBefore}
	}
	return revokedError{bundle: d.bundleDir, device: d.bundle.Identity.DeviceID.String()}
}

// bundleTransport is the --transport flag as a peer.Transport.
func (g *globals) bundleTransport() (peer.Transport, error) {
	t, err := peer.ParseTransport(g.transport)
	if err != nil || !t.Network() {
		return 0, usagef("--transport %q: want tcp or quic", g.transport)
	}
	return t, nil
}

// printJSON writes v as indented JSON on stdout.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// report finishes a command that changes something: the JSON object with
// --json on stdout, else a short note on stderr (stdout stays clean for
// scripts).
func (g *globals) report(obj map[string]any, format string, args ...any) error {
	if g.json {
		return printJSON(obj)
	}
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	return nil
}

// call dials as the command's principal, makes one RPC of the service svc
// picks (rpc is a method expression such as
// palyrav1connect.VaultServiceClient.Get) with msg, and closes.
func call[S, Req, Resp any](ctx context.Context, g *globals, svc func(*client.Conn) S, rpc func(S, context.Context, *connect.Request[Req]) (*connect.Response[Resp], error), msg *Req) (*Resp, error) {
	conn, err := g.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	r, err := rpc(svc(conn), ctx, connect.NewRequest(msg))
	if err != nil {
		return nil, err
	}
	return r.Msg, nil
}

// Service pickers for call.
func daemonSvc(c *client.Conn) palyrav1connect.DaemonServiceClient  { return c.Daemon }
func vaultSvc(c *client.Conn) palyrav1connect.VaultServiceClient    { return c.Vault }
func devicesSvc(c *client.Conn) palyrav1connect.DeviceServiceClient { return c.Devices }
func auditSvc(c *client.Conn) palyrav1connect.AuditServiceClient    { return c.Audit }
