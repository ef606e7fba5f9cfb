package transport

import (
	"context"
	"crypto/x509"
	"net/http"
)

// Transport names, as recorded in authorization context and audit records.
const (
	TCP  = "tcp"
	QUIC = "quic"
	Unix = "unix"
)

// Peer is what the transport knows about the caller of one request.
type Peer struct {
	Transport string            // TCP, QUIC or Unix
	Cert      *x509.Certificate // verified client certificate; nil if none was sent or on Unix
	UID       int               // peer uid from SO_PEERCRED on Unix; -1 otherwise
	Remote    string            // remote address, for logs
}

type peerKey struct{}

// PeerFrom returns the Peer that the serving listener attached to ctx.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

// withPeer wraps h so that every request's context carries its Peer. TLS
// transports take the certificate from r.TLS, which net/http and quic-go's
// http3 both fill in after the handshake; the Unix transport takes the uid
// that its listener stored in the connection context.
func withPeer(transport string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := Peer{Transport: transport, UID: -1, Remote: r.RemoteAddr}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			p.Cert = r.TLS.PeerCertificates[0]
		}
		if uid, ok := r.Context().Value(uidKey{}).(int); ok {
			p.UID = uid
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerKey{}, p)))
	})
}
