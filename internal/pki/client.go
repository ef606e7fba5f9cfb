package pki

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/palyra/palyra/internal/identity"
)

// MaxCSRBytes bounds the CSR a client may send.
const MaxCSRBytes = 4 << 10

// DeviceCSR is a parsed, signature-checked device CSR.
type DeviceCSR struct {
	DeviceID  identity.DeviceID
	PublicKey ed25519.PublicKey
	CSR       *x509.CertificateRequest
}

// CreateDeviceCSR returns a DER PKCS#10 CSR for id: its Ed25519 public key,
// subject CN = name, and the URI SAN palyra://device/<id>, signed with the
// device's own key (proof of possession).
func CreateDeviceCSR(id *identity.Identity, name string) ([]byte, error) {
	tmpl := &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: name},
		URIs:    []*url.URL{identity.DeviceURI(id.DeviceID)},
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, id.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("pki: create CSR: %w", err)
	}
	return der, nil
}

// ParseDeviceCSR parses and checks a device CSR: at most MaxCSRBytes of DER,
// a valid self-signature, an Ed25519 key, exactly one device URI SAN and no
// DNS, IP or e-mail SANs (a client certificate names a device, nothing else).
func ParseDeviceCSR(der []byte) (*DeviceCSR, error) {
	req, err := parseDeviceCSR(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCSR, err)
	}
	return req, nil
}

// ErrInvalidCSR is wrapped by every ParseDeviceCSR error.
var ErrInvalidCSR = errors.New("pki: invalid device CSR")

func parseDeviceCSR(der []byte) (*DeviceCSR, error) {
	if len(der) == 0 || len(der) > MaxCSRBytes {
		return nil, fmt.Errorf("must be 1..%d bytes", MaxCSRBytes)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	pub, ok := csr.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("key must be Ed25519")
	}
	if len(csr.DNSNames)+len(csr.IPAddresses)+len(csr.EmailAddresses) > 0 || len(csr.URIs) != 1 {
		return nil, errors.New("must carry exactly one URI SAN and no other SANs")
	}
	id, err := identity.DeviceIDFromURIs(csr.URIs)
	if err != nil {
		return nil, err
	}
	return &DeviceCSR{DeviceID: id, PublicKey: pub, CSR: csr}, nil
}

// IssueClient issues a client certificate for a checked CSR: the CSR's own
// public key, the device URI SAN, clientAuth EKU only, digitalSignature key
// usage, valid from now-Backdate for ttl. CN carries name for display.
func (ca *CA) IssueClient(req *DeviceCSR, name string, now time.Time, ttl time.Duration) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		URIs:        []*url.URL{identity.DeviceURI(req.DeviceID)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.sign(tmpl, req.PublicKey, now, ttl)
}

// DeviceIDFromCert returns the device id of a client certificate issued by
// IssueClient, checking its URI SAN and clientAuth EKU.
func DeviceIDFromCert(cert *x509.Certificate) (identity.DeviceID, error) {
	hasClientAuth := false
	for _, eku := range cert.ExtKeyUsage {
		hasClientAuth = hasClientAuth || eku == x509.ExtKeyUsageClientAuth
	}
	if !hasClientAuth {
		return "", errors.New("pki: certificate lacks the clientAuth EKU")
	}
	return identity.DeviceIDFromURIs(cert.URIs)
}
