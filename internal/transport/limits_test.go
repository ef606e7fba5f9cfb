package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/net/http2"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/palyra/palyra/internal/transport/flood"
)

// TestTCPServesHTTP2Only: gRPC over h2 works for a device and Health for
// anyone; HTTP/1.1 over TLS is refused, both when the client offers only
// http/1.1 by ALPN (the handshake fails) and when it offers no ALPN (the
// connection is closed before a request is read).
func TestTCPServesHTTP2Only(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, Limits{})
	base := "https://" + s.Addrs().TCP
	ctx := context.Background()

	dev := h2Client(p, &p.device)
	defer closeClient(dev)
	got, err := echo(ctx, dev, base, true)
	if err != nil || got != "tcp "+p.id.String()+" hi" {
		t.Fatalf("device gRPC over h2: %q %v", got, err)
	}
	anon := h2Client(p, nil)
	defer closeClient(anon)
	if got, err := health(ctx, anon, base, true); err != nil || got != "SERVING" {
		t.Fatalf("anonymous Health: %q %v", got, err)
	}
	if _, err := echo(ctx, anon, base, true); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("anonymous Echo: %v, want unauthenticated", err)
	}

	// ALPN http/1.1 only (crypto/tls completes such a handshake with no
	// protocol, as a fallback for h2 servers) and no ALPN at all: the
	// connection is closed after the handshake without an answer.
	for _, protos := range [][]string{{"http/1.1"}, nil} {
		tc := ClientTLSConfig(&p.device, p.ca.Pool())
		tc.NextProtos = protos
		c, err := tls.Dial("tcp", s.Addrs().TCP, tc)
		if err != nil {
			t.Logf("ALPN %q: handshake failed: %v", protos, err)
			continue
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET "+healthProc+" HTTP/1.1\r\nHost: x\r\n\r\n")
		b, rerr := io.ReadAll(c)
		c.Close()
		if len(b) > 0 || isTimeout(rerr) {
			t.Fatalf("ALPN %q: HTTP/1.1 request answered: %q %v", protos, b, rerr)
		}
		t.Logf("ALPN %q: closed after the handshake (%v)", protos, rerr)
	}

	// The standard client speaking HTTP/1.1 over TLS gets nothing either.
	var h1 http.Protocols
	h1.SetHTTP1(true)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: ClientTLSConfig(&p.device, p.ca.Pool()), Protocols: &h1}}
	if resp, err := hc.Get(base + healthProc); err == nil {
		resp.Body.Close()
		t.Fatalf("HTTP/1.1 client got %s", resp.Status)
	} else {
		t.Logf("HTTP/1.1 client: %v", err)
	}
	if s.Stats().HandshakesFailed.Load() == 0 {
		t.Error("no refused handshake counted")
	}
}

// TestQUICServes: a device and an anonymous Health over HTTP/3, with Retry
// demanded for every connection (QUICRetryHandshakes < 0).
func TestQUICServes(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, Limits{QUICRetryHandshakes: -1})
	base := "https://" + s.Addrs().QUIC
	ctx := context.Background()
	dev := h3Client(p, &p.device)
	defer closeClient(dev)
	if got, err := echo(ctx, dev, base, false); err != nil || got != "quic "+p.id.String()+" hi" {
		t.Fatalf("device over h3: %q %v", got, err)
	}
	anon := h3Client(p, nil)
	defer closeClient(anon)
	if got, err := health(ctx, anon, base, false); err != nil || got != "SERVING" {
		t.Fatalf("anonymous Health over h3: %q %v", got, err)
	}
	if _, err := echo(ctx, anon, base, false); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("anonymous Echo over h3: %v", err)
	}
	if n := s.Stats().QUICRetries.Load(); n < 2 {
		t.Errorf("%d Retries, want one per connection", n)
	}
}

// TestAnonymousConnectionCaps: past MaxAnonConnsPerSource, an anonymous
// TLS connection is closed right after its handshake; a device from the
// same source is still served.
func TestAnonymousConnectionCaps(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, Limits{MaxAnonConnsPerSource: 2, AnonConnLifetime: time.Minute})
	addr := s.Addrs().TCP
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	tc := ClientTLSConfig(nil, p.ca.Pool())
	tc.NextProtos = []string{"h2"}
	for range 2 {
		c, err := tls.Dial("tcp", addr, tc)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	// Give the gate time to count both.
	waitFor(t, func() bool { return s.gateAnonCount() == 2 })
	c, err := tls.Dial("tcp", addr, tc)
	if err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil || isTimeout(err) {
		t.Fatalf("third anonymous connection not closed: %v", err)
	}
	if s.Stats().AnonRefused.Load() != 1 {
		t.Errorf("AnonRefused = %d", s.Stats().AnonRefused.Load())
	}
	dev := h2Client(p, &p.device)
	defer closeClient(dev)
	if _, err := echo(context.Background(), dev, "https://"+addr, true); err != nil {
		t.Fatalf("device while anonymous cap reached: %v", err)
	}
}

// TestAnonymousLifetime: an anonymous connection is closed at
// AnonConnLifetime even when it keeps sending.
func TestAnonymousLifetime(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, Limits{AnonConnLifetime: 300 * time.Millisecond})
	tc := ClientTLSConfig(nil, p.ca.Pool())
	tc.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", s.Addrs().TCP, tc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	start := time.Now()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := fr.ReadFrame(); err != nil {
			if isTimeout(err) {
				t.Fatal("anonymous connection outlived its lifetime")
			}
			break
		}
		fr.WritePing(false, [8]byte{})
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("closed after %s, before its lifetime", d)
	}
}

// TestRapidResetClosesAnonymousConnection: HEADERS+RST_STREAM in a loop on
// an anonymous connection gets it closed after AnonRequestsPerSecond
// streams, and a device keeps being served meanwhile.
func TestRapidResetClosesAnonymousConnection(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, Limits{})
	st, err := flood.H2RapidReset{
		Target: s.Addrs().TCP, TLS: ClientTLSConfig(nil, p.ca.Pool()),
		Conns: 4, Duration: 500 * time.Millisecond, Path: echoProc,
	}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("flood: %s; server: abusive closed %d, anonymous refused %d", st, s.Stats().AbusiveClosed.Load(), s.Stats().AnonRefused.Load())
	if st.Closed == 0 || s.Stats().AbusiveClosed.Load() == 0 {
		t.Fatal("no rapid-reset connection was closed by the server")
	}
	dev := h2Client(p, &p.device)
	defer closeClient(dev)
	if _, err := echo(context.Background(), dev, "https://"+s.Addrs().TCP, true); err != nil {
		t.Fatalf("device after flood: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *Server) gateAnonCount() int { return s.gate.anonConns.count() }

func TestSourceCounterReservesForQuietSources(t *testing.T) {
	a, b, q := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	c := newSourceCounter(4, 3, 1)
	for range 3 {
		if !c.acquire(a) {
			t.Fatal("a refused under its per-source cap")
		}
	}
	if c.acquire(a) {
		t.Fatal("a admitted past its per-source cap")
	}
	if !c.acquire(b) || c.acquire(b) {
		t.Fatal("b: want one admitted (total cap reached), then refused")
	}
	if !c.acquire(q) {
		t.Fatal("a quiet source was locked out by the total cap")
	}
	c.release(a)
	c.release(q)
	if c.count() != 3 {
		t.Fatalf("count %d", c.count())
	}
	// IPv6 sources count per /64.
	x := sourceIP(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1")})
	y := sourceIP(&net.UDPAddr{IP: net.ParseIP("2001:db8:1:2:bbbb::2")})
	if x != y || x.String() != "2001:db8:1:2::" {
		t.Fatalf("IPv6 sources %v %v", x, y)
	}
	if v4 := sourceIP(&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.9")}); v4.String() != "192.0.2.9" {
		t.Fatalf("mapped IPv4 source %v", v4)
	}
}

// TestDeviceBodyReadDeadline: a device request whose body stalls is cut at
// BodyReadTimeout, on TCP and on QUIC.
func TestDeviceBodyReadDeadline(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, Limits{BodyReadTimeout: 300 * time.Millisecond})
	for _, tr := range []struct {
		name string
		hc   *http.Client
		addr string
	}{
		{"tcp", h2Client(p, &p.device), s.Addrs().TCP},
		{"quic", h3Client(p, &p.device), s.Addrs().QUIC},
	} {
		t.Run(tr.name, func(t *testing.T) {
			defer closeClient(tr.hc)
			pr, pw := io.Pipe()
			defer pw.Close()
			go pw.Write([]byte{0, 0, 0, 0, 10}) // a gRPC-ish prefix, then nothing
			req, _ := http.NewRequest("POST", "https://"+tr.addr+echoProc, pr)
			req.Header.Set("Content-Type", "application/proto")
			start := time.Now()
			resp, err := tr.hc.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			d := time.Since(start)
			if d > 5*time.Second || d < 250*time.Millisecond {
				t.Fatalf("stalled body answered after %s (%v)", d, err)
			}
			if err == nil && resp.StatusCode == http.StatusOK {
				t.Fatalf("stalled body got 200")
			}
			t.Logf("stalled body ended after %s: %v %v", d.Round(time.Millisecond), err, func() any {
				if resp != nil {
					return resp.Status
				}
				return nil
			}())
		})
	}
}

// TestQUICJunkInitialsBounded: junk Initials hold connection state only up
// to QUICRetryHandshakes; the rest get a Retry; the state is gone after the
// handshake timeout.
func TestQUICJunkInitialsBounded(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, Limits{QUICRetryHandshakes: 10, HandshakeTimeout: 300 * time.Millisecond})
	var peak int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
			peak = max(peak, s.quic.inFlight.Load())
		}
	}()
	st, err := flood.QUICInitials{Target: s.Addrs().QUIC, Rate: 1000, Duration: 500 * time.Millisecond}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if peak > 11 {
		t.Errorf("%d handshakes in flight, want at most 10 (+1 being created)", peak)
	}
	// How many Initials arrive while the cap is reached depends on how
	// fast this machine handshakes; that Retries were demanded does not.
	if r := s.Stats().QUICRetries.Load(); r == 0 {
		t.Errorf("no Retry demanded for %d junk Initials", st.Datagrams)
	}
	waitFor(t, func() bool { return s.quic.inFlight.Load() == 0 })
	dev := h3Client(p, &p.device)
	defer closeClient(dev)
	waitFor(t, func() bool {
		_, err := echo(context.Background(), dev, "https://"+s.Addrs().QUIC, false)
		return err == nil
	})
}

// TestQUICAnonymousLimits: the per-source anonymous cap and the anonymous
// request rate close QUIC connections; a device is unaffected.
func TestQUICAnonymousLimits(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, Limits{MaxAnonConnsPerSource: 1, AnonRequestsPerSecond: 3})
	base := "https://" + s.Addrs().QUIC
	ctx := context.Background()
	// The fourth request within one second closes the connection. On a
	// starved machine four requests may take longer than a second; then
	// the window has moved on and the sequence is tried again.
	var a1 *http.Client
	for attempt := 0; ; attempt++ {
		a1 = h3Client(p, nil)
		start := time.Now()
		for i := range 3 {
			if _, err := health(ctx, a1, base, false); err != nil {
				t.Fatalf("anonymous Health %d: %v", i, err)
			}
		}
		_, err := health(ctx, a1, base, false)
		if err != nil {
			break
		}
		closeClient(a1)
		if time.Since(start) < 900*time.Millisecond || attempt == 4 {
			t.Fatal("fourth anonymous request in a second served")
		}
	}
	defer closeClient(a1)
	a2 := h3Client(p, nil)
	defer closeClient(a2)
	// a1 was just closed by the daemon for its request rate; its slot is
	// free once the daemon has seen that, so hold a third connection.
	a3 := h3Client(p, nil)
	defer closeClient(a3)
	waitFor(t, func() bool { _, err := health(ctx, a3, base, false); return err == nil })
	if _, err := health(ctx, a2, base, false); err == nil {
		t.Fatal("second anonymous QUIC connection from the source served")
	}
	if s.Stats().AnonRefused.Load() == 0 || s.Stats().AbusiveClosed.Load() == 0 {
		t.Errorf("stats: anon refused %d, abusive closed %d", s.Stats().AnonRefused.Load(), s.Stats().AbusiveClosed.Load())
	}
	dev := h3Client(p, &p.device)
	defer closeClient(dev)
	for range 10 {
		if _, err := echo(ctx, dev, base, false); err != nil {
			t.Fatalf("device: %v", err)
		}
	}
}

// TestHandshakeCaps: connections that never finish their TLS handshake
// are capped per source, and a quiet source still gets its reserved share
// when the total cap is reached.
func TestHandshakeCaps(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, Limits{MaxHandshakes: 3, MaxHandshakesPerSource: 3, ReservedHandshakesPerSource: 1, HandshakeTimeout: 10 * time.Second})
	addr := s.Addrs().TCP
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	var stalled []net.Conn
	defer func() {
		for _, c := range stalled {
			c.Close()
		}
	}()
	for range 3 {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c) // sends no ClientHello
	}
	waitFor(t, func() bool { return s.gate.handshakes.count() == 3 })
	// The reset can even beat connect(2) back on loopback.
	c, err := d.Dial("tcp", addr)
	if err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil || isTimeout(err) {
		t.Fatalf("fourth stalled handshake from one source not refused: %v", err)
	}
	dev := h2Client(p, &p.device)
	defer closeClient(dev)
	if _, err := echo(context.Background(), dev, "https://"+addr, true); err != nil {
		t.Fatalf("device from another source at the total cap: %v", err)
	}
	if s.Stats().HandshakesRefused.Load() != 1 {
		t.Errorf("HandshakesRefused = %d", s.Stats().HandshakesRefused.Load())
	}
}

// TestCloseDeviceThroughTheGates: revocation still finds and closes the
// device's TCP and QUIC connections.
func TestCloseDeviceThroughTheGates(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, Limits{})
	ctx := context.Background()
	h2, h3 := h2Client(p, &p.device), h3Client(p, &p.device)
	defer closeClient(h2)
	defer closeClient(h3)
	if _, err := echo(ctx, h2, "https://"+s.Addrs().TCP, true); err != nil {
		t.Fatal(err)
	}
	if _, err := echo(ctx, h3, "https://"+s.Addrs().QUIC, false); err != nil {
		t.Fatal(err)
	}
	if n := s.CloseDevice(p.id); n != 2 {
		t.Fatalf("CloseDevice closed %d connections, want 2", n)
	}
	waitFor(t, func() bool {
		s.conns.mu.Lock()
		defer s.conns.mu.Unlock()
		return len(s.conns.m) == 0
	})
}

// TestDeviceLargeBody: a device's 3 MiB request goes through on both
// transports (its windows grow; only anonymous ones are held).
func TestDeviceLargeBody(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, Limits{})
	big := strings.Repeat("x", 3<<20)
	for _, tr := range []struct {
		hc   *http.Client
		base string
		grpc bool
	}{
		{h2Client(p, &p.device), "https://" + s.Addrs().TCP, true},
		{h3Client(p, &p.device), "https://" + s.Addrs().QUIC, false},
	} {
		c := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](tr.hc, tr.base+echoProc, func() []connect.ClientOption {
			if tr.grpc {
				return []connect.ClientOption{connect.WithGRPC()}
			}
			return nil
		}()...)
		resp, err := c.CallUnary(context.Background(), connect.NewRequest(wrapperspb.String(big)))
		closeClient(tr.hc)
		if err != nil || len(resp.Msg.GetValue()) < len(big) {
			t.Fatalf("%s: %v", tr.base, err)
		}
	}
}
