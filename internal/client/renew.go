package client

import (
	"context"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"time"

	"connectrpc.com/connect"
	"github.com/google/renameio/v2"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/pki"
)

// RenewDue reports whether the bundle's certificate has passed two thirds
// of its lifetime at now, the point where the daemon's own server
// certificate renews too.
func (b *Bundle) RenewDue(now time.Time) bool {
	leaf := b.Cert.Leaf
	issued := leaf.NotBefore.Add(pki.Backdate)
	return now.After(issued.Add(leaf.NotAfter.Sub(issued) * 2 / 3))
}

// Renew asks the daemon, over conn (an mTLS connection as this bundle's
// device), for a fresh certificate for the same id and key, checks it, and
// replaces cert.pem in dir atomically. b is updated in place.
func Renew(ctx context.Context, conn *Conn, b *Bundle, dir string) error {
	csr, err := pki.CreateDeviceCSR(b.Identity, b.Cert.Leaf.Subject.CommonName)
	if err != nil {
		return err
	}
	resp, err := conn.Devices.Renew(ctx, connect.NewRequest(&palyrav1.RenewCertificateRequest{Csr: csr}))
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(resp.Msg.GetCertificate())
	if err != nil {
		return fmt.Errorf("client: renewed certificate: %w", err)
	}
	if !b.Identity.PublicKey().Equal(leaf.PublicKey) {
		return fmt.Errorf("client: renewed certificate is not for this device's key")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.Roots(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("client: renewed certificate does not chain to the pinned CA: %w", err)
	}
	if err := renameio.WriteFile(filepath.Join(dir, CertFile), pki.EncodeCertPEM(leaf.Raw), 0o600); err != nil {
		return fmt.Errorf("client: write renewed certificate: %w", err)
	}
	b.Cert.Certificate = [][]byte{leaf.Raw}
	b.Cert.Leaf = leaf
	return nil
}
