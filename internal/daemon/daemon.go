// Package daemon wires palyrad together: it opens the state directory (under
// an exclusive lock), loads or creates the master key, the device identity,
// the CA and the stores, and serves the API on every transport.
//
// Start-up order matters for safety: the lock is taken before any file is
// read, so two daemons never share a state directory; palyrad.addr is
// written only once every listener is bound, so a client that sees it can
// connect.
package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/renameio/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/lifecycle"
	"github.com/palyra/palyra/internal/masterkey"
	"github.com/palyra/palyra/internal/offline"
	"github.com/palyra/palyra/internal/pki"
	"github.com/palyra/palyra/internal/statedir"
	"github.com/palyra/palyra/internal/transport"
	"github.com/palyra/palyra/internal/vault"
	"github.com/palyra/palyra/internal/version"
)

// vaultKEKID names the KEK inside vault envelopes: the HKDF sub-key of the
// version-1 master key.
const vaultKEKID = "mk1:" + masterkey.LabelVaultKEK

// ErrLocked means another palyrad is running on this state directory.
var ErrLocked = errors.New("daemon: another palyrad is running on this state directory")

// Daemon is an opened state directory ready to serve.
type Daemon struct {
	cfg     config.Config
	layout  statedir.Layout
	log     *slog.Logger
	parts   lifecycle.Group
	lock    *flock.Flock
	id      *identity.Identity
	ca      *pki.CA
	server  *pki.ServerCert
	vault   *vault.Vault
	audit   *audit.Journal
	devices *devices.Registry
	authz   *authz.Engine
	guard   *guard.Guard
	srv     *transport.Server
	started time.Time
	// now is the clock for certificate validity checks and issuance.
	now func() time.Time
	// ServerCertRenewed, if set before Run, is called after each renewal.
	ServerCertRenewed func()
	ready             chan struct{}
}

// Ready is closed once Run has bound every listener and written
// palyrad.addr.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Addrs returns the bound listener addresses; valid after Ready.
func (d *Daemon) Addrs() transport.Addrs { return d.srv.Addrs() }

// Layout returns the state directory's layout.
func (d *Daemon) Layout() statedir.Layout { return d.layout }

// Open takes the state-directory lock and loads (creating on first start)
// everything the daemon needs, component by component in dependency order.
// Close releases them in reverse.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	layout, err := statedir.At(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if err := layout.Create(); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, layout: layout, log: log, now: time.Now, ready: make(chan struct{})}
	var mk *masterkey.Key
	for _, c := range []lifecycle.Component{
		{Name: "lock", Start: d.takeLock, Stop: func() error { return d.lock.Unlock() }},
		{Name: "master key", Start: func(context.Context) error {
			var created bool
			mk, created, err = masterkey.LoadOrCreateFile(layout.MasterKey)
			if created {
				log.Warn("created a master key in a plain 0600 key file; it protects against other users, not against this one", "path", layout.MasterKey)
			}
			return err
		}},
		{Name: "identity", Start: func(context.Context) error {
			var created bool
			d.id, created, err = identity.LoadOrCreateSealed(layout.Identity, mk.Derive(masterkey.LabelIdentitySeal))
			if created {
				log.Info("created device identity", "device_id", d.id.DeviceID, "fingerprint", d.id.Fingerprint())
			}
			return err
		}},
		{Name: "certificate authority", Start: func(context.Context) error {
			if d.ca, err = pki.LoadOrCreateCA(layout.CACert, layout.CAKey, mk.Derive(masterkey.LabelCASeal), "Palyra device CA "+d.id.DeviceID.String()); err != nil {
				return err
			}
			d.server, err = pki.NewServerCert(d.ca, cfg.ServerNames, time.Duration(cfg.ServerCertTTL))
			return err
		}},
		{Name: "vault", Start: func(ctx context.Context) error {
			d.vault, err = vault.Open(ctx, layout.Vault, mk.Derive(masterkey.LabelVaultKEK), vaultKEKID)
			return err
		}, Stop: func() error { return d.vault.Close() }},
		{Name: "audit journal", Start: func(ctx context.Context) error {
			d.audit, err = audit.Open(ctx, layout.Audit, d.id.SigningKey, offline.AuditOrigin(d.id.DeviceID), d.auditOptions())
			return err
		}, Stop: func() error { return d.audit.Close() }},
		{Name: "device registry", Start: func(ctx context.Context) error {
			d.devices, err = devices.Open(ctx, layout.Devices)
			return err
		}, Stop: func() error { return d.devices.Close() }},
		{Name: "authorization", Start: func(context.Context) error {
			d.authz, err = authz.NewEngine()
			return err
		}},
		{Name: "guard", Start: func(context.Context) error {
			key, err := note.NewEd25519VerifierKey(offline.AuditOrigin(d.id.DeviceID), d.id.PublicKey())
			if err != nil {
				return err
			}
			d.guard, err = guard.New(guard.Config{Authz: d.authz, Journal: d.audit, Devices: d.devices, CheckpointKey: key, OwnerUID: os.Getuid(), MapError: d.mapError, Now: d.now, Log: log})
			return err
		}},
	} {
		d.parts.Add(c)
	}
	if err := d.parts.Start(ctx); err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return d, nil
}

// takeLock takes the state directory's lock and removes the address file a
// daemon that died left behind, so nobody reads old addresses as a sign of
// readiness.
func (d *Daemon) takeLock(context.Context) error {
	l := flock.New(d.layout.Lock, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	locked, err := l.TryLock()
	if err != nil {
		return fmt.Errorf("lock %s: %w", d.layout.Lock, err)
	}
	if !locked {
		return ErrLocked
	}
	d.lock = l
	if err := os.Remove(d.layout.AddrFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", d.layout.AddrFile, err)
	}
	return nil
}

// auditOptions are the journal's durability and checkpoint settings.
func (d *Daemon) auditOptions() audit.Options {
	a := d.cfg.Audit
	o := audit.Options{
		SyncWindow:         time.Duration(a.SyncWindow),
		CheckpointEvery:    a.CheckpointEvery,
		CheckpointInterval: time.Duration(a.CheckpointInterval),
		OnAsyncError:       func(err error) { d.log.Error("audit outcome record failed", "err", err) },
	}
	if a.Sync == config.SyncAlways {
		o.Sync = audit.SyncAlways
	}
	return o
}

// Close releases everything Open acquired, the lock last.
func (d *Daemon) Close() { d.parts.Stop() }

// tlsConfig is the server TLS configuration of both TLS listeners: the
// renewing server certificate, the device CA for client certificates, and
// the device registry's revocation check in every handshake.
func (d *Daemon) tlsConfig() *tls.Config {
	return transport.ServerTLSConfig(d.server.GetCertificate, d.ca.Pool(), func(leaf *x509.Certificate) error {
		_, err := d.devices.Check(leaf)
		return err
	})
}

// Run binds the listeners, writes palyrad.addr, and serves until ctx is
// cancelled; then it shuts down gracefully and removes palyrad.addr. Its
// background loops (serving, server certificate renewal) are registered in
// one lifecycle group and are all stopped before Run returns.
func (d *Daemon) Run(ctx context.Context) error {
	if !d.cfg.LoopbackOnly() {
		d.log.Warn("listening beyond loopback: the API is reachable from the network (mTLS still required)", "listen", d.cfg.Listen)
	}
	h, err := d.handler()
	if err != nil {
		return err
	}
	srv, err := transport.Listen(transport.Config{
		Handler:    h,
		TLS:        d.tlsConfig(),
		ListenAddr: d.cfg.Listen,
		SocketPath: d.layout.Socket,
		OwnerUID:   os.Getuid(),
		Logger:     d.log,
	})
	if err != nil {
		return err
	}
	d.srv = srv
	d.server.Renewed = func(c *x509.Certificate) {
		d.log.Info("renewed server certificate", "serial", c.SerialNumber.Text(16), "not_after", c.NotAfter)
		if d.ServerCertRenewed != nil {
			d.ServerCertRenewed()
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 1)
	var loops lifecycle.Group
	loops.Go("server certificate renewal", func(lctx context.Context) {
		d.server.Run(lctx, func(err error) { d.log.Error("server certificate renewal failed", "err", err) })
	})
	loops.Go("serve", func(context.Context) { serveErr <- srv.Serve(ctx) })
	defer loops.Stop()

	addrs := srv.Addrs()
	b, _ := json.Marshal(addrs)
	if err := renameio.WriteFile(d.layout.AddrFile, append(b, '\n'), 0o600); err != nil {
		cancel()
		<-serveErr
		return fmt.Errorf("daemon: write %s: %w", d.layout.AddrFile, err)
	}
	d.started = time.Now()
	close(d.ready)
	d.log.Info("palyrad ready", "version", version.Version, "device_id", d.id.DeviceID, "tcp", addrs.TCP, "quic", addrs.QUIC, "socket", addrs.Socket)
	err = <-serveErr
	cancel()
	os.Remove(d.layout.AddrFile)
	d.log.Info("palyrad stopped")
	return err
}
