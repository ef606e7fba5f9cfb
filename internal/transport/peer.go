package transport

import (
	"net/http"

	"github.com/palyra/palyra/internal/peer"
)

// withPeer wraps h so that every request's context carries its peer.Peer.
// TLS transports take the certificate from r.TLS, which net/http and
// quic-go's http3 both fill in after the handshake; the Unix transport takes
// the uid that its listener stored in the connection context.
func withPeer(t peer.Transport, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := peer.Peer{Transport: t, UID: -1, Remote: r.RemoteAddr}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			p.Cert = r.TLS.PeerCertificates[0]
		}
		if uid, ok := r.Context().Value(uidKey{}).(int); ok {
			p.UID = uid
		}
		h.ServeHTTP(w, r.WithContext(peer.NewContext(r.Context(), p)))
	})
}
