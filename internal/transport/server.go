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
}

// Addrs are the addresses a Server actually listens on.
type Addrs struct {
	TCP    string `json:"tcp"`
	QUIC   string `json:"quic"`
	Socket string `json:"socket,omitempty"`
}

// Server is the set of bound listeners. Create with Listen, run with Serve.
type Server struct {
	cfg   Config
	tcp   net.Listener
	udp   net.PacketConn
	ql    *quic.Listener
	unix  net.Listener
	h2    *http.Server
	h3    *http3.Server
	local *http.Server
	conns conns
	log   *slog.Logger
}

// Listen binds the TCP, UDP (QUIC) and Unix listeners without serving yet.
// When ListenAddr has port 0, TCP picks a free port and QUIC binds the same
// port number on UDP (retrying with a new port if that UDP port is taken).
func Listen(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
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
	// The QUIC listener accepts a connection only once its handshake,
	// client certificate check included, has completed (no 0.5-RTT data).
	if s.ql, err = quic.Listen(s.udp, http3.ConfigureTLSConfig(cfg.TLS), quicConfig()); err != nil {
		s.tcp.Close()
		s.udp.Close()
		return nil, fmt.Errorf("transport: quic listen: %w", err)
	}
	if cfg.SocketPath != "" {
		if err := s.listenUnix(); err != nil {
			s.ql.Close()
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
	s.h2 = &http.Server{
		Handler:           trackTLS(withPeer(peer.TCP, s.cfg.Handler)),
		TLSConfig:         s.cfg.TLS,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
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
	}
	s.h3 = &http3.Server{
		Handler:   withPeer(peer.QUIC, s.cfg.Handler),
		TLSConfig: s.cfg.TLS,
		Logger:    s.log,
		ConnContext: func(ctx context.Context, c *quic.Conn) context.Context {
			if pc := c.ConnectionState().TLS.PeerCertificates; len(pc) > 0 {
				remove := s.conns.add(pc[0], quicCloser{c})
				go func() { <-c.Context().Done(); remove() }()
			}
			return ctx
		},
	}
	errc := make(chan error, 3)
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
	serve("tcp", func() error { return s.h2.ServeTLS(s.tcp, "", "") })
	serve("quic", func() error { return s.h3.ServeListener(s.ql) })
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
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if s.h2.Shutdown(sctx) != nil {
		s.h2.Close()
	}
	if s.h3.Shutdown(sctx) != nil {
		s.h3.Close()
	}
	s.ql.Close()
	s.udp.Close()
	if s.local != nil {
		if s.local.Shutdown(sctx) != nil {
			s.local.Close()
		}
		os.Remove(s.cfg.SocketPath)
	}
	wg.Wait()
	return runErr
}

// CloseDevice closes every live TCP and QUIC connection authenticated with
// a certificate for deviceID, returning how many it closed. Revocation calls
// it after the registry refuses the device, so a reconnect fails too.
func (s *Server) CloseDevice(deviceID identity.DeviceID) int { return s.conns.closeDevice(deviceID) }

func quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout: 10 * time.Second,
		MaxIdleTimeout:       5 * time.Minute,
		Allow0RTT:            false, // 0-RTT data is replayable
	}
}

type quicCloser struct{ c *quic.Conn }

// quicErrRevoked is the application error code sent when closing a
// connection because its device was revoked.
const quicErrRevoked = 0x1001

func (q quicCloser) Close() error { return q.c.CloseWithError(quicErrRevoked, "device revoked") }
