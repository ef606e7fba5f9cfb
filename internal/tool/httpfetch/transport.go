package httpfetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/palyra/palyra/internal/tool/netguard"
)

// fetcher holds the per-call transport and timing of one Fetch.
type fetcher struct {
	opts      Options
	transport *http.Transport

	mu         sync.Mutex
	timing     Timing
	lastRemote netip.AddrPort // peer of the connection of the latest hop
}

func newFetcher(opts Options) *fetcher {
	f := &fetcher{opts: opts}
	f.transport = &http.Transport{
		Proxy:       nil, // never HTTP_PROXY from the environment
		DialContext: f.dial,
		TLSClientConfig: &tls.Config{
			RootCAs:    opts.RootCAs,
			MinVersion: opts.MinTLSVersion,
		},
		ForceAttemptHTTP2:      true,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		MaxIdleConnsPerHost:    1,
	}
	return f
}

// dial resolves the host of addr, checks every address, and connects to a
// checked address: the connection is pinned to what was checked. A name
// with any refused address is refused as a whole (a mixed answer is what a
// rebinding attack looks like).
func (f *fetcher) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", portText, ErrRequest)
	}
	t0 := time.Now()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = f.opts.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("resolve %s: no addresses", host)
		}
	}
	f.add(&f.timing.Resolve, time.Since(t0))
	for _, a := range addrs {
		if err := netguard.CheckIP(a, f.opts.Allow); err != nil {
			return nil, err
		}
	}
	d := net.Dialer{Control: f.control}
	t0 = time.Now()
	defer func() { f.add(&f.timing.Connect, time.Since(t0)) }()
	var errs []error
	for i, a := range addrs {
		ap := netip.AddrPortFrom(a.Unmap(), uint16(port))
		actx, cancel := attemptContext(ctx, len(addrs)-i)
		c, err := d.DialContext(actx, "tcp", ap.String())
		cancel() // an established connection outlives its dial context
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// attemptContext gives one of the remaining addresses its share of the
// time left (at least 2 s, as net.Dialer splits it), so an unreachable first
// address does not use up the whole time limit.
func attemptContext(ctx context.Context, remaining int) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok || remaining <= 1 {
		return context.WithCancel(ctx)
	}
	share := time.Until(deadline) / time.Duration(remaining)
	return context.WithTimeout(ctx, max(share, 2*time.Second))
}

// control runs just before connect(2) and checks the socket address once
// more, so nothing but a checked address is ever connected to.
func (f *fetcher) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("connect to %q: %w", address, ErrRequest)
	}
	return netguard.CheckIP(ap.Addr(), f.opts.Allow)
}

func (f *fetcher) add(d *time.Duration, v time.Duration) {
	f.mu.Lock()
	*d += v
	f.mu.Unlock()
}

// roundTrip sends one request (one hop) and returns its response with the
// body unread.
func (f *fetcher) roundTrip(ctx context.Context, method string, target netguard.Target, body []byte, h http.Header) (*http.Response, error) {
	// The callbacks run on the transport's goroutines (HTTP/2 writes and
	// reads on two), so everything they touch is under f.mu.
	var sent, tlsStart time.Time
	locked := func(fn func()) { f.mu.Lock(); fn(); f.mu.Unlock() }
	trace := &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			ap, _ := netip.ParseAddrPort(i.Conn.RemoteAddr().String())
			locked(func() { f.lastRemote = ap })
		},
		TLSHandshakeStart: func() { locked(func() { tlsStart = time.Now() }) },
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			locked(func() { f.timing.TLSHandshake += time.Since(tlsStart) })
		},
		WroteRequest:         func(httptrace.WroteRequestInfo) { locked(func() { sent = time.Now() }) },
		GotFirstResponseByte: func() { locked(func() { f.timing.FirstByte = time.Since(sent) }) },
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, target.URL.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%w: method or URL", ErrRequest)
	}
	req.Header = h
	return f.transport.RoundTrip(req)
}
