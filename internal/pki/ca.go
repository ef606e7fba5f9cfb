// Package pki is the installation's private certificate authority: an ECDSA
// P-256 root whose key is sealed at rest, the server certificate the daemon
// presents (short-lived, renewed in the background and hot-swapped), and the
// client certificates it issues to devices.
//
// The CA never generates or stores a client's private key: a client sends a
// PKCS#10 CSR (RFC 2986) signed with its own Ed25519 key, which proves
// possession, and gets back a certificate for exactly that key with its
// device id as a URI SAN (palyra://device/<ULID>) and the clientAuth EKU.
// Which device may get a certificate is decided elsewhere (authz, devices);
// this package only issues.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"time"

	"github.com/google/renameio/v2"

	"github.com/palyra/palyra/internal/sealed"
)

// Lifetimes and skew allowance. Backdating NotBefore tolerates clients whose
// clocks run a few minutes slow.
const (
	CALifetime     = 10 * 365 * 24 * time.Hour
	DefaultLeafTTL = 24 * time.Hour
	Backdate       = 5 * time.Minute
)

// CAKeySealedName is the logical name bound into the sealed CA key file.
const CAKeySealedName = "ca-key"

// CA is a loaded certificate authority. Its methods are safe for concurrent
// use.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

// LoadOrCreateCA loads the CA from certPath (PEM) and keyPath (sealed PKCS#8
// under sealKey), or creates both when neither exists. commonName names a new
// CA's subject. Exactly one of the two files existing is an error, as is a
// key that does not match the certificate.
func LoadOrCreateCA(certPath, keyPath string, sealKey []byte, commonName string) (*CA, error) {
	certPEM, certErr := os.ReadFile(certPath) // #nosec G304 -- the CA paths of the state directory layout
	keyDER, keyErr := sealed.ReadFile(keyPath, sealKey, CAKeySealedName)
	switch {
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		return createCA(certPath, keyPath, sealKey, commonName)
	case certErr != nil:
		return nil, fmt.Errorf("pki: read CA certificate: %w", certErr)
	case keyErr != nil:
		return nil, fmt.Errorf("pki: read CA key: %w", keyErr)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("pki: %s: not a PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", certPath, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("pki: CA key does not match the CA certificate")
	}
	return newCA(cert, key), nil
}

func newCA(cert *x509.Certificate, key *ecdsa.PrivateKey) *CA {
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, key: key, pool: pool}
}

func createCA(certPath, keyPath string, sealKey []byte, commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Palyra"}},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	// Key first: a crash between the two writes leaves a key without a
	// certificate, which the next start reports instead of overwriting.
	if err := sealed.WriteFile(keyPath, sealKey, CAKeySealedName, keyDER); err != nil {
		return nil, err
	}
	if err := renameio.WriteFile(certPath, EncodeCertPEM(der), 0o600); err != nil {
		return nil, fmt.Errorf("pki: write CA certificate: %w", err)
	}
	return newCA(cert, key), nil
}

// Pool returns a pool holding only this CA, for verifying peers.
func (ca *CA) Pool() *x509.CertPool { return ca.pool }

// Fingerprint returns SHA-256 of the CA certificate's DER as lowercase hex.
func (ca *CA) Fingerprint() string { return CertFingerprint(ca.Cert.Raw) }

// CertFingerprint returns SHA-256 of a DER certificate as lowercase hex.
func CertFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// EncodeCertPEM wraps a DER certificate in a PEM "CERTIFICATE" block.
func EncodeCertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// sign issues a certificate from tmpl for pub, filling serial and validity.
func (ca *CA) sign(tmpl *x509.Certificate, pub crypto.PublicKey, now time.Time, ttl time.Duration) (*x509.Certificate, error) {
	tmpl.SerialNumber = randomSerial()
	tmpl.NotBefore = now.Add(-Backdate)
	tmpl.NotAfter = now.Add(ttl)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: issue: %w", err)
	}
	return x509.ParseCertificate(der)
}

// randomSerial returns a positive 128-bit random serial (RFC 5280 §4.1.2.2
// allows up to 20 octets; 128 random bits make serials unguessable).
func randomSerial() *big.Int {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("pki: crypto/rand failed: " + err.Error())
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // keep 16 octets, positive
	return new(big.Int).SetBytes(b)
}
