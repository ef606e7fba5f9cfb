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

// NewConn wraps an API client and the function that releases its
// transport.
func NewConn(c palyrav1connect.PalyraServiceClient, closeFn func()) *Conn {
	return &Conn{PalyraServiceClient: c, close: closeFn}
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

// TCPHTTPClient returns an HTTP/2-only client over TLS 1.3 that trusts only
// roots and presents cert (nil for an anonymous client), and a function
// that releases its idle connections.
func TCPHTTPClient(cert *tls.Certificate, roots *x509.CertPool) (*http.Client, func()) {
	tr := &http.Transport{TLSClientConfig: transport.ClientTLSConfig(cert, roots), ForceAttemptHTTP2: true}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP2(true)
	return &http.Client{Transport: tr, Timeout: DefaultTimeout}, tr.CloseIdleConnections
}

// QUICHTTPClient returns an HTTP/3 client with the same TLS settings as
// TCPHTTPClient, and a function that closes its connections.
func QUICHTTPClient(cert *tls.Certificate, roots *x509.CertPool) (*http.Client, func()) {
	tr := &http3.Transport{
		TLSClientConfig: transport.ClientTLSConfig(cert, roots),
		QUICConfig:      &quic.Config{HandshakeIdleTimeout: 5 * time.Second, KeepAlivePeriod: 15 * time.Second},
	}
	return &http.Client{Transport: tr, Timeout: DefaultTimeout}, func() { tr.Close() }
}

// ClientOptions are the connect options for a transport: the gRPC protocol
// on TCP (so standard gRPC tooling interoperates), the Connect protocol on
// QUIC (its unary calls need no HTTP trailers), and no compression of small
// messages on either.
func ClientOptions(transportName string) []connect.ClientOption {
	opts := []connect.ClientOption{connect.WithCompressMinBytes(minCompressBytes)}
	if transportName == transport.TCP {
		opts = append(opts, connect.WithGRPC())
	}
	return opts
}

// DialTCP connects with gRPC over TLS 1.3 on TCP to addr, trusting only
// roots and presenting cert (nil for an anonymous client).
func DialTCP(addr string, cert *tls.Certificate, roots *x509.CertPool) *Conn {
	hc, closeFn := TCPHTTPClient(cert, roots)
	return &Conn{PalyraServiceClient: palyrav1connect.NewPalyraServiceClient(hc, "https://"+addr, ClientOptions(transport.TCP)...), close: closeFn}
}

// DialQUIC connects with HTTP/3 over QUIC to addr (UDP), with the same TLS
// settings as DialTCP.
func DialQUIC(addr string, cert *tls.Certificate, roots *x509.CertPool) *Conn {
	hc, closeFn := QUICHTTPClient(cert, roots)
	return &Conn{PalyraServiceClient: palyrav1connect.NewPalyraServiceClient(hc, "https://"+addr, ClientOptions(transport.QUIC)...), close: closeFn}
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
