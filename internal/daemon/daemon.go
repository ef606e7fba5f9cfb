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
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/renameio/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/palyra/palyra/internal/approval"
	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/fileperm"
	"github.com/palyra/palyra/internal/guard"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/lifecycle"
	"github.com/palyra/palyra/internal/loglimit"
	"github.com/palyra/palyra/internal/masterkey"
	"github.com/palyra/palyra/internal/offline"
	"github.com/palyra/palyra/internal/pairing"
	"github.com/palyra/palyra/internal/pki"
	"github.com/palyra/palyra/internal/policy"
	"github.com/palyra/palyra/internal/statedir"
	"github.com/palyra/palyra/internal/tool"
	"github.com/palyra/palyra/internal/transport"
	"github.com/palyra/palyra/internal/vault"
	"github.com/palyra/palyra/internal/version"
)

// vaultKEKID names the KEK inside vault envelopes: the HKDF sub-key of the
// version-1 master key.
const vaultKEKID = "mk1:" + masterkey.LabelVaultKEK

// vaultKEKLabel is the HKDF label of a vault KEK generation: "vault-kek"
// for generation 1 (id mk1:vault-kek), "vault-kek/N" for generation N > 1
// (id mk1:vault-kek:N, vault.KEKID). The master key stays in memory while
// the daemon runs so that a rotation can derive the next generation.
func vaultKEKLabel(gen int64) string {
	if gen == 1 {
		return masterkey.LabelVaultKEK
	}
	return masterkey.LabelVaultKEK + "/" + strconv.FormatInt(gen, 10)
}

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
	// approvals keeps requests waiting for approval, and grants.
	approvals *approval.Store
	// mk is the master key, once loaded (createFresh keeps the one it
	// made, so a passphrase is asked and PALYRA_MASTER_KEY read once);
	// keyCheck is the check value state.json records for it ("" when
	// the manifest predates providers, or there is none yet).
	mk       *masterkey.Key
	keyCheck string
	policies *policy.Holder
	guard    *guard.Guard
	// tools are the governed tools served by ToolsService.
	tools *tool.Registry
	srv   *transport.Server
	watch *statedir.Watch
	// renewals limits certificate renewals per device.
	renewals renewLimiter
	// pairing serves PairingService (service_pairing.go); pairingStarts,
	// if set before Run, replaces its per-source starts per minute.
	pairing       *pairing.Server
	pairingKey    []byte // seals pairing codes in devices.db (masterkey.LabelPairingCodes)
	pairingStarts int
	// handshakeLog rate-limits the log line for refused handshakes.
	handshakeLog loglimit.Limiter
	started      time.Time
	// created: Open made the state directory; unrecorded: it had no
	// manifest; recreated: parts begun empty on the operator's request.
	created    bool
	unrecorded bool
	recreated  []string
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

// Option adjusts Open.
type Option func(*openOptions)

type openOptions struct {
	recreate []string
	record   bool
	// approvalNow is the approval store's clock (service_approvals.go).
	approvalNow func() time.Time
}

// RecordState lets Open accept a state directory that has no manifest (made
// before palyrad kept one, or whose state.json was deleted) and record what
// it holds now. Without it such a directory is refused: deleting state.json
// must not be a way to switch its checks off.
func RecordState() Option {
	return func(o *openOptions) { o.record = true }
}

// Recreate lets Open begin the named parts of the state directory empty
// when they are missing (statedir.Recreatable: "vault.db", "audit.db",
// "devices.db"): the operator's explicit recovery after losing one. Every
// re-creation is logged. Parts that are present, or replaced by another
// file, are never touched.
func Recreate(names ...string) Option {
	return func(o *openOptions) { o.recreate = append(o.recreate, names...) }
}

// Open takes the state-directory lock and loads everything the daemon
// needs, component by component in dependency order; Close releases them in
// reverse.
//
// The state directory knows what it holds (statedir.Manifest). A first
// start (the directory absent or empty) creates every part in a temporary
// directory beside it and renames that into place, so a state directory is
// either complete or absent. A later start refuses, naming the file, when
// any part is missing or is not the file the directory was created with,
// unless Recreate names it; nothing is ever re-created silently.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (*Daemon, error) {
	var o openOptions
	for _, f := range opts {
		f(&o)
	}
	for _, n := range o.recreate {
		if !slices.Contains(statedir.Recreatable, n) {
			return nil, fmt.Errorf("daemon: --recreate %q: only %s can be re-created empty; keys and the CA cannot", n, strings.Join(statedir.Recreatable, ", "))
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	layout, err := statedir.At(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, layout: layout, log: log, now: time.Now, ready: make(chan struct{})}
	in, err := layout.Inspect(ctx)
	if err != nil {
		return nil, err
	}
	if in.State == statedir.Fresh {
		if err := d.createFresh(ctx); err != nil {
			return nil, err
		}
		d.created = true
	}
	if err := layout.Check(); err != nil {
		return nil, err
	}
	d.parts.Add(lifecycle.Component{Name: "lock", Start: d.takeLock, Stop: func() error { return d.lock.Unlock() }})
	d.parts.Add(lifecycle.Component{Name: "state directory", Start: func(ctx context.Context) error {
		return d.checkState(ctx, o)
	}})
	for _, c := range d.stateComponents(layout, false) {
		d.parts.Add(c)
	}
	d.parts.Add(d.approvalsComponent(layout, o.approvalNow))
	for _, c := range []lifecycle.Component{
		{Name: "state record", Start: d.recordState, Stop: d.stopWatch},
		{Name: "authorization", Start: d.loadPolicies},
		{Name: "guard", Start: func(context.Context) error {
			key, err := note.NewEd25519VerifierKey(offline.AuditOrigin(d.id.DeviceID), d.id.PublicKey())
			if err != nil {
				return err
			}
			d.guard, err = guard.New(guard.Config{Authz: d.policies, Journal: d.audit, Devices: d.devices, CheckpointKey: key, OwnerUID: os.Getuid(), MapError: d.mapError, Ready: d.stateErr, Now: d.now, Log: log,
				Approvals: guard.Approvals{Store: d.approvals, Wait: time.Duration(d.cfg.Approvals.Wait)}})
			return err
		}},
		{Name: "tools", Start: d.openTools},
	} {
		d.parts.Add(c)
	}
	if err := d.parts.Start(ctx); err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, ErrLocked
		}
		var pe *statedir.ProblemError
		if errors.As(err, &pe) {
			return nil, pe
		}
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return d, nil
}

// stateComponents are the parts of the state directory at l, loaded in
// dependency order, created when absent (Open has made sure they may be).
// The master key is made and kept with the configured provider when
// create is set (a first start, in createFresh), else loaded from it and
// checked against state.json's key check value before anything is read
// with it.
func (d *Daemon) stateComponents(l statedir.Layout, create bool) []lifecycle.Component {
	var mk *masterkey.Key
	var err error
	return []lifecycle.Component{
		{Name: "master key", Start: func(context.Context) error {
			mk, err = d.masterKey(l, create)
			if err == nil {
				d.pairingKey = mk.Derive(masterkey.LabelPairingCodes)
			}
			return err
		}},
		{Name: "identity", Start: func(context.Context) error {
			var created bool
			d.id, created, err = identity.LoadOrCreateSealed(l.Identity, mk.Derive(masterkey.LabelIdentitySeal))
			if created {
				d.log.Info("created device identity", "device_id", d.id.DeviceID, "fingerprint", d.id.Fingerprint())
			}
			return err
		}},
		{Name: "certificate authority", Start: func(context.Context) error {
			if d.ca, err = pki.LoadOrCreateCA(l.CACert, l.CAKey, mk.Derive(masterkey.LabelCASeal), "Palyra device CA "+d.id.DeviceID.String()); err != nil {
				return err
			}
			d.server, err = pki.NewServerCert(d.ca, d.cfg.ServerNames, time.Duration(d.cfg.ServerCertTTL))
			return err
		}},
		{Name: "vault", Start: func(ctx context.Context) error {
			d.vault, err = vault.OpenWith(ctx, l.Vault, vaultKEKID, vault.Options{
				Derive:    func(gen int64) ([]byte, error) { return mk.Derive(vaultKEKLabel(gen)), nil },
				Retention: d.cfg.Vault.Retention,
			})
			return err
		}, Stop: func() error { return d.vault.Close() }},
		{Name: "audit journal", Start: func(ctx context.Context) error {
			d.audit, err = audit.Open(ctx, l.Audit, d.id.SigningKey, offline.AuditOrigin(d.id.DeviceID), d.auditOptions())
			return err
		}, Stop: func() error { return d.audit.Close() }},
		{Name: "device registry", Start: func(ctx context.Context) error {
			d.devices, err = devices.Open(ctx, l.Devices)
			return err
		}, Stop: func() error { return d.devices.Close() }},
	}
}

// createFresh creates a complete state directory in a temporary directory
// beside the target and renames it into place, so that a failed or
// interrupted first start leaves nothing behind, and records what it holds.
func (d *Daemon) createFresh(ctx context.Context) error {
	dir := d.layout.Dir
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("daemon: create %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".creating-")
	if err != nil {
		return fmt.Errorf("daemon: create state directory: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after the rename; removes a failed attempt
	tl, err := statedir.At(tmp)
	if err != nil {
		return err
	}
	var g lifecycle.Group
	for _, c := range d.stateComponents(tl, true) {
		g.Add(c)
	}
	g.Add(d.approvalsComponent(tl, nil))
	if err := g.Start(ctx); err != nil {
		if d.mk != nil {
			d.discardKey()
		}
		return fmt.Errorf("daemon: create state directory: %w", err)
	}
	id := d.id.DeviceID.String()
	if err := g.Stop(); err != nil {
		return fmt.Errorf("daemon: create state directory: %w", err)
	}
	d.id, d.ca, d.server, d.vault, d.audit, d.devices, d.approvals = nil, nil, nil, nil, nil, nil, nil
	if _, err := tl.Record(ctx, id, statedir.KeyRecord{Provider: d.keyProvider(), Check: d.mk.CheckValue()}); err != nil {
		return err
	}
	if err := fileperm.SyncDir(tmp); err != nil {
		return err
	}
	// rename(2) replaces an empty directory and fails on a non-empty one,
	// so of two first starts racing, one wins and the other is refused.
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("daemon: create state directory %s: %w", dir, err)
	}
	if err := fileperm.SyncDir(parent); err != nil {
		return err
	}
	d.log.Info("created state directory", "dir", dir, "device_id", id, "files", strings.Join(statedir.PartNames(d.keyProvider()), ","), "master_key_provider", d.keyProvider())
	return nil
}

// checkState refuses a state directory with a part missing or replaced,
// except missing parts the operator asked to re-create.
func (d *Daemon) checkState(ctx context.Context, o openOptions) error {
	recreate := o.recreate
	in, err := d.layout.Inspect(ctx)
	if err != nil {
		return err
	}
	d.unrecorded = in.State == statedir.Unrecorded
	if in.KeyProvider != d.keyProvider() {
		return fmt.Errorf("the configuration says [master_key] provider = %q but the state directory %s holds its master key with provider %q; set provider = %q, or move the key with: palyra vault provider migrate --to %s --state-dir %s",
			d.keyProvider(), d.layout.Dir, in.KeyProvider, in.KeyProvider, d.keyProvider(), d.layout.Dir)
	}
	if in.Manifest != nil && in.Manifest.MasterKey != nil {
		d.keyCheck = in.Manifest.MasterKey.Check
	}
	if d.unrecorded && !o.record {
		return &statedir.ProblemError{Dir: d.layout.Dir, Problems: []statedir.Problem{{Name: statedir.ManifestFile, Reason: "missing"}}}
	}
	for _, n := range in.Added {
		d.log.Info("adding a part new in this version to the state directory; it begins empty", "file", n, "dir", d.layout.Dir)
		d.recreated = append(d.recreated, n)
	}
	var refused []statedir.Problem
	for _, p := range in.Problems {
		if p.Reason == "missing" && slices.Contains(recreate, p.Name) {
			d.log.Warn("re-creating a missing part of the state directory, as asked with --recreate: it begins empty", "file", p.Name, "dir", d.layout.Dir)
			d.recreated = append(d.recreated, p.Name)
			continue
		}
		refused = append(refused, p)
	}
	if len(refused) > 0 {
		return &statedir.ProblemError{Dir: d.layout.Dir, Problems: refused}
	}
	return nil
}

// recordState writes the manifest when the directory had none (it was
// made by a version that kept none) or parts were re-created, and starts
// watching the databases.
func (d *Daemon) recordState(ctx context.Context) error {
	if d.unrecorded || len(d.recreated) > 0 {
		stamped, err := d.layout.Record(ctx, d.id.DeviceID.String(), statedir.KeyRecord{Provider: d.keyProvider(), Check: d.mk.CheckValue()})
		if err != nil {
			return err
		}
		d.log.Warn("recorded what the state directory holds", "manifest", statedir.ManifestFile, "instance_ids_for", strings.Join(stamped, ","))
	}
	w, err := d.layout.Watch()
	if err != nil {
		return err
	}
	d.watch = w
	return nil
}

// stopWatch releases the files the watch holds.
func (d *Daemon) stopWatch() error {
	if d.watch != nil {
		d.watch.Close()
	}
	return nil
}

// stateCheckInterval is how often the running daemon checks that its
// databases are still the files it opened.
const stateCheckInterval = 250 * time.Millisecond

// watchState checks the databases until ctx ends, and logs the first
// problem: from then on every request is refused (stateErr).
func (d *Daemon) watchState(ctx context.Context) {
	t := time.NewTicker(stateCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if d.watch.Err() != nil {
				continue
			}
			if err := d.watch.Check(); err != nil {
				d.log.Error("refusing every request", "err", err)
			}
		}
	}
}

// stateErr is nil while every database is the file opened at start.
func (d *Daemon) stateErr() error {
	if d.watch == nil {
		return nil
	}
	return d.watch.Err()
}

// Created reports whether Open created the state directory (a first
// start).
func (d *Daemon) Created() bool { return d.created }

// Discard closes the daemon and, if Open created the state directory and
// the daemon never became ready, removes it: a first start that failed (a
// port in use) leaves nothing behind. It does nothing to an existing
// directory.
func (d *Daemon) Discard() {
	d.Close()
	select {
	case <-d.ready:
		return
	default:
	}
	if d.created {
		os.RemoveAll(d.layout.Dir)
		d.discardKey()
	}
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
		if err != nil {
			if n, ok := d.handshakeLog.Allow(d.now()); ok {
				id, _ := pki.DeviceIDFromCert(leaf)
				d.log.Warn("refused a client certificate in the TLS handshake", "device_id", id, "serial", leaf.SerialNumber.Text(16), "reason", err.Error(), "suppressed_before", n)
			}
		}
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
	loops.Go("state directory watch", d.watchState)
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
