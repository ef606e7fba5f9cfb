package transport

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound what connections can hold before and after the TLS
// handshake. A zero field takes the default shown in DefaultLimits; the
// zero Limits is therefore the defaults.
//
// "Anonymous" means a TLS connection whose handshake presented no client
// certificate: it can only reach Health, so it gets tight limits. Device
// connections (a verified client certificate) get the generous ones.
type Limits struct {
	// MaxHandshakes caps TLS handshakes in progress, per transport (TCP
	// and QUIC each). Beyond it a new TCP connection is closed at once and
	// a new QUIC connection attempt is refused.
	MaxHandshakes int
	// MaxHandshakesPerSource caps handshakes in progress from one source
	// (an IPv4 address or an IPv6 /64; on QUIC, only counted once the
	// address is validated). A source with fewer than
	// ReservedHandshakesPerSource in progress is admitted even when
	// MaxHandshakes is reached, so that a flood from other sources does not
	// lock a device out.
	MaxHandshakesPerSource int
	// ReservedHandshakesPerSource: see MaxHandshakesPerSource.
	ReservedHandshakesPerSource int
	// HandshakeTimeout bounds a TCP TLS handshake; on QUIC it is the
	// handshake idle timeout (the handshake itself may take twice that).
	HandshakeTimeout time.Duration
	// QUICRetryHandshakes is the number of QUIC handshakes in flight from
	// which a connection attempt without an address-validation token gets
	// a Retry (RFC 9000 §8.1.2) instead of connection state. Negative:
	// always demand Retry.
	QUICRetryHandshakes int

	// MaxAnonConns caps established anonymous connections, per transport.
	MaxAnonConns int
	// MaxAnonConnsPerSource caps established anonymous connections from
	// one source IP, per transport.
	MaxAnonConnsPerSource int
	// AnonConnLifetime is how long an anonymous connection may stay open
	// at all; it is closed then even if busy.
	AnonConnLifetime time.Duration
	// AnonIdleTimeout closes an anonymous HTTP/2 connection without an
	// open stream, and bounds reading an anonymous request's headers and
	// body.
	AnonIdleTimeout time.Duration
	// AnonRequestsPerSecond is how many requests (HEADERS frames on
	// HTTP/2, requests on HTTP/3) an anonymous connection may start in one
	// second; one more closes the connection.
	AnonRequestsPerSecond int
	// MaxResetsPerSecond is how many RST_STREAM frames a device's HTTP/2
	// connection may send in one second; one more closes the connection.
	// (Anonymous connections are already bounded by AnonRequestsPerSecond.)
	MaxResetsPerSecond int

	// MaxStreams is the concurrent stream limit of a device connection
	// (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS, QUIC bidirectional
	// streams). QUIC announces it before the client certificate is known,
	// so anonymous QUIC connections get it too.
	MaxStreams int
	// BodyReadTimeout bounds reading a device's request body, per request
	// (HTTP/2 and HTTP/3); anonymous requests get AnonIdleTimeout.
	BodyReadTimeout time.Duration
	// IdleTimeout closes a device connection without activity.
	IdleTimeout time.Duration
}

// DefaultLimits are the limits used for zero fields of Config.Limits.
var DefaultLimits = Limits{
	MaxHandshakes:               256,
	MaxHandshakesPerSource:      32,
	ReservedHandshakesPerSource: 2,
	HandshakeTimeout:            5 * time.Second,
	QUICRetryHandshakes:         32,
	MaxAnonConns:                128,
	MaxAnonConnsPerSource:       8,
	AnonConnLifetime:            10 * time.Second,
	AnonIdleTimeout:             5 * time.Second,
	AnonRequestsPerSecond:       10,
	MaxResetsPerSecond:          100,
	MaxStreams:                  100,
	BodyReadTimeout:             30 * time.Second,
	IdleTimeout:                 5 * time.Minute,
}

// withDefaults returns l with zero fields replaced by DefaultLimits'.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&l.MaxHandshakes, d.MaxHandshakes)
	setInt(&l.MaxHandshakesPerSource, d.MaxHandshakesPerSource)
	setInt(&l.ReservedHandshakesPerSource, d.ReservedHandshakesPerSource)
	setDur(&l.HandshakeTimeout, d.HandshakeTimeout)
	setInt(&l.QUICRetryHandshakes, d.QUICRetryHandshakes)
	setInt(&l.MaxAnonConns, d.MaxAnonConns)
	setInt(&l.MaxAnonConnsPerSource, d.MaxAnonConnsPerSource)
	setDur(&l.AnonConnLifetime, d.AnonConnLifetime)
	setDur(&l.AnonIdleTimeout, d.AnonIdleTimeout)
	setInt(&l.AnonRequestsPerSecond, d.AnonRequestsPerSecond)
	setInt(&l.MaxResetsPerSecond, d.MaxResetsPerSecond)
	setInt(&l.MaxStreams, d.MaxStreams)
	setDur(&l.BodyReadTimeout, d.BodyReadTimeout)
	setDur(&l.IdleTimeout, d.IdleTimeout)
	return l
}

// Stats counts what the limits refused; the numbers only grow.
type Stats struct {
	HandshakesRefused atomic.Int64 // over MaxHandshakes / MaxHandshakesPerSource
	HandshakesFailed  atomic.Int64 // TLS failure, timeout, or not h2
	AnonRefused       atomic.Int64 // over MaxAnonConns / MaxAnonConnsPerSource
	AbusiveClosed     atomic.Int64 // closed for request or reset rate
	LifetimeClosed    atomic.Int64 // anonymous connections closed at AnonConnLifetime
	QUICRetries       atomic.Int64 // connection attempts for which a Retry was demanded
	QUICRefused       atomic.Int64 // QUIC connection attempts refused
}

// sourceCounter counts things (handshakes, connections) in total and per
// source, refusing past either cap. A source with fewer than reserved in
// use is not refused by the total cap, so that a flood from other sources
// cannot lock a quiet source out: the total can then exceed max by at most
// reserved per source.
type sourceCounter struct {
	mu       sync.Mutex
	total    int
	bySource map[netip.Addr]int
	max      int
	perSrc   int
	reserved int
}

func newSourceCounter(max, perSource, reserved int) *sourceCounter {
	return &sourceCounter{max: max, perSrc: perSource, reserved: min(reserved, perSource), bySource: map[netip.Addr]int{}}
}

// acquire counts one for src unless a cap is reached.
func (c *sourceCounter) acquire(src netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.bySource[src]
	if n >= c.perSrc || c.total >= c.max && n >= c.reserved {
		return false
	}
	c.total++
	c.bySource[src] = n + 1
	return true
}

func (c *sourceCounter) release(src netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if n := c.bySource[src] - 1; n > 0 {
		c.bySource[src] = n
	} else {
		delete(c.bySource, src)
	}
}

func (c *sourceCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// sourceIP is the source that per-source limits count for a TCP or UDP
// address: the IPv4 address, or the /64 prefix of an IPv6 one (a host
// usually holds a whole /64). The zero Addr for anything else.
func sourceIP(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip
}

// rateWindow counts events in one-second windows.
type rateWindow struct {
	mu    sync.Mutex
	start time.Time
	n     int
}

// add counts k events now and returns the count in the current window.
func (w *rateWindow) add(now time.Time, k int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Sub(w.start) >= time.Second {
		w.start, w.n = now, 0
	}
	w.n += k
	return w.n
}
