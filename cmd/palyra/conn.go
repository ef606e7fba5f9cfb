package main

import (
	"context"
	"encoding/json"
	"fmt"
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
		wopt := connect.WithInterceptors(client.NewWitness(filepath.Join(g.identity, client.WitnessFile)))
		c, err := client.DialBundle(b, t, wopt)
		if err != nil {
			return nil, usageError{err}
		}
		// Renew a certificate past two thirds of its life before using it,
		// so a device in regular use never holds an expired one. A failed
		// renewal is not fatal while the current certificate is valid.
		if b.RenewDue(time.Now()) && time.Now().Before(b.Cert.Leaf.NotAfter) {
			if err := client.Renew(ctx, c, b, g.identity); err != nil {
				fmt.Fprintf(os.Stderr, "palyra: warning: certificate renewal failed (%s); it expires %s\n", describe(err), b.Cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
			} else {
				c.Close()
				return client.DialBundle(b, t, wopt)
			}
		}
		return c, nil
	}
	l, err := g.layout()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(l.Socket); err != nil {
		return nil, unreachableError{fmt.Sprintf("no admin socket at %s (is palyrad running with --state-dir %s?)", l.Socket, l.Dir)}
	}
	return client.DialUnix(l.Socket, connect.WithInterceptors(client.NewWitness(filepath.Join(l.Dir, client.WitnessFile)))), nil
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
