package guard

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/authn"
	"github.com/palyra/palyra/internal/authz"
	"github.com/palyra/palyra/internal/devices"
	"github.com/palyra/palyra/internal/loglimit"
	"github.com/palyra/palyra/internal/peer"
)

// HeaderCheckpoint is the response header that carries the audit journal's
// latest signed checkpoint: the standard base64 encoding of the C2SP signed
// note (docs/audit-format.md). Absent while the journal has no checkpoint.
const HeaderCheckpoint = "Palyra-Audit-Checkpoint"

// HeaderCheckpointKey is the response header that carries the signed-note
// verifier key of the checkpoints ("<origin>+<key hash>+<base64 key>"), so
// a client can pin it on first use and verify every later checkpoint.
const HeaderCheckpointKey = "Palyra-Audit-Key"

// MaxRequestBytes bounds a request message on guarded routes: a vault value
// (64 KiB) plus framing and the largest other field.
const MaxRequestBytes = 128 << 10

// Decider makes authorization decisions: an *authz.Engine, or a holder of
// the active policy set that is read atomically on each call.
type Decider interface {
	Decide(authz.Request) authz.Decision
}

// Config is what a Guard needs. Every field but Log and Now is required.
type Config struct {
	// Authz makes the decisions, one call per decided request.
	Authz Decider
	// Journal records decisions and outcomes.
	Journal *audit.Journal
	// Devices is the registry that authenticates device certificates.
	Devices *devices.Registry
	// CheckpointKey is the signed-note verifier key of the journal's
	// checkpoints, sent with each checkpoint.
	CheckpointKey string
	// OwnerUID is the only uid the Unix socket serves (the daemon's own).
	OwnerUID int
	// MapError turns an error returned by a target or act function into
	// what the caller sees: a *connect.Error whose message names objects,
	// never values. It is the one place where package errors become API
	// codes.
	MapError func(err error, c authn.Caller) *connect.Error
	// Ready, if set, is asked before every authenticated request; while it
	// returns an error (the state directory's files were deleted or
	// replaced under the daemon), requests are refused as Unavailable with
	// that error's message. It must be cheap.
	Ready func() error
	// Now is the clock for certificate validity; nil means time.Now.
	Now func() time.Time
	// Log receives refusals and denials (rate limited) and journal
	// failures; nil discards.
	Log *slog.Logger
}

// Guard is the request path. Create it with New, describe the API with
// routes, and serve Handler.
type Guard struct {
	cfg        Config
	opts       []connect.HandlerOption
	errs       *connect.ErrorWriter
	refusalLog loglimit.Limiter
	denialLog  loglimit.Limiter
	// checkpoint caches the base64 header value of the journal's latest
	// checkpoint, keyed by its record count.
	checkpoint atomic.Pointer[cachedCheckpoint]
}

type cachedCheckpoint struct {
	count int64
	value string
}

// New returns a Guard for cfg.
func New(cfg Config) (*Guard, error) {
	if cfg.Authz == nil || cfg.Journal == nil || cfg.Devices == nil || cfg.MapError == nil {
		return nil, errors.New("guard: Authz, Journal, Devices and MapError are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	g := &Guard{cfg: cfg}
	g.opts = append([]connect.HandlerOption{
		connect.WithReadMaxBytes(MaxRequestBytes),
		connect.WithCompressMinBytes(1024),
	}, codecOptions()...)
	g.errs = connect.NewErrorWriter(g.opts...)
	return g, nil
}

// HandlerOptions are the connect options of every guarded route (strict
// codecs, size bound, compression threshold), for routes built elsewhere.
func (g *Guard) HandlerOptions() []connect.HandlerOption { return g.opts }

// callerKey carries the authenticated Caller from Handler to the route.
type callerKey struct{}

// CallerFrom returns the authenticated caller of a guarded request.
func CallerFrom(ctx context.Context) (authn.Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(authn.Caller)
	return c, ok
}

var (
	errCertificateRequired = errors.New("client certificate required")
	errNoRoute             = errors.New("no such procedure")
	errNoCaller            = errors.New("internal error: request reached a guarded route without authentication")
	errAuditUnavailable    = errors.New("audit journal unavailable; request refused")
	errCompressedAnonymous = errors.New("compressed request bodies are refused without a client certificate")
)

// Handler serves routes: the procedure table. A path no route names is
// answered Unimplemented (404) before its body is read.
func (g *Guard) Handler(routes ...Route) (http.Handler, error) {
	table := make(map[string]Route, len(routes))
	for _, r := range routes {
		if r.Procedure == "" || r.handler == nil {
			return nil, fmt.Errorf("guard: incomplete route %q", r.Procedure)
		}
		if _, dup := table[r.Procedure]; dup {
			return nil, fmt.Errorf("guard: two routes for %s", r.Procedure)
		}
		table[r.Procedure] = r
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, ok := table[r.URL.Path]
		if !ok {
			g.errs.Write(w, r, connect.NewError(connect.CodeUnimplemented, errNoRoute))
			return
		}
		p, _ := peer.FromContext(r.Context())
		anonymous := p.Transport != peer.Unix && p.Cert == nil
		var open http.Handler
		switch {
		case route.access == accessOpen:
			open = route.handler
		case anonymous && route.anon != nil:
			open = route.anon
		}
		if open != nil {
			if compressed(r) {
				g.errs.Write(w, r, connect.NewError(connect.CodeInvalidArgument, errCompressedAnonymous))
				return
			}
			if route.maxBodyBytes > 0 {
				r.Body = http.MaxBytesReader(w, r.Body, route.maxBodyBytes)
			}
			open.ServeHTTP(w, r)
			return
		}
		// Everything else needs a caller, established before the body is
		// read or decompressed.
		if anonymous {
			g.refuse(r, p, errCertificateRequired)
			g.errs.Write(w, r, connect.NewError(connect.CodeUnauthenticated, errCertificateRequired))
			return
		}
		c, err := authn.Authenticate(p, g.cfg.Devices, g.cfg.OwnerUID, g.cfg.Now())
		if err != nil {
			g.refuse(r, p, err)
			g.errs.Write(w, r, connect.NewError(connect.CodeUnauthenticated, err))
			return
		}
		if g.cfg.Ready != nil {
			if err := g.cfg.Ready(); err != nil {
				g.errs.Write(w, r, connect.NewError(connect.CodeUnavailable, err))
				return
			}
		}
		if v := g.checkpointHeader(); v != "" {
			w.Header().Set(HeaderCheckpoint, v)
			w.Header().Set(HeaderCheckpointKey, g.cfg.CheckpointKey)
		}
		route.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	}), nil
}

// compressed reports whether r declares a compressed body in any of the
// protocols' headers.
func compressed(r *http.Request) bool {
	for _, h := range []string{"Content-Encoding", "Grpc-Encoding", "Connect-Content-Encoding"} {
		if v := r.Header.Get(h); v != "" && !strings.EqualFold(v, "identity") {
			return true
		}
	}
	return false
}

// refuse logs an unauthenticated request, rate limited. Refusals are not
// journaled: an anonymous network peer must not be able to make the daemon
// write durable records at will.
func (g *Guard) refuse(r *http.Request, p peer.Peer, err error) {
	if n, ok := g.refusalLog.Allow(g.cfg.Now()); ok {
		g.cfg.Log.Warn("unauthenticated call refused", "procedure", r.URL.Path, "transport", p.Transport, "remote", p.Remote, "reason", err.Error(), "suppressed_before", n)
	}
}

// checkpointHeader returns the header value for the journal's latest
// checkpoint, re-encoding only when a newer one was signed.
func (g *Guard) checkpointHeader() string {
	n := g.cfg.Journal.LatestCount()
	if n == 0 {
		return ""
	}
	if c := g.checkpoint.Load(); c != nil && c.count == n {
		return c.value
	}
	cp, note, ok := g.cfg.Journal.Latest()
	if !ok {
		return ""
	}
	c := &cachedCheckpoint{count: cp.Count, value: base64.StdEncoding.EncodeToString(note)}
	g.checkpoint.Store(c)
	return c.value
}
