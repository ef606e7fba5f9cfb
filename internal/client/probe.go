package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/palyra/palyra/internal/transport"
)

// ErrHandshakeRefused means the daemon answered but rejected this device's
// certificate in the TLS handshake (revoked, expired, or not from its CA).
var ErrHandshakeRefused = errors.New("the daemon rejected this device's certificate in the TLS handshake (revoked, expired or not issued by its CA)")

// ProbeTCP tells a refused certificate apart from an unreachable daemon after
// a failed call, by a bare TLS handshake to addr with cert (the client
// certificate, or nil) trusting only roots. In TLS 1.3 the client finishes its side of the handshake
// before the server verifies the client certificate, so HTTP/2 reports only
// that the connection failed; a bare handshake followed by a read surfaces
// the server's alert. It returns ErrHandshakeRefused, nil if the handshake is
// accepted, or the network error.
func ProbeTCP(ctx context.Context, addr string, cert *tls.Certificate, roots *x509.CertPool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: transport.ClientTLSConfig(cert, roots)}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return refusedOr(err)
	}
	defer c.Close()
	// The server sends its alert, or nothing, right after the handshake.
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	return refusedOr(err)
}

// IsHandshakeRefusal reports whether err (from a call or a dial) carries
// the daemon's rejection of our certificate in the handshake: a TLS alert
// it sent over TCP, or a QUIC CRYPTO_ERROR it closed the connection with.
func IsHandshakeRefusal(err error) bool {
	var te *quic.TransportError
	if errors.As(err, &te) {
		return te.Remote && te.ErrorCode.IsCryptoError()
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// refusedOr maps a TLS alert received from the server to
// ErrHandshakeRefused. crypto/tls reports received alerts as a *net.OpError
// whose Op is "remote error".
func refusedOr(err error) error {
	if IsHandshakeRefusal(err) {
		return ErrHandshakeRefused
	}
	return err
}
