// Package demo runs Palyra's main flow end to end against an ephemeral
// daemon in a temporary state directory, checking that every step behaves —
// including the refusals — and printing each step as it goes.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/daemon"
	"github.com/palyra/palyra/internal/offline"
	"github.com/palyra/palyra/internal/peer"
)

// SecretRef is the secret the demo stores and reads back.
const SecretRef = "global/openai_api_key"

// Run executes the demo, writing progress to out. It returns nil only if
// every step behaved: allowed calls succeed with the right value and refused
// calls are refused.
func Run(ctx context.Context, out io.Writer) (err error) {
	dir, err := os.MkdirTemp("", "palyra-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	step := 0
	ok := func(format string, args ...any) {
		step++
		fmt.Fprintf(out, "  %2d. ok    "+format+"\n", append([]any{step}, args...)...)
	}

	cfg := config.Defaults()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Listen = "127.0.0.1:0"
	d, err := daemon.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	defer d.Close()
	runCtx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(runCtx) }()
	running := true
	defer func() {
		if !running {
			return
		}
		stop()
		if rerr := <-runErr; rerr != nil && err == nil {
			err = rerr
		}
	}()
	select {
	case <-d.Ready():
	case err := <-runErr:
		return fmt.Errorf("daemon: %w", err)
	}
	a := d.Addrs()
	fmt.Fprintf(out, "palyra demo: ephemeral daemon in %s\n  tcp %s, quic %s, socket %s\n", cfg.StateDir, a.TCP, a.QUIC, a.Socket)

	admin := client.DialUnix(a.Socket)
	defer admin.Close()
	st, err := admin.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{}))
	if err != nil {
		return fmt.Errorf("status over the admin socket: %w", err)
	}
	ok("admin socket: status as %s; device %s, CA %s…", st.Msg.Principal, st.Msg.DeviceId, st.Msg.CaFingerprint[:16])

	bundleDir := filepath.Join(dir, "laptop-bundle")
	b, err := client.Enroll(ctx, admin, "demo-laptop", bundleDir, "")
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	ok("enrolled device %s (key generated client-side, fingerprint %s…)", b.Identity.DeviceID, b.Identity.Fingerprint()[:16])

	secret := make([]byte, 24)
	rand.Read(secret)
	value := []byte("sk-demo-" + hex.EncodeToString(secret))
	if _, err := admin.Vault.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: SecretRef, Value: value})); err != nil {
		return fmt.Errorf("vault put: %w", err)
	}
	ok("admin stored %s in the vault (envelope-encrypted)", SecretRef)

	for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
		c, _ := client.DialBundle(b, tr)
		got, err := c.Vault.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: SecretRef}))
		c.Close()
		if err != nil {
			return fmt.Errorf("device get over %s: %w", tr, err)
		}
		if !bytes.Equal(got.Msg.Value, value) {
			return fmt.Errorf("device get over %s returned a different value", tr)
		}
		ok("device read the secret over mTLS on %s (%d bytes, value matches)", tr, len(got.Msg.Value))
	}

	for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
		anon := dialAnonymous(b, tr)
		if hc, err := anon.Health.Check(ctx, &grpchealth.CheckRequest{}); err != nil || hc.Status != grpchealth.StatusServing {
			anon.Close()
			return fmt.Errorf("anonymous health over %s: %w", tr, err)
		}
		_, err := anon.Vault.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: SecretRef}))
		anon.Close()
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			return fmt.Errorf("call without a client certificate over %s: want unauthenticated, got %v", tr, err)
		}
		ok("no client certificate on %s: health answers, vault get refused (unauthenticated)", tr)
	}

	dev, _ := client.DialBundle(b, peer.TCP)
	_, err = dev.Devices.Revoke(ctx, connect.NewRequest(&palyrav1.RevokeDeviceRequest{DeviceId: b.Identity.DeviceID.String()}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		dev.Close()
		return fmt.Errorf("device revoking itself: want permission denied, got %v", err)
	}
	ok("a device may not revoke devices (policy device-admin-local-only)")

	if _, err := admin.Devices.Revoke(ctx, connect.NewRequest(&palyrav1.RevokeDeviceRequest{DeviceId: b.Identity.DeviceID.String()})); err != nil {
		dev.Close()
		return fmt.Errorf("revoke: %w", err)
	}
	ok("admin revoked device %s", b.Identity.DeviceID)

	// The device's open connection was closed by the revocation; the retry
	// below dials anew and must fail in the handshake.
	_, err = dev.Vault.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: SecretRef}))
	dev.Close()
	if err == nil {
		return errors.New("revoked device still read the secret over tcp")
	}
	if perr := client.ProbeTCP(ctx, b.Daemon.TCP, &b.Cert, b.Roots()); perr != client.ErrHandshakeRefused {
		return fmt.Errorf("revoked device over tcp: want a refusal in the TLS handshake, got %v", perr)
	}
	ok("revoked device refused in the TLS handshake on tcp")
	q, _ := client.DialBundle(b, peer.QUIC)
	_, err = q.Vault.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: SecretRef}))
	q.Close()
	if err == nil {
		return errors.New("revoked device still read the secret over quic")
	}
	if !client.IsHandshakeRefusal(err) {
		return fmt.Errorf("revoked device over quic: want a refusal in the TLS handshake, got %v", err)
	}
	ok("revoked device refused in the TLS handshake on quic")

	recs, err := admin.Audit.List(ctx, connect.NewRequest(&palyrav1.AuditListRequest{Principal: `Device::"` + b.Identity.DeviceID.String() + `"`, Action: "vault.read"}))
	if err != nil {
		return fmt.Errorf("audit list: %w", err)
	}
	var decisions, outcomes int
	for _, r := range recs.Msg.Records {
		switch {
		case r.Kind == "decision" && r.Decision == "allow":
			decisions++
		case r.Kind == "outcome" && r.Outcome == "ok":
			outcomes++
		}
	}
	if decisions != 2 || outcomes != 2 {
		return fmt.Errorf("audit list: the device's two reads show %d allow decisions and %d ok outcomes, want 2 and 2", decisions, outcomes)
	}
	ok("audit journal: each of the device's reads is an allow decision followed by its outcome")

	stop()
	running = false
	if err := <-runErr; err != nil {
		return fmt.Errorf("daemon stop: %w", err)
	}
	d.Close()
	res, err := offline.VerifyAudit(ctx, d.Layout())
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	if res.Uncovered != 0 {
		return fmt.Errorf("audit verify: %d records not covered by a signed checkpoint after a clean stop", res.Uncovered)
	}
	ok("daemon stopped; audit journal verified offline: %d records, chain intact, all covered by %d signed checkpoints", res.Records, res.Checkpoints)
	fmt.Fprintln(out, "palyra demo: every step behaved")
	return nil
}

// dialAnonymous connects like the bundle's device but presents no
// certificate.
func dialAnonymous(b *client.Bundle, tr peer.Transport) *client.Conn {
	if tr == peer.QUIC {
		return client.DialQUIC(b.Daemon.QUIC, nil, b.Roots())
	}
	return client.DialTCP(b.Daemon.TCP, nil, b.Roots())
}
