// Package httpfetch performs one outbound HTTP request for the http.fetch
// tool, guarded against server-side request forgery:
//
//   - the URL of the request and of every redirect passes netguard.CheckURL
//     (http and https only, no userinfo, canonical hosts only);
//   - every address a host name resolves to passes netguard.CheckIP (with
//     Options.Allow), and the connection is pinned: the transport dials the
//     very address that was checked and never resolves the name again, so a
//     DNS answer that changes between check and connect (DNS rebinding)
//     cannot move the request. A socket-level hook checks the address once
//     more just before connect(2). TLS still verifies the certificate
//     against the host name of the URL (ServerName), or against the IP
//     address for an IP literal;
//   - redirects are followed by this package, not by net/http, at most
//     Options.MaxRedirects times, each one checked like the first request;
//   - one time limit covers resolution, connection, redirects and reading
//     the body; the body kept is at most Options.MaxResponseBytes (the rest
//     is not read, and Response.Truncated is set);
//   - no proxy (HTTP_PROXY and friends are ignored), no cookie jar, no
//     connection reuse between calls.
//
// Credentials are passed in Options.Secrets, apart from Request.Header: they
// are sent only to the origin (scheme, host, port) of Request.URL and are
// dropped, not forwarded, on a redirect to any other origin. Errors never
// contain their values.
//
// The package takes every decision from its arguments; it never consults
// authorization policy. The caller decides which hosts and address classes
// a request may reach and passes that as Options.Allow.
package httpfetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/palyra/palyra/internal/tool/netguard"
)

// Defaults applied to zero Options fields.
const (
	DefaultMaxRedirects     = 5
	DefaultMaxResponseBytes = 1 << 20 // 1 MiB
	DefaultTimeout          = 30 * time.Second
	DefaultUserAgent        = "palyra-http-fetch/1"
	// maxResponseHeaderBytes bounds the status line and headers of each response.
	maxResponseHeaderBytes = 64 << 10
	// maxDrainBytes is read from a redirect's body before its connection is
	// dropped; more than that and the connection is closed instead of reused.
	maxDrainBytes = 64 << 10
)

// Errors callers can branch on. Address refusals wrap netguard.ErrBlocked
// (and are a *netguard.BlockedError); URL refusals wrap netguard.ErrURL.
var (
	ErrTooManyRedirects = errors.New("too many redirects")
	ErrTimeout          = errors.New("time limit exceeded")
	ErrHeader           = errors.New("header refused")
	ErrRequest          = errors.New("invalid request")
	ErrHostNotAllowed   = errors.New("host not allowed")
	// ErrTransport wraps every other failure to exchange the request with
	// the remote end: a TLS handshake or certificate refused, a protocol
	// error, a connection reset (the underlying error is wrapped too).
	ErrTransport = errors.New("request failed")
)

// Resolver looks host names up. *net.Resolver implements it; tests pass a
// fixed table. network is "ip" (both families).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Request is what to send.
type Request struct {
	// Method is the HTTP method; empty means GET. CONNECT is refused
	// (ErrRequest); an invalid token fails with ErrRequest too.
	Method string
	// URL is the absolute http or https URL (see netguard.CheckURL).
	URL string
	// Header is sent with the request and, on a redirect, with the next
	// request; on a redirect to another origin Authorization, Cookie,
	// Cookie2, Proxy-Authorization and WWW-Authenticate are removed (as
	// net/http does). Host, Connection, Content-Length, Transfer-Encoding,
	// TE, Trailer, Upgrade, Keep-Alive and Proxy-Connection are refused
	// with ErrHeader: the transport sets them. Put credentials in
	// Options.Secrets instead.
	Header http.Header
	// Body is sent as is (with Content-Length); nil means no body.
	Body []byte
}

// Options bound and authorize one Fetch. The zero value is the strict
// default: public unicast addresses only, 5 redirects, 1 MiB, 30 s.
type Options struct {
	// Allow lets address classes or prefixes through netguard.CheckIP,
	// for the first request and for every redirect.
	Allow netguard.Allow
	// Hosts, when not nil, lists the hosts the request and every redirect
	// may go to: exact host names or IP literals as netguard.CheckURL
	// returns them in Target.Host (lower-case, IPv6 without brackets), or
	// "*.example.com" for any name below example.com. Anything else is
	// ErrHostNotAllowed. Pass the hosts authorization decided on, so a
	// redirect cannot take the request to a host no policy judged. nil
	// means any host whose addresses pass Allow.
	Hosts []string
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// Secrets are credential headers (e.g. Authorization: Bearer …) that
	// are added to the request, replacing a header of the same name in
	// Request.Header, only while the request goes to the origin (scheme,
	// host, port) of Request.URL. A redirect to another origin is followed
	// without them. Values never appear in errors. The response is
	// returned as received: an endpoint that echoes a credential echoes it
	// into the Response, so mask it (internal/redact) before showing it.
	Secrets http.Header
	// MaxRedirects is how many redirects are followed (0 means
	// DefaultMaxRedirects); one more is ErrTooManyRedirects. Negative
	// means none: a 3xx response is returned as the result.
	MaxRedirects int
	// MaxResponseBytes bounds Response.Body in bytes (after content
	// decoding); 0 means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Timeout bounds the whole call, body included; 0 means
	// DefaultTimeout. A deadline of ctx applies as well.
	Timeout time.Duration
	// RootCAs verifies server certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// MinTLSVersion is the lowest TLS version accepted; 0 means TLS 1.3.
	// Set tls.VersionTLS12 for servers that do not offer 1.3 yet.
	MinTLSVersion uint16
	// UserAgent is sent unless Request.Header has one; empty means
	// DefaultUserAgent.
	UserAgent string
}

// Response is the final response, after redirects.
type Response struct {
	Status    int         // e.g. 200
	Proto     string      // e.g. "HTTP/1.1", "HTTP/2.0"
	Header    http.Header // response headers
	Body      []byte      // at most MaxResponseBytes bytes
	Truncated bool        // the body had more bytes than MaxResponseBytes
	// URL is the URL of the final request (after redirects).
	URL string
	// RemoteAddr is the address the final response came from.
	RemoteAddr netip.AddrPort
	// Redirects is the number of redirects followed.
	Redirects int
	Timing    Timing
}

// Timing says where the time went. Resolve, Connect and TLSHandshake are
// summed over every connection the call made; FirstByte is measured from
// sending the final request to its first response byte; Total covers the
// whole call.
type Timing struct {
	Resolve, Connect, TLSHandshake, FirstByte, Total time.Duration
}

func (o Options) withDefaults() Options {
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.MaxRedirects == 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MinTLSVersion == 0 {
		o.MinTLSVersion = tls.VersionTLS13
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	return o
}

// Fetch sends req under opts and returns the final response. Errors:
// netguard.ErrURL (a URL or redirect URL refused), netguard.ErrBlocked (an
// address refused; errors.As gives the *netguard.BlockedError), ErrHeader,
// ErrRequest, ErrTooManyRedirects, ErrTimeout, or ErrTransport wrapping
// the network or TLS error (a *net.OpError for a refused connection). Error
// text names hosts and addresses, never paths, queries or header values.
func Fetch(ctx context.Context, req Request, opts Options) (*Response, error) {
	start := time.Now()
	opts = opts.withDefaults()
	if err := checkHeaders(req.Header, opts.Secrets); err != nil {
		return nil, err
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if method == http.MethodConnect {
		// CONNECT asks for a tunnel to req.Host, not for the URL.
		return nil, fmt.Errorf("http.fetch: %w: method CONNECT", ErrRequest)
	}
	target, err := netguard.CheckURL(req.URL)
	if err != nil {
		return nil, fmt.Errorf("http.fetch: %w", err)
	}
	if err := checkHost(target, opts.Hosts); err != nil {
		return nil, fmt.Errorf("http.fetch: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	f := newFetcher(opts)
	defer f.transport.CloseIdleConnections()
	origin := originOf(target)
	body := req.Body
	for hop := 0; ; hop++ {
		resp, err := f.roundTrip(ctx, method, target, body, buildHeader(req.Header, opts, origin, target))
		if err != nil {
			return nil, f.fail(ctx, hop, target, err)
		}
		if isRedirect(resp.StatusCode) && opts.MaxRedirects >= 0 && resp.Header.Get("Location") != "" {
			next, err := f.redirect(resp, target, hop)
			if err != nil {
				return nil, err
			}
			method, body = redirectMethod(resp.StatusCode, method, body)
			target = next
			continue
		}
		out, err := f.read(ctx, resp, target, opts.MaxResponseBytes)
		if err != nil {
			return nil, err
		}
		out.Redirects = hop
		out.Timing.Total = time.Since(start)
		return out, nil
	}
}

func (f *fetcher) redirect(resp *http.Response, from netguard.Target, hop int) (netguard.Target, error) {
	loc := resp.Header.Get("Location")
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrainBytes)
	resp.Body.Close()
	if hop >= f.opts.MaxRedirects {
		return netguard.Target{}, fmt.Errorf("http.fetch: %w: more than %d", ErrTooManyRedirects, f.opts.MaxRedirects)
	}
	u, err := from.URL.Parse(loc)
	if err != nil {
		return netguard.Target{}, fmt.Errorf("http.fetch: redirect %d from %s: %w: Location is not a URL", hop+1, from.Host, netguard.ErrURL)
	}
	next, err := netguard.CheckURL(u.String())
	if err != nil {
		return netguard.Target{}, fmt.Errorf("http.fetch: redirect %d from %s: %w", hop+1, from.Host, err)
	}
	if err := checkHost(next, f.opts.Hosts); err != nil {
		return netguard.Target{}, fmt.Errorf("http.fetch: redirect %d from %s: %w", hop+1, from.Host, err)
	}
	if next.Addr.IsValid() {
		// Refuse a literal before any connection attempt, with its class.
		if err := netguard.CheckIP(next.Addr, f.opts.Allow); err != nil {
			return netguard.Target{}, fmt.Errorf("http.fetch: redirect %d to %s: %w", hop+1, next.Host, err)
		}
	}
	return next, nil
}

// redirectMethod follows RFC 9110 section 15.4 as browsers and net/http do:
// 301 and 302 turn POST into GET, 303 turns everything but HEAD into GET
// (both without a body), 307 and 308 keep method and body.
func redirectMethod(status int, method string, body []byte) (string, []byte) {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound:
		if method == http.MethodPost {
			return http.MethodGet, nil
		}
	case http.StatusSeeOther:
		if method != http.MethodHead {
			return http.MethodGet, nil
		}
	}
	return method, body
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// fail turns a transport error into the error Fetch returns: address
// refusals keep their type, an expired deadline becomes ErrTimeout.
func (f *fetcher) fail(ctx context.Context, hop int, target netguard.Target, err error) error {
	where := target.Host
	if hop > 0 {
		where = fmt.Sprintf("redirect %d to %s", hop, target.Host)
	}
	var be *netguard.BlockedError
	if errors.As(err, &be) {
		return fmt.Errorf("http.fetch: %s: %w", where, be)
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("http.fetch: %s: %w (%s)", where, ErrTimeout, f.opts.Timeout)
	}
	return fmt.Errorf("http.fetch: %s: %w: %w", where, ErrTransport, err)
}
