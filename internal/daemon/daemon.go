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

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/masterkey"
	"github.com/palyra/palyra/internal/pki"
	"github.com/palyra/palyra/internal/statedir"
	"github.com/palyra/palyra/internal/transport"
	"github.com/palyra/palyra/internal/vault"
)

// Version is the daemon and API version reported by Health and Status.
const Version = "0.1.0"

// vaultKEKID names the KEK inside vault envelopes: the HKDF sub-key of the
// version-1 master key.
const vaultKEKID = "mk1:" + masterkey.LabelVaultKEK

// ErrLocked means another palyrad holds the state directory.
var ErrLocked = errors.New("daemon: another palyrad is running on this state directory")

// Daemon is an opened state directory ready to serve.
type Daemon struct {
	cfg     Config
	layout  statedir.Layout
	log     *slog.Logger
	lock    *flock.Flock
	id      *identity.Identity
	ca      *pki.CA
	server  *pki.ServerCert
	vault   *vault.Vault
	audit   *audit.Journal
	devices *devices.Registry
	authz   *authz.Engine
	srv     *transport.Server
	// now is the clock for certificate validity checks and issuance.
	now func() time.Time
	// ServerCertRenewed, if set before Run, is called after each renewal.
	ServerCertRenewed func()
	ready             chan struct{}
	// refusalLog rate-limits the log line for unauthenticated calls, so an
	// anonymous flood cannot fill the disk through the logs either.
	refusalLog logLimiter
}

// Ready is closed once Run has bound every listener and written
// palyrad.addr.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Addrs returns the bound listener addresses; valid after Ready.
func (d *Daemon) Addrs() transport.Addrs { return d.srv.Addrs() }

// Layout returns the state directory's layout.
func (d *Daemon) Layout() statedir.Layout { return d.layout }

// AuditOrigin is the origin line of the audit journal's signed checkpoints.
func AuditOrigin(deviceID string) string { return "palyra/" + deviceID }

// Open takes the state-directory lock and loads (creating on first start)
// everything the daemon needs. Close releases it.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (_ *Daemon, err error) {
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
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	d.lock = flock.New(layout.Lock, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	locked, err := d.lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("daemon: lock %s: %w", layout.Lock, err)
	}
	if !locked {
		d.lock = nil
		return nil, ErrLocked
	}
	// A daemon that died left its address file behind; remove it now so
	// that nobody reads old addresses as a sign of readiness.
	if err := os.Remove(layout.AddrFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("daemon: remove stale %s: %w", layout.AddrFile, err)
	}
	mk, created, err := masterkey.LoadOrCreateFile(layout.MasterKey)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created a master key in a plain 0600 key file; it protects against other users, not against this one", "path", layout.MasterKey)
	}
	if d.id, created, err = identity.LoadOrCreateSealed(layout.Identity, mk.Derive(masterkey.LabelIdentitySeal)); err != nil {
		return nil, err
	}
	if created {
		log.Info("created device identity", "device_id", d.id.DeviceID, "fingerprint", d.id.Fingerprint())
	}
	if d.ca, err = pki.LoadOrCreateCA(layout.CACert, layout.CAKey, mk.Derive(masterkey.LabelCASeal), "Palyra device CA "+d.id.DeviceID); err != nil {
		return nil, err
	}
	if d.server, err = pki.NewServerCert(d.ca, cfg.ServerNames, time.Duration(cfg.ServerCertTTL)); err != nil {
		return nil, err
	}
	if d.vault, err = vault.Open(ctx, layout.Vault, mk.Derive(masterkey.LabelVaultKEK), vaultKEKID); err != nil {
		return nil, err
	}
	if d.audit, err = audit.Open(ctx, layout.Audit, d.id.SigningKey, AuditOrigin(d.id.DeviceID)); err != nil {
		return nil, err
	}
	if d.devices, err = devices.Open(ctx, layout.Devices); err != nil {
		return nil, err
	}
	if d.authz, err = authz.NewEngine(); err != nil {
		return nil, err
	}
	return d, nil
}

// Close releases everything Open acquired, the lock last.
func (d *Daemon) Close() {
	if d.vault != nil {
		d.vault.Close()
	}
	if d.audit != nil {
		d.audit.Close()
	}
	if d.devices != nil {
		d.devices.Close()
	}
	if d.lock != nil {
		d.lock.Unlock()
	}
}

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
// cancelled; then it shuts down gracefully and removes palyrad.addr.
func (d *Daemon) Run(ctx context.Context) error {
	if !d.cfg.loopbackOnly() {
		d.log.Warn("listening beyond loopback: the API is reachable from the network (mTLS still required)", "listen", d.cfg.Listen)
	}
	srv, err := transport.Listen(transport.Config{
		Handler:    d.handler(),
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	renewDone := make(chan struct{})
	d.server.Renewed = func(c *x509.Certificate) {
		d.log.Info("renewed server certificate", "serial", c.SerialNumber.Text(16), "not_after", c.NotAfter)
		if d.ServerCertRenewed != nil {
			d.ServerCertRenewed()
		}
	}
	go func() {
		defer close(renewDone)
		d.server.Run(ctx, func(err error) { d.log.Error("server certificate renewal failed", "err", err) })
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ctx) }()

	addrs := srv.Addrs()
	b, _ := json.Marshal(addrs)
	if err := renameio.WriteFile(d.layout.AddrFile, append(b, '\n'), 0o600); err != nil {
		cancel()
		<-serveErr
		<-renewDone
		return fmt.Errorf("daemon: write %s: %w", d.layout.AddrFile, err)
	}
	close(d.ready)
	d.log.Info("palyrad ready", "version", Version, "device_id", d.id.DeviceID, "tcp", addrs.TCP, "quic", addrs.QUIC, "socket", addrs.Socket)
	err = <-serveErr
	cancel()
	<-renewDone
	os.Remove(d.layout.AddrFile)
	d.log.Info("palyrad stopped")
	return err
}
