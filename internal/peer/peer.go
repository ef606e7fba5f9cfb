// Package peer holds what every layer knows about the caller of one request:
// the transport it arrived on, the verified client certificate (if any), the
// socket peer's uid, and its address. The transport layer fills it in;
// authn, authz, audit and the guard read it. It is a leaf package of plain
// values so that each of them can name a transport without importing the
// listeners.
package peer

import (
	"context"
	"crypto/x509"
	"fmt"
)

// Transport is how a request arrived. Its text form ("unix", "tcp", "quic")
// is what authorization context and audit records carry.
type Transport uint8

// The transports. The zero value is no transport (not a network request).
const (
	None Transport = iota
	// Unix is the local admin socket; only the daemon's owner reaches it.
	Unix
	// TCP is gRPC over TLS 1.3 on TCP (HTTP/2).
	TCP
	// QUIC is the same API over HTTP/3 on QUIC.
	QUIC
)

var transportNames = [...]string{None: "", Unix: "unix", TCP: "tcp", QUIC: "quic"}

// String returns "unix", "tcp", "quic", or "" for None.
func (t Transport) String() string {
	if int(t) < len(transportNames) {
		return transportNames[t]
	}
	return fmt.Sprintf("transport(%d)", uint8(t))
}

// ParseTransport returns the Transport named s ("unix", "tcp", "quic", or ""
// for None). Names are exact: "TCP" is an error.
func ParseTransport(s string) (Transport, error) {
	for t, n := range transportNames {
		if n == s {
			return Transport(t), nil
		}
	}
	return None, fmt.Errorf("peer: unknown transport %q (want unix, tcp or quic)", s)
}

// Network reports whether t is a network transport (TCP or QUIC), where
// callers authenticate with a client certificate.
func (t Transport) Network() bool { return t == TCP || t == QUIC }

// MarshalText implements encoding.TextMarshaler.
func (t Transport) MarshalText() ([]byte, error) {
	if int(t) >= len(transportNames) {
		return nil, fmt.Errorf("peer: invalid transport %d", uint8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseTransport.
func (t *Transport) UnmarshalText(b []byte) error {
	v, err := ParseTransport(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Peer is what the transport knows about the caller of one request.
type Peer struct {
	// Transport is Unix, TCP or QUIC.
	Transport Transport
	// Cert is the client certificate verified in the TLS handshake; nil if
	// none was sent, and always nil on Unix.
	Cert *x509.Certificate
	// UID is the socket peer's uid (SO_PEERCRED) on Unix; -1 otherwise.
	UID int
	// Remote is the remote address, for logs and per-source limits.
	Remote string
}

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the Peer the serving listener attached to ctx.
func FromContext(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(ctxKey{}).(Peer)
	return p, ok
}
