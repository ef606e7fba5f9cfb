// Package transport serves one http.Handler three ways — TLS 1.3 over TCP
// (HTTP/2, so gRPC clients work), HTTP/3 over QUIC, and plain HTTP over the
// local admin Unix socket — and tells the handler who is on the other end in
// the same shape for all three (Peer).
//
// TLS connections always request a client certificate and verify it against
// the device CA when one is sent; a certificate is not required at the
// handshake because Health must answer anonymous callers. The caller-supplied
// CheckPeer runs inside the handshake (tls.Config.VerifyConnection), so a
// revoked device is refused before any request is read. Deciding what an
// authenticated peer may do is not this package's job.
package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// CheckPeer decides, inside the TLS handshake, whether a client certificate
// that already chains to the CA may connect (for example: not revoked).
type CheckPeer func(leaf *x509.Certificate) error

// ServerTLSConfig returns the TLS 1.3-only server configuration shared by the
// TCP and QUIC listeners. getCert supplies the (hot-swappable) server
// certificate; clientCAs verifies client certificates; check runs on every
// handshake that presents one. Session tickets are disabled so every
// connection runs the full handshake, certificate checks included.
func ServerTLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), clientCAs *x509.CertPool, check CheckPeer) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		GetCertificate:         getCert,
		ClientAuth:             tls.VerifyClientCertIfGiven,
		ClientCAs:              clientCAs,
		SessionTicketsDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			if check == nil {
				return errors.New("transport: no peer check configured")
			}
			return check(cs.PeerCertificates[0])
		},
	}
}

// ClientTLSConfig returns a TLS 1.3-only client configuration that trusts
// only roots (the daemon's CA, pinned in the client bundle) and presents
// cert when it has one (cert may be nil for anonymous calls).
func ClientTLSConfig(cert *tls.Certificate, roots *x509.CertPool) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}
