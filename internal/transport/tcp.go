package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// The TCP port serves HTTP/2 over TLS 1.3 and nothing else. The gate below
// accepts TCP connections, runs the TLS handshake itself (bounded in number,
// per source and in time), closes anything that did not negotiate "h2" by
// ALPN, and then hands the connection to one of two http.Servers: one with
// the device limits, one with the tight anonymous limits. The decision is
// made after the handshake, when the client certificate (or its absence) is
// known, which is also before the server's HTTP/2 SETTINGS are written.

// tcpGate is the accept loop of the TCP port.
type tcpGate struct {
	ln         net.Listener
	tlsConf    *tls.Config
	lim        Limits
	dev, anon  *chanListener
	handshakes *sourceCounter
	anonConns  *sourceCounter
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	stats      *Stats
}

// h2TLSConfig is the TCP port's TLS configuration: HTTP/2 only.
func h2TLSConfig(base *tls.Config) *tls.Config {
	c := base.Clone()
	c.NextProtos = []string{"h2"}
	return c
}

func newTCPGate(ln net.Listener, tlsConf *tls.Config, lim Limits, stats *Stats) *tcpGate {
	ctx, cancel := context.WithCancel(context.Background())
	return &tcpGate{
		ln:         ln,
		tlsConf:    h2TLSConfig(tlsConf),
		lim:        lim,
		dev:        newChanListener(ln.Addr()),
		anon:       newChanListener(ln.Addr()),
		handshakes: newSourceCounter(lim.MaxHandshakes, lim.MaxHandshakesPerSource, lim.ReservedHandshakesPerSource),
		anonConns:  newSourceCounter(lim.MaxAnonConns, lim.MaxAnonConnsPerSource, 0),
		ctx:        ctx,
		cancel:     cancel,
		stats:      stats,
	}
}

// run accepts until the listener is closed.
func (g *tcpGate) run() error {
	defer g.wg.Wait()
	var delay time.Duration
	for {
		c, err := g.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || g.ctx.Err() != nil {
				return nil
			}
			// Out of file descriptors and the like: back off as net/http does.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		ip := sourceIP(c.RemoteAddr())
		if !g.handshakes.acquire(ip) {
			g.stats.HandshakesRefused.Add(1)
			abort(c)
			continue
		}
		g.wg.Add(1)
		go g.handshake(c, ip)
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// abort closes c with a TCP RST rather than a FIN: nothing is owed to a
// connection refused by a limit, and no TIME_WAIT state is kept for it.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func (g *tcpGate) handshake(c net.Conn, ip netip.Addr) {
	defer g.wg.Done()
	tc := tls.Server(c, g.tlsConf)
	ctx, cancel := context.WithTimeout(g.ctx, g.lim.HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	g.handshakes.release(ip)
	if err != nil {
		g.stats.HandshakesFailed.Add(1)
		abort(c)
		return
	}
	st := tc.ConnectionState()
	if st.NegotiatedProtocol != "h2" {
		// No ALPN at all (a client offering only http/1.1 already failed
		// the handshake with no_application_protocol): HTTP/1.x is not
		// served on this port.
		g.stats.HandshakesFailed.Add(1)
		abort(c)
		return
	}
	hc := &h2Conn{Conn: tc, raw: c, preface: len(http2Preface)}
	target := g.dev
	if len(st.PeerCertificates) == 0 {
		if !g.anonConns.acquire(ip) {
			g.stats.AnonRefused.Add(1)
			abort(c)
			return
		}
		hc.anon = true
		hc.maxHeaders = g.lim.AnonRequestsPerSecond
		hc.maxResets = g.lim.AnonRequestsPerSecond
		hc.onClose = func() { g.anonConns.release(ip) }
		hc.lifetime = time.AfterFunc(g.lim.AnonConnLifetime, func() {
			g.stats.LifetimeClosed.Add(1)
			hc.kill()
		})
		target = g.anon
	} else {
		hc.maxResets = g.lim.MaxResetsPerSecond
	}
	hc.onAbuse = func() { g.stats.AbusiveClosed.Add(1) }
	if !target.deliver(hc) {
		hc.Close()
	}
}

// close stops accepting and aborts handshakes in progress; run returns once
// they are gone.
func (g *tcpGate) close() {
	g.cancel()
	g.ln.Close()
}

const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// errAbusive is what a connection's reader gets once the connection has been
// closed for its request or reset rate.
var errAbusive = errors.New("transport: connection closed: too many requests or stream resets")

// h2Conn is an established TLS connection that negotiated h2. It keeps
// *tls.Conn's methods (net/http recognises TLS by ConnectionState and
// HandshakeContext) and reads the HTTP/2 frame headers the client sends as
// they pass, counting HEADERS and RST_STREAM frames per second. net/http
// offers no per-connection hook for that, and its own early-reset guard
// only closes a connection whose reset streams pile up unstarted.
type h2Conn struct {
	*tls.Conn
	raw  net.Conn
	anon bool

	// Frame scanner state (only touched by the one reading goroutine).
	preface int // preface bytes still to skip
	hdr     [9]byte
	hdrN    int
	skip    int // payload bytes of the current frame still to skip

	maxHeaders int // per second; 0: not counted
	maxResets  int // per second; 0: not counted
	window     time.Time
	headers    int
	resets     int

	lifetime  *time.Timer
	onClose   func()
	onAbuse   func()
	closeOnce sync.Once
}

func (c *h2Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.scan(p[:n]) {
		c.onAbuse()
		c.kill()
		return 0, errAbusive
	}
	return n, err
}

// scan walks the frame headers in b and reports whether a rate was
// exceeded.
func (c *h2Conn) scan(b []byte) bool {
	var headers, resets int
	for len(b) > 0 {
		if c.preface > 0 {
			k := min(c.preface, len(b))
			c.preface -= k
			b = b[k:]
			continue
		}
		if c.skip > 0 {
			k := min(c.skip, len(b))
			c.skip -= k
			b = b[k:]
			continue
		}
		k := copy(c.hdr[c.hdrN:], b)
		c.hdrN += k
		b = b[k:]
		if c.hdrN < len(c.hdr) {
			break
		}
		c.hdrN = 0
		c.skip = int(c.hdr[0])<<16 | int(c.hdr[1])<<8 | int(c.hdr[2])
		switch c.hdr[3] {
		case 0x1: // HEADERS
			headers++
		case 0x3: // RST_STREAM
			resets++
		}
	}
	if headers == 0 && resets == 0 {
		return false
	}
	now := time.Now()
	if now.Sub(c.window) >= time.Second {
		c.window, c.headers, c.resets = now, 0, 0
	}
	c.headers += headers
	c.resets += resets
	return c.maxHeaders > 0 && c.headers > c.maxHeaders || c.maxResets > 0 && c.resets > c.maxResets
}

// kill closes the underlying TCP connection at once (no close_notify, no
// lingering), which makes net/http tear the HTTP/2 connection down.
func (c *h2Conn) kill() {
	abort(c.raw)
	c.release()
}

func (c *h2Conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

func (c *h2Conn) release() {
	c.closeOnce.Do(func() {
		if c.lifetime != nil {
			c.lifetime.Stop()
		}
		if c.onClose != nil {
			c.onClose()
		}
	})
}

// chanListener is a net.Listener fed by the gate.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// h2Hooks are the http.Server fields both TCP servers share.
type h2Hooks struct {
	ErrorLog    *log.Logger
	ConnContext func(context.Context, net.Conn) context.Context
	ConnState   func(net.Conn, http.ConnState)
}

// h2Servers returns the two HTTP/2 servers of the TCP port: devices' and
// anonymous callers'. Both serve HTTP/2 only.
func h2Servers(h http.Handler, tlsConf *tls.Config, lim Limits, base h2Hooks) (dev, anon *http.Server) {
	var p http.Protocols
	p.SetHTTP2(true)

	dev = &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf,
		Protocols:         &p,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       lim.BodyReadTimeout, // HTTP/2: per-stream body deadline
		IdleTimeout:       lim.IdleTimeout,
		ErrorLog:          base.ErrorLog,
		ConnContext:       base.ConnContext,
		ConnState:         base.ConnState,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          lim.MaxStreams,
			MaxReceiveBufferPerConnection: 1 << 20,
			MaxReceiveBufferPerStream:     256 << 10,
		},
	}
	anon = &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf,
		Protocols:         &p,
		ReadHeaderTimeout: lim.AnonIdleTimeout,
		ReadTimeout:       lim.AnonIdleTimeout,
		WriteTimeout:      lim.AnonIdleTimeout,
		IdleTimeout:       lim.AnonIdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          base.ErrorLog,
		ConnContext:       base.ConnContext,
		ConnState:         base.ConnState,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          4,
			MaxDecoderHeaderTableSize:     4096,
			MaxEncoderHeaderTableSize:     4096,
			MaxReadFrameSize:              16 << 10,
			MaxReceiveBufferPerConnection: 64 << 10,
			MaxReceiveBufferPerStream:     16 << 10,
		},
	}
	return dev, anon
}
