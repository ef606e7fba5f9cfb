package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/peer"
)

// ShutdownTimeout bounds how long Serve waits for in-flight requests after
// its context is cancelled.
const ShutdownTimeout = 5 * time.Second

// Config describes what a Server serves and where.
type Config struct {
	Handler    http.Handler // the API, served identically on every transport
	TLS        *tls.Config  // from ServerTLSConfig
	ListenAddr string       // host:port for TCP and (same port, UDP) QUIC; port 0 picks one
	SocketPath string       // Unix socket path; "" for none
	OwnerUID   int          // the only uid the Unix socket accepts
	Logger     *slog.Logger
	// Limits bound handshakes, anonymous connections and abusive
	// connections on TCP and QUIC; zero fields take DefaultLimits.
	Limits Limits
}

// Addrs are the addresses a Server actually listens on.
type Addrs struct {
	TCP    string `json:"tcp"`
	QUIC   string `json:"quic"`
	Socket string `json:"socket,omitempty"`
}

// Server is the set of bound listeners. Create with Listen, run with Serve.
type Server struct {
	cfg    Config
	lim    Limits
	tcp    net.Listener
	gate   *tcpGate
	udp    net.PacketConn
	quic   *quicGate
	unix   net.Listener
	h2     *http.Server // device connections on TCP
	h2anon *http.Server // anonymous connections on TCP
	h3     *http3.Server
	local  *http.Server
	conns  conns
	log    *slog.Logger
	stats  Stats
}

// Listen binds the TCP, UDP (QUIC) and Unix listeners without serving yet.
// When ListenAddr has port 0, TCP picks a free port and QUIC binds the same
// port number on UDP (retrying with a new port if that UDP port is taken).
func Listen(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, lim: cfg.Limits.withDefaults()}
	host, port, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen address %q: %w", cfg.ListenAddr, err)
	}
	for attempt := 0; ; attempt++ {
		tcp, err := net.Listen("tcp", cfg.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
		p := strconv.Itoa(tcp.Addr().(*net.TCPAddr).Port)
		udp, err := net.ListenPacket("udp", net.JoinHostPort(host, p))
		if err == nil {
			s.tcp, s.udp = tcp, udp
			break
		}
		tcp.Close()
		if port != "0" || attempt >= 10 {
			return nil, fmt.Errorf("transport: %w", err)
		}
	}
	s.gate = newTCPGate(s.tcp, cfg.TLS, s.lim, &s.stats)
	if s.quic, err = listenQUIC(s.udp, cfg.TLS, s.lim, &s.stats); err != nil {
		s.tcp.Close()
		s.udp.Close()
		return nil, fmt.Errorf("transport: quic listen: %w", err)
	}
	if cfg.SocketPath != "" {
		if err := s.listenUnix(); err != nil {
			s.quic.close()
			s.tcp.Close()
			s.udp.Close()
			return nil, err
		}
	}
	return s, nil
}

// Addrs returns the bound addresses.
func (s *Server) Addrs() Addrs {
	a := Addrs{TCP: s.tcp.Addr().String(), QUIC: s.udp.LocalAddr().String()}
	if s.unix != nil {
		a.Socket = s.cfg.SocketPath
	}
	return a
}

// connTrackKey carries a per-connection tracker from ConnContext to the
// first request that shows the connection's client certificate.
type connTrackKey struct{}

type connTrack struct {
	once   sync.Once
	closer interface{ Close() error }
	remove func()
}

// Serve serves all listeners until ctx is cancelled, then shuts them down
// gracefully (at most ShutdownTimeout) and returns. It returns early with an
// error if a listener fails.
func (s *Server) Serve(ctx context.Context) error {
	var tracked sync.Map // net.Conn -> *connTrack
	trackTLS := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if t, ok := r.Context().Value(connTrackKey{}).(*connTrack); ok && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
				t.once.Do(func() { t.remove = s.conns.add(r.TLS.PeerCertificates[0], t.closer) })
			}
			h.ServeHTTP(w, r)
		})
	}
	gate := s.gate
	s.h2, s.h2anon = h2Servers(trackTLS(withPeer(peer.TCP, s.cfg.Handler)), gate.tlsConf, s.lim, h2Hooks{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			t := &connTrack{closer: c}
			tracked.Store(c, t)
			return context.WithValue(ctx, connTrackKey{}, t)
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				if t, ok := tracked.LoadAndDelete(c); ok {
					t.(*connTrack).once.Do(func() {})
					if rm := t.(*connTrack).remove; rm != nil {
						rm()
					}
				}
			}
		},
	})
	h3handler := withPeer(peer.QUIC, s.cfg.Handler)
	s.h3 = &http3.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := r.Context().Value(quicConnOfKey{}).(*quic.Conn)
			if c != nil && !s.quic.allowRequest(c) {
				return
			}
			// Request bodies get a read deadline, as on TCP.
			d := s.lim.BodyReadTimeout
			if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
				d = s.lim.AnonIdleTimeout
			}
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
			h3handler.ServeHTTP(w, r)
		}),
		TLSConfig:      s.cfg.TLS,
		Logger:         s.log,
		IdleTimeout:    s.lim.IdleTimeout,
		MaxHeaderBytes: 64 << 10,
		ConnContext: func(ctx context.Context, c *quic.Conn) context.Context {
			if pc := c.ConnectionState().TLS.PeerCertificates; len(pc) > 0 {
				remove := s.conns.add(pc[0], quicCloser{c})
				context.AfterFunc(c.Context(), remove)
			}
			return context.WithValue(ctx, quicConnOfKey{}, c)
		},
	}
	errc := make(chan error, 5)
	var wg sync.WaitGroup
	serve := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) && ctx.Err() == nil {
				errc <- fmt.Errorf("transport: %s: %w", name, err)
			}
		}()
	}
	serve("tcp", gate.run)
	serve("tcp devices", func() error { return s.h2.Serve(gate.dev) })
	serve("tcp anonymous", func() error { return s.h2anon.Serve(gate.anon) })
	serve("quic", func() error { return s.h3.ServeListener(s.quic) })
	if s.unix != nil {
		s.local = &http.Server{
			Handler:           withPeer(peer.Unix, s.cfg.Handler),
			ReadHeaderTimeout: 10 * time.Second,
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				return context.WithValue(ctx, uidKey{}, c.(*peerConn).uid)
			},
		}
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		s.local.Protocols = &p
		serve("unix", func() error { return s.local.Serve(s.unix) })
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	// Graceful first; whatever is still running when the timeout ends is
	// closed, so Serve's return means no connection is left open.
	gate.close()
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	var swg sync.WaitGroup
	for _, hs := range []*http.Server{s.h2, s.h2anon, s.local} {
		if hs == nil {
			continue
		}
		swg.Go(func() {
			if hs.Shutdown(sctx) != nil {
				hs.Close()
			}
		})
	}
	swg.Go(func() {
		if s.h3.Shutdown(sctx) != nil {
			s.h3.Close()
		}
	})
	swg.Wait()
	s.quic.close()
	s.udp.Close()
	if s.local != nil {
		os.Remove(s.cfg.SocketPath)
	}
	wg.Wait()
	return runErr
}

// Stats returns the counters of what the limits refused or closed.
func (s *Server) Stats() *Stats { return &s.stats }

// CloseDevice closes every live TCP and QUIC connection authenticated with
// a certificate for deviceID, returning how many it closed. Revocation calls
// it after the registry refuses the device, so a reconnect fails too.
func (s *Server) CloseDevice(deviceID identity.DeviceID) int { return s.conns.closeDevice(deviceID) }

type quicCloser struct{ c *quic.Conn }

func (q quicCloser) Close() error { return q.c.CloseWithError(quicErrRevoked, "device revoked") }
