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
	"connectrpc.com/grpchealth"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/transport"
)

// Conn is a client of every API service plus the transport it owns.
type Conn struct {
	Daemon  palyrav1connect.DaemonServiceClient
	Vault   palyrav1connect.VaultServiceClient
	Devices palyrav1connect.DeviceServiceClient
	Audit   palyrav1connect.AuditServiceClient
	Policy  palyrav1connect.PolicyServiceClient
	Pairing palyrav1connect.PairingServiceClient
	Tools   palyrav1connect.ToolsServiceClient
	// Approvals lists, decides and watches requests waiting for approval.
	Approvals palyrav1connect.ApprovalServiceClient
	// Health is the standard gRPC health service, open to anyone.
	Health *grpchealth.Client
	close  func()
}

// NewConn returns a Conn whose services are reached through hc at baseURL
// with opts, and closeFn, which releases hc's transport.
func NewConn(hc connect.HTTPClient, baseURL string, closeFn func(), opts ...connect.ClientOption) *Conn {
	// Bound what a response may make the client hold: a vault value is at
	// most 64 KiB and a page of audit records well under this.
	opts = append([]connect.ClientOption{connect.WithReadMaxBytes(maxResponseBytes)}, opts...)
	// Innermost, so an interceptor of the caller's (waiting for an
	// approval) may set a longer deadline first.
	opts = append(opts, connect.WithInterceptors(callTimeout{}))
	return &Conn{
		Daemon:    palyrav1connect.NewDaemonServiceClient(hc, baseURL, opts...),
		Vault:     palyrav1connect.NewVaultServiceClient(hc, baseURL, opts...),
		Devices:   palyrav1connect.NewDeviceServiceClient(hc, baseURL, opts...),
		Audit:     palyrav1connect.NewAuditServiceClient(hc, baseURL, opts...),
		Policy:    palyrav1connect.NewPolicyServiceClient(hc, baseURL, opts...),
		Pairing:   palyrav1connect.NewPairingServiceClient(hc, baseURL, opts...),
		Tools:     palyrav1connect.NewToolsServiceClient(hc, baseURL, opts...),
		Approvals: palyrav1connect.NewApprovalServiceClient(hc, baseURL, opts...),
		Health:    grpchealth.NewClient(hc, baseURL, opts...),
		close:     closeFn,
	}
}

// Close releases the connection's idle network resources.
func (c *Conn) Close() { c.close() }

// maxResponseBytes bounds one response message.
const maxResponseBytes = 4 << 20

// DefaultTimeout bounds a whole unary call, connection set-up included,
// unless the call's context has a deadline of its own (a call waiting for
// an approval sets one to match the approval's expiry). Streams end when
// their context does.
const DefaultTimeout = 30 * time.Second

// handshakeTimeout bounds a TLS handshake.
const handshakeTimeout = 10 * time.Second

// callTimeout applies DefaultTimeout to unary calls without a deadline.
type callTimeout struct{}

func (callTimeout) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
			defer cancel()
		}
		return next(ctx, req)
	}
}

func (callTimeout) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (callTimeout) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// minCompressBytes keeps tiny messages (most of this API) uncompressed:
// gzip costs more than it saves below about a kilobyte.
const minCompressBytes = 1024

// DialUnix connects to the daemon's admin socket at path; opts are added
// to every call (a witness interceptor, for example).
func DialUnix(path string, opts ...connect.ClientOption) *Conn {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, err
			}
			if err := checkSocketPeer(c, path); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	}
	hc := &http.Client{Transport: tr}
	return NewConn(hc, "http://palyrad", tr.CloseIdleConnections, append([]connect.ClientOption{connect.WithCompressMinBytes(minCompressBytes)}, opts...)...)
}

// TCPHTTPClient returns an HTTP/2-only client over TLS 1.3 that trusts only
// roots and presents cert (nil for an anonymous client), and a function
// that releases its idle connections.
func TCPHTTPClient(cert *tls.Certificate, roots *x509.CertPool) (*http.Client, func()) {
	tr := &http.Transport{TLSClientConfig: transport.ClientTLSConfig(cert, roots), ForceAttemptHTTP2: true, TLSHandshakeTimeout: handshakeTimeout}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP2(true)
	return &http.Client{Transport: tr}, tr.CloseIdleConnections
}

// QUICHTTPClient returns an HTTP/3 client with the same TLS settings as
// TCPHTTPClient, and a function that closes its connections.
func QUICHTTPClient(cert *tls.Certificate, roots *x509.CertPool) (*http.Client, func()) {
	tr := &http3.Transport{
		TLSClientConfig: transport.ClientTLSConfig(cert, roots),
		QUICConfig:      &quic.Config{HandshakeIdleTimeout: 5 * time.Second, KeepAlivePeriod: 15 * time.Second},
	}
	return &http.Client{Transport: tr}, func() { tr.Close() }
}

// ClientOptions are the connect options for a transport: the gRPC protocol
// on TCP (so standard gRPC tooling interoperates), the Connect protocol on
// QUIC (its unary calls need no HTTP trailers), and no compression of small
// messages on either.
func ClientOptions(t peer.Transport) []connect.ClientOption {
	opts := []connect.ClientOption{connect.WithCompressMinBytes(minCompressBytes)}
	if t == peer.TCP {
		opts = append(opts, connect.WithGRPC())
	}
	return opts
}

// DialTCP connects with gRPC over TLS 1.3 on TCP to addr, trusting only
// roots and presenting cert (nil for an anonymous client).
func DialTCP(addr string, cert *tls.Certificate, roots *x509.CertPool, opts ...connect.ClientOption) *Conn {
	hc, closeFn := TCPHTTPClient(cert, roots)
	return NewConn(hc, "https://"+addr, closeFn, append(ClientOptions(peer.TCP), opts...)...)
}

// DialQUIC connects with HTTP/3 over QUIC to addr (UDP), with the same TLS
// settings as DialTCP.
func DialQUIC(addr string, cert *tls.Certificate, roots *x509.CertPool, opts ...connect.ClientOption) *Conn {
	hc, closeFn := QUICHTTPClient(cert, roots)
	return NewConn(hc, "https://"+addr, closeFn, append(ClientOptions(peer.QUIC), opts...)...)
}

// DialBundle connects as the bundle's device over TCP or QUIC.
func DialBundle(b *Bundle, t peer.Transport, opts ...connect.ClientOption) (*Conn, error) {
	switch t {
	case peer.TCP:
		return DialTCP(b.Daemon.TCP, &b.Cert, b.Roots(), opts...), nil
	case peer.QUIC:
		return DialQUIC(b.Daemon.QUIC, &b.Cert, b.Roots(), opts...), nil
	default:
		return nil, fmt.Errorf("client: transport %q: want tcp or quic", t)
	}
}
