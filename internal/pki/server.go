package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"sync/atomic"
	"time"
)

// DefaultServerNames are always in the server certificate's SANs.
var DefaultServerNames = []string{"localhost", "127.0.0.1", "::1"}

// ServerCert holds the daemon's current server certificate and renews it in
// the background. Its GetCertificate plugs into tls.Config so renewal is a
// hot swap: new handshakes get the new certificate, live ones are untouched.
// The server key is generated in memory for each certificate and never
// written to disk.
type ServerCert struct {
	ca    *CA
	names []string
	ttl   time.Duration
	cur   atomic.Pointer[tls.Certificate]
	// Renewed, if set, is called after each successful renewal (tests use
	// it to wait for a renewal instead of sleeping).
	Renewed func(*x509.Certificate)
}

// NewServerCert issues the first server certificate for DefaultServerNames
// plus extraNames (DNS names or IP literals), valid for ttl.
func NewServerCert(ca *CA, extraNames []string, ttl time.Duration) (*ServerCert, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("pki: server certificate ttl must be positive, got %v", ttl)
	}
	s := &ServerCert{ca: ca, names: append(append([]string{}, DefaultServerNames...), extraNames...), ttl: ttl}
	if err := s.renew(time.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

// GetCertificate returns the current certificate; for tls.Config.
func (s *ServerCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cur.Load(), nil
}

// Leaf returns the current certificate, parsed.
func (s *ServerCert) Leaf() *x509.Certificate { return s.cur.Load().Leaf }

func (s *ServerCert) renew(now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "palyrad"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range s.names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	cert, err := s.ca.sign(tmpl, &key.PublicKey, now, s.ttl)
	if err != nil {
		return err
	}
	s.cur.Store(&tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert})
	return nil
}

// RenewAt returns when a certificate valid over [notBefore+Backdate,
// notAfter] should be renewed: at two thirds of its lifetime, minus up to
// 10% random jitter so many daemons do not renew in lockstep.
func RenewAt(issued, notAfter time.Time) time.Time {
	life := notAfter.Sub(issued)
	jitter := time.Duration(0)
	if max := int64(life / 10); max > 0 {
		n, err := rand.Int(rand.Reader, big.NewInt(max))
		if err == nil {
			jitter = time.Duration(n.Int64())
		}
	}
	return issued.Add(life*2/3 - jitter)
}

// Run renews the certificate at RenewAt until ctx is done. A failed renewal
// is retried after a tenth of the lifetime (at least one second), while the
// current certificate is still valid.
func (s *ServerCert) Run(ctx context.Context, onError func(error)) {
	for {
		leaf := s.Leaf()
		wait := time.Until(RenewAt(leaf.NotBefore.Add(Backdate), leaf.NotAfter))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := s.renew(time.Now()); err != nil {
			if onError != nil {
				onError(err)
			}
			retry := max(s.ttl/10, time.Second)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			continue
		}
		if s.Renewed != nil {
			s.Renewed(s.Leaf())
		}
	}
}
