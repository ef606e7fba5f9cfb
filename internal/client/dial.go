package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/transport"
)

// Conn is an API client plus the transport it owns.
type Conn struct {
	palyrav1connect.PalyraServiceClient
	close func()
}

// Close releases the connection's idle network resources.
func (c *Conn) Close() { c.close() }

// DefaultTimeout bounds a whole call, connection set-up included.
const DefaultTimeout = 30 * time.Second

// minCompressBytes keeps tiny messages (most of this API) uncompressed:
// gzip costs more than it saves below about a kilobyte.
const minCompressBytes = 1024

// DialUnix connects to the daemon's admin socket at path.
func DialUnix(path string) *Conn {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	hc := &http.Client{Transport: tr, Timeout: DefaultTimeout}
	return &Conn{
		PalyraServiceClient: palyrav1connect.NewPalyraServiceClient(hc, "http://palyrad", connect.WithCompressMinBytes(minCompressBytes)),
		close:               tr.CloseIdleConnections,
	}
}

// DialTCP connects with gRPC over TLS 1.3 on TCP to addr, trusting only
// roots and presenting cert (nil for an anonymous client).
func DialTCP(addr string, cert *tls.Certificate, roots *x509.CertPool) *Conn {
	tr := &http.Transport{TLSClientConfig: transport.ClientTLSConfig(cert, roots), ForceAttemptHTTP2: true}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP2(true)
	hc := &http.Client{Transport: tr, Timeout: DefaultTimeout}
	return &Conn{
		PalyraServiceClient: palyrav1connect.NewPalyraServiceClient(hc, "https://"+addr, connect.WithGRPC(), connect.WithCompressMinBytes(minCompressBytes)),
		close:               tr.CloseIdleConnections,
	}
}

// DialQUIC connects with HTTP/3 over QUIC to addr (UDP), with the same TLS
// settings as DialTCP.
func DialQUIC(addr string, cert *tls.Certificate, roots *x509.CertPool) *Conn {
	tr := &http3.Transport{
		TLSClientConfig: transport.ClientTLSConfig(cert, roots),
		QUICConfig:      &quic.Config{HandshakeIdleTimeout: 10 * time.Second, KeepAlivePeriod: 15 * time.Second},
	}
	hc := &http.Client{Transport: tr, Timeout: DefaultTimeout}
	return &Conn{
		PalyraServiceClient: palyrav1connect.NewPalyraServiceClient(hc, "https://"+addr, connect.WithCompressMinBytes(minCompressBytes)),
		close:               func() { tr.Close() },
	}
}

// DialBundle connects as the bundle's device over "tcp" or "quic".
func DialBundle(b *Bundle, transportName string) (*Conn, error) {
	switch transportName {
	case transport.TCP, "":
		return DialTCP(b.Daemon.TCP, &b.Cert, b.Roots()), nil
	case transport.QUIC:
		return DialQUIC(b.Daemon.QUIC, &b.Cert, b.Roots()), nil
	default:
		return nil, fmt.Errorf("client: unknown transport %q (want tcp or quic)", transportName)
	}
}
