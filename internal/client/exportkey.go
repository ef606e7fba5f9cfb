package client

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// ExportKeyPEM writes the bundle's Ed25519 signing key as an unencrypted
// PKCS#8 PEM ("PRIVATE KEY", RFC 5958 / RFC 8410) to path, so that standard
// TLS tools (grpcurl, curl) can present the bundle's certificate. The file
// is created 0600 and must not exist: an export never overwrites anything.
// The key is secret: it is the device.
func (b *Bundle) ExportKeyPEM(path string) (err error) {
	der, err := x509.MarshalPKCS8PrivateKey(b.Identity.SigningKey)
	if err != nil {
		return fmt.Errorf("client: export key: %w", err)
	}
	defer clear(der)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the output path the operator named on the command line
	if err != nil {
		return fmt.Errorf("client: export key: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("client: export key: %w", cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return fmt.Errorf("client: export key: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("client: export key: %w", err)
	}
	return nil
}
