package httpfetch

import (
	"fmt"
	"net/http"

	"golang.org/x/net/http/httpguts"

	"github.com/palyra/palyra/internal/tool/netguard"
)

// transportHeaders are set by the transport; a caller setting them could
// smuggle a second request or lie about the body.
var transportHeaders = []string{
	"Host", "Connection", "Content-Length", "Transfer-Encoding", "Te", "Trailer",
	"Upgrade", "Keep-Alive", "Proxy-Connection",
}

// crossOriginDropped are removed from Request.Header on a redirect to
// another origin, the list net/http uses.
var crossOriginDropped = []string{"Authorization", "Www-Authenticate", "Cookie", "Cookie2", "Proxy-Authorization"}

// checkHeaders validates names and values of both header sets. Errors name
// the header, never its value.
func checkHeaders(h, secrets http.Header) error {
	for _, set := range []struct {
		kind string
		h    http.Header
	}{{"header", h}, {"secret header", secrets}} {
		for name, values := range set.h {
			if !httpguts.ValidHeaderFieldName(name) {
				return fmt.Errorf("http.fetch: %w: %s name %q is not a valid field name", ErrHeader, set.kind, name)
			}
			canon := http.CanonicalHeaderKey(name)
			for _, t := range transportHeaders {
				if canon == t {
					return fmt.Errorf("http.fetch: %w: %s %s is set by the transport", ErrHeader, set.kind, canon)
				}
			}
			for _, v := range values {
				if !httpguts.ValidHeaderFieldValue(v) {
					return fmt.Errorf("http.fetch: %w: %s %s has an invalid value (control characters or line breaks)", ErrHeader, set.kind, canon)
				}
			}
		}
	}
	return nil
}

// origin is scheme, host and port: what RFC 6454 compares.
type origin struct {
	scheme, host string
	port         uint16
}

func originOf(t netguard.Target) origin {
	return origin{t.URL.Scheme, t.Host, t.Port}
}

// buildHeader is the header of one hop: Request.Header (without credential
// headers when the hop leaves the first origin), the secrets when it does
// not, and a User-Agent.
func buildHeader(h http.Header, opts Options, first origin, hop netguard.Target) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	if originOf(hop) == first {
		for name, values := range opts.Secrets {
			out[http.CanonicalHeaderKey(name)] = append([]string(nil), values...)
		}
	} else {
		for _, name := range crossOriginDropped {
			out.Del(name)
		}
	}
	if out.Get("User-Agent") == "" {
		out.Set("User-Agent", opts.UserAgent)
	}
	return out
}
