package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// QUIC creates connection state for every Initial packet that parses, and
// keeps it until the handshake times out, whether or not the packet could be
// decrypted. quicGate bounds that state:
//
//   - at most Limits.QUICRetryHandshakes handshakes are in flight before a
//     client must prove its address with a Retry round trip: an Initial
//     without a valid token then costs one stateless Retry packet and no
//     state;
//   - handshakes from validated addresses are capped per source and in
//     total (Limits.MaxHandshakes*), past which the attempt is refused;
//   - the handshake idle timeout is short (Limits.HandshakeTimeout);
//   - once established, a connection without a client certificate counts
//     against the anonymous caps, lives at most AnonConnLifetime, may
//     start at most AnonRequestsPerSecond requests a second, and its
//     connection receive window does not grow past the initial 128 KiB.
type quicGate struct {
	tr         *quic.Transport
	ln         *quic.Listener
	lim        Limits
	inFlight   atomic.Int64 // handshakes not yet accepted nor failed
	handshakes *sourceCounter
	anonConns  *sourceCounter
	stats      *Stats
}

// quicConnKey carries a *quicConnState in a QUIC connection's context.
type quicConnKey struct{}

type quicConnState struct {
	ip      netip.Addr
	done    atomic.Bool // handshake over (accepted, failed or closed)
	release func()
	anon    atomic.Bool // established without a client certificate
	rate    rateWindow
}

// handshakeOver drops the connection from the in-flight count, once.
func (st *quicConnState) handshakeOver() {
	if st.done.CompareAndSwap(false, true) {
		st.release()
	}
}

func quicConfig(lim Limits) *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:           lim.HandshakeTimeout,
		MaxIdleTimeout:                 lim.IdleTimeout,
		Allow0RTT:                      false, // 0-RTT data is replayable
		MaxIncomingStreams:             int64(lim.MaxStreams),
		MaxIncomingUniStreams:          8, // HTTP/3 needs 3 (control, QPACK encoder and decoder)
		InitialStreamReceiveWindow:     64 << 10,
		MaxStreamReceiveWindow:         1 << 20,
		InitialConnectionReceiveWindow: 128 << 10,
		MaxConnectionReceiveWindow:     4 << 20,
		// An anonymous connection's window stays at its initial size.
		AllowConnectionWindowIncrease: func(c *quic.Conn, _ uint64) bool {
			st, _ := c.Context().Value(quicConnKey{}).(*quicConnState)
			return st == nil || !st.anon.Load()
		},
	}
}

func listenQUIC(udp net.PacketConn, tlsConf *tls.Config, lim Limits, stats *Stats) (*quicGate, error) {
	g := &quicGate{
		lim:        lim,
		handshakes: newSourceCounter(lim.MaxHandshakes, lim.MaxHandshakesPerSource, lim.ReservedHandshakesPerSource),
		anonConns:  newSourceCounter(lim.MaxAnonConns, lim.MaxAnonConnsPerSource, 0),
		stats:      stats,
	}
	g.tr = &quic.Transport{
		Conn:                udp,
		VerifySourceAddress: g.verifySourceAddress,
		ConnContext:         g.connContext,
	}
	// The listener accepts a connection only once its handshake, client
	// certificate check included, has completed (no 0.5-RTT data).
	ln, err := g.tr.Listen(http3.ConfigureTLSConfig(tlsConf), quicConfig(lim))
	if err != nil {
		return nil, err
	}
	g.ln = ln
	return g, nil
}

// verifySourceAddress runs for an Initial without a valid token; true
// answers it with a Retry.
func (g *quicGate) verifySourceAddress(net.Addr) bool {
	if g.lim.QUICRetryHandshakes < 0 || g.inFlight.Load() >= int64(g.lim.QUICRetryHandshakes) {
		g.stats.QUICRetries.Add(1)
		return true
	}
	return false
}

var errQUICRefused = errors.New("transport: too many QUIC handshakes")

// connContext runs before any state is created for a connection attempt.
// Both callbacks run on quic-go's one packet-handling goroutine.
func (g *quicGate) connContext(ctx context.Context, ci *quic.ClientInfo) (context.Context, error) {
	st := &quicConnState{ip: sourceIP(ci.RemoteAddr)}
	if ci.AddrVerified {
		// A validated address is not spoofed: count it per source.
		if !g.handshakes.acquire(st.ip) {
			g.stats.QUICRefused.Add(1)
			return nil, errQUICRefused
		}
		st.release = func() { g.handshakes.release(st.ip); g.inFlight.Add(-1) }
	} else {
		if g.inFlight.Load() >= int64(g.lim.MaxHandshakes) {
			g.stats.QUICRefused.Add(1)
			return nil, errQUICRefused
		}
		st.release = func() { g.inFlight.Add(-1) }
	}
	g.inFlight.Add(1)
	ctx = context.WithValue(ctx, quicConnKey{}, st)
	// The context ends when the connection closes or its handshake fails.
	context.AfterFunc(ctx, st.handshakeOver)
	return ctx, nil
}

// Accept returns the next established connection that the anonymous caps
// admit.
func (g *quicGate) Accept(ctx context.Context) (*quic.Conn, error) {
	for {
		c, err := g.ln.Accept(ctx)
		if err != nil {
			return nil, err
		}
		st, _ := c.Context().Value(quicConnKey{}).(*quicConnState)
		if st == nil { // not ours; cannot happen
			return c, nil
		}
		st.handshakeOver()
		if len(c.ConnectionState().TLS.PeerCertificates) > 0 {
			return c, nil
		}
		if !g.anonConns.acquire(st.ip) {
			g.stats.AnonRefused.Add(1)
			c.CloseWithError(quicErrBusy, "too many anonymous connections")
			continue
		}
		st.anon.Store(true)
		t := time.AfterFunc(g.lim.AnonConnLifetime, func() {
			g.stats.LifetimeClosed.Add(1)
			c.CloseWithError(quicErrLifetime, "anonymous connection lifetime over")
		})
		context.AfterFunc(c.Context(), func() { t.Stop(); g.anonConns.release(st.ip) })
		return c, nil
	}
}

func (g *quicGate) Addr() net.Addr { return g.ln.Addr() }
func (g *quicGate) Close() error   { return g.ln.Close() }

// allowRequest counts one request on an HTTP/3 connection; it closes an
// anonymous connection past AnonRequestsPerSecond and reports false.
func (g *quicGate) allowRequest(c *quic.Conn) bool {
	st, _ := c.Context().Value(quicConnKey{}).(*quicConnState)
	if st == nil || !st.anon.Load() {
		return true
	}
	if st.rate.add(time.Now(), 1) <= g.lim.AnonRequestsPerSecond {
		return true
	}
	g.stats.AbusiveClosed.Add(1)
	c.CloseWithError(quicErrBusy, "too many requests")
	return false
}

// Application error codes sent when closing a QUIC connection.
const (
	quicErrRevoked  = 0x1001 // the device was revoked
	quicErrBusy     = 0x1002 // an anonymous limit was reached
	quicErrLifetime = 0x1003 // an anonymous connection's lifetime is over
)

// close shuts the QUIC transport (and every connection on it) down.
func (g *quicGate) close() {
	g.ln.Close()
	g.tr.Close()
}

var _ http3.QUICListener = (*quicGate)(nil)

// quicConnOfKey carries the *quic.Conn of an HTTP/3 request (set by the
// http3.Server's ConnContext).
type quicConnOfKey struct{}
