package pairing

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"google.golang.org/protobuf/proto"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/paircode"
	"github.com/palyra/palyra/internal/pake"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/pki"
)

// JoinOptions configure Join.
type JoinOptions struct {
	// Invite is a code ("17-482913") or a palyra://pair URI.
	Invite string
	// Server is the daemon's HOST:PORT; it overrides the URI's address and
	// is required with a bare code.
	Server string
	// Transport is peer.TCP (the default) or peer.QUIC.
	Transport peer.Transport
	// OutDir receives the bundle; it must be absent or empty.
	OutDir string
	// Name is the device's proposed name; "" means the host name.
	Name string
	// Timeout bounds the whole pairing, approval wait included; 0 means
	// 10 minutes.
	Timeout time.Duration
	// PollInterval is the wait between polls; 0 means 1 s.
	PollInterval time.Duration
	// Progress, if set, receives one-line progress reports.
	Progress func(string)
	// Waiting, if set, is told once that the request waits for the
	// owner's approval: its id and the short fingerprint of this device's
	// key (KeyShortFingerprint), for the owner to compare.
	Waiting func(requestID, keyFingerprint string)
	// Paired, if set, is told which daemon the device paired with: its
	// device id, its CA's fingerprint (pki.CertFingerprint) and the
	// address dialed.
	Paired func(daemonID, caFingerprint, addr string)
	// Trace, if set, receives the time spent in each phase, for
	// benchmarks: "identity" (keys and CSR), "transport" (dial and TLS
	// handshake), "pake" (Start), "issuance" (Finish, and polls until the
	// certificate arrives), "bundle" (writing and loading it).
	Trace func(phase string, d time.Duration)
}

// Errors Join's callers branch on.
var (
	// ErrFailed: the PAKE did not confirm (wrong, used or expired code, or
	// an intercepted connection).
	ErrFailed = errors.New("pairing failed: the code is wrong, used or expired, or the connection is intercepted; ask for a new code")
	// ErrRejected: the operator rejected the request.
	ErrRejected = errors.New("pairing request rejected by the daemon's operator; if that was a mistake, ask the owner for a new code")
	// ErrExpired: the request expired before approval.
	ErrExpired = errors.New("pairing request expired before it was approved; ask for a new code")
	// ErrCAMismatch: the daemon's CA is not the one the URI names. The
	// daemon checks it before recording anything (the fingerprint is in
	// the sealed Finish payload), and the client checks it again.
	ErrCAMismatch = errors.New("pairing: the daemon's CA does not match the fingerprint in the pairing URI (another daemon, or an intercepted connection); nothing was recorded; ask the owner for the right URI")
	// ErrRefused: the daemon refused the pairing (a name in use, a key or
	// id barred); the error's text says why and what to do.
	ErrRefused = errors.New("the daemon refused this pairing")
	// ErrBusy: the daemon limits this source or its pending requests; the
	// error's text says when to try again.
	ErrBusy = errors.New("daemon busy")
	// ErrUnreachable: the connection failed or the daemon went away
	// during the pairing.
	ErrUnreachable = errors.New("the connection to the daemon failed during pairing")
	// ErrOutParent: the bundle directory's parent does not exist (only
	// the last component is created).
	ErrOutParent = errors.New("the parent of the bundle directory does not exist; create it first")
)

// callError classifies a failed Start or Finish for Join's callers.
func callError(err error) error {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return fmt.Errorf("%w: %v; check the daemon is running, then pair again with a new code", ErrUnreachable, err)
	}
	switch ce.Code() {
	case connect.CodeResourceExhausted:
		return fmt.Errorf("%w: %s", ErrBusy, ce.Message())
	case connect.CodeFailedPrecondition:
		if ce.Message() == errCAMismatch.Error() {
			return ErrCAMismatch
		}
		return fmt.Errorf("%w: %s", ErrRefused, ce.Message())
	case connect.CodeUnavailable, connect.CodeUnknown, connect.CodeCanceled, connect.CodeDeadlineExceeded:
		return fmt.Errorf("%w: %v; check the daemon is running, then pair again with a new code", ErrUnreachable, err)
	}
	return fmt.Errorf("pairing: %w", err)
}

// Join pairs this machine with a daemon: it makes a new device identity
// (the private key never leaves this process), runs the PAKE over a fresh
// TLS connection bound to it, sends its CSR sealed under the PAKE key,
// waits for approval, and writes the bundle `palyra devices enroll` writes
// to o.OutDir. Nothing is left in OutDir on failure.
func Join(ctx context.Context, o JoinOptions) (_ *client.Bundle, err error) {
	inv, err := paircode.ParseInvite(o.Invite)
	if err != nil {
		return nil, fmt.Errorf("pairing: %w", err)
	}
	if o.Transport == peer.None {
		o.Transport = peer.TCP
	}
	addr := o.Server
	if addr == "" {
		addr = inv.TCP
		if o.Transport == peer.QUIC {
			addr = inv.QUIC
		}
	}
	if addr == "" {
		return nil, errors.New("pairing: no daemon address: pass --server HOST:PORT or a palyra://pair URI")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("pairing: server address: %w", err)
	}
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	if !ValidName(o.Name) {
		return nil, ErrBadName
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	trace := o.Trace
	if trace == nil {
		trace = func(string, time.Duration) {}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	if fi, err := os.Stat(filepath.Dir(filepath.Clean(o.OutDir))); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s", ErrOutParent, filepath.Dir(filepath.Clean(o.OutDir)))
	}
	discard, err := client.PrepareBundleDir(o.OutDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			discard()
		}
	}()
	tk := time.Now()
	id, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	csr, err := pki.CreateDeviceCSR(id, o.Name)
	if err != nil {
		return nil, err
	}
	trace("identity", time.Since(tk))

	t0 := time.Now()
	progress(fmt.Sprintf("connecting to %s over %s", addr, o.Transport))
	ch, err := dialChannel(ctx, addr, o.Transport)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %w; check the daemon is running and listens there, then pair again (the code was not sent)", ErrUnreachable, addr, err)
	}
	closeOnce := sync.OnceFunc(ch.close)
	defer closeOnce()
	trace("transport", time.Since(t0))
	svc := palyrav1connect.NewPairingServiceClient(ch.hc, "https://"+addr, client.ClientOptions(o.Transport)...)

	t1 := time.Now()
	progress(fmt.Sprintf("proving the code (key %s)", KeyShortFingerprint(id)))
	party, share, err := pake.Start(pake.Initiator, pake.Config{
		Password: inv.Code.Password(), ChannelBinding: ch.binding, InitiatorID: initiatorID, ResponderID: responderID, Context: pakeContext(inv.Code.ID),
	}, rand.Reader)
	if err != nil {
		return nil, err
	}
	st, err := svc.Start(ctx, connect.NewRequest(&palyrav1.PairingStartRequest{Version: Version, CodeId: inv.Code.ID, Share: share}))
	if err != nil {
		return nil, callError(err)
	}
	res, err := party.Finish(st.Msg.GetShare())
	if err != nil {
		return nil, ErrFailed
	}
	if err := res.Verify(st.Msg.GetConfirmation()); err != nil {
		return nil, ErrFailed
	}
	key, err := res.Key()
	if err != nil {
		return nil, ErrFailed
	}
	sid := st.Msg.GetSessionId()
	keys, err := deriveKeys(key, sid)
	if err != nil {
		return nil, err
	}
	payload, err := proto.Marshal(&palyrav1.PairingFinishPayload{Csr: csr, Name: o.Name, Platform: runtime.GOOS + "/" + runtime.GOARCH, ExpectedCaFingerprint: inv.CAFingerprint})
	if err != nil {
		return nil, err
	}
	trace("pake", time.Since(t1))
	t2 := time.Now()
	fin, err := svc.Finish(ctx, connect.NewRequest(&palyrav1.PairingFinishRequest{SessionId: sid, Confirmation: res.Confirmation(), Sealed: seal(keys.toDaemon, sid, payload)}))
	if err != nil {
		return nil, callError(err)
	}
	result, err := openFinishResult(keys, sid, fin.Msg.GetSealed())
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(result.GetCaCertificate())
	if err != nil || !ca.IsCA {
		return nil, errors.New("pairing: the daemon sent no usable CA certificate")
	}
	caFP := pki.CertFingerprint(ca.Raw)
	if inv.CAFingerprint != "" && inv.CAFingerprint != caFP {
		return nil, ErrCAMismatch
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if err := ch.verifyServer(roots); err != nil {
		return nil, fmt.Errorf("pairing: the daemon's TLS certificate is not from its CA: %w", err)
	}
	closeOnce()

	certDER := result.GetCertificate()
	if result.GetState() != palyrav1.PairingState_PAIRING_STATE_COMPLETED {
		certDER, err = wait(ctx, o, addr, roots, result.GetRequestId(), keys.pollToken, progress, KeyShortFingerprint(id))
		if err != nil {
			return nil, err
		}
	}
	trace("issuance", time.Since(t2))
	if err := checkIssued(certDER, roots, id); err != nil {
		return nil, err
	}
	t3 := time.Now()
	defer func() { trace("bundle", time.Since(t3)) }()
	info := client.DaemonInfo{TCP: client.DialAddr(result.GetTcp(), host), QUIC: client.DialAddr(result.GetQuic(), host), CAFingerprint: caFP}
	if err := client.WriteBundle(o.OutDir, id, certDER, ca.Raw, info); err != nil {
		return nil, err
	}
	progress("paired as " + result.GetKind() + " " + id.DeviceID.String())
	if o.Paired != nil {
		o.Paired(result.GetDaemonId(), caFP, addr)
	}
	return client.LoadBundle(o.OutDir)
}

// openFinishResult opens and decodes Finish's sealed answer.
func openFinishResult(keys sessionKeys, sid, sealed []byte) (*palyrav1.PairingFinishResult, error) {
	pt, err := open(keys.toClient, sid, sealed)
	if err != nil {
		return nil, err
	}
	return decodeFinishResult(pt)
}

// decodeFinishResult decodes a PairingFinishResult.
func decodeFinishResult(b []byte) (*palyrav1.PairingFinishResult, error) {
	var m palyrav1.PairingFinishResult
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, errors.New("pairing: malformed answer")
	}
	if m.GetRequestId() == "" || len(m.GetRequestId()) > 64 || len(m.GetCaCertificate()) == 0 {
		return nil, errors.New("pairing: incomplete answer")
	}
	return &m, nil
}

// wait polls the request until it is completed, rejected or expired,
// reconnecting each time (the daemon closes anonymous connections after a
// few seconds), authenticated by the poll token.
func wait(ctx context.Context, o JoinOptions, addr string, roots *x509.CertPool, requestID string, token []byte, progress func(string), fp string) ([]byte, error) {
	start := time.Now()
	if o.Waiting != nil {
		o.Waiting(requestID, fp)
	}
	for {
		hc, closeFn := anonClient(o.Transport, roots)
		svc := palyrav1connect.NewPairingServiceClient(hc, "https://"+addr, client.ClientOptions(o.Transport)...)
		r, err := svc.Poll(ctx, connect.NewRequest(&palyrav1.PairingPollRequest{RequestId: requestID, Proof: token}))
		closeFn()
		if err != nil && connect.CodeOf(err) != connect.CodeUnavailable {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("pairing: gave up waiting for approval after %v", time.Since(start).Round(time.Second))
			}
			return nil, fmt.Errorf("pairing: poll: %w", err)
		}
		if err == nil {
			switch r.Msg.GetState() {
			case palyrav1.PairingState_PAIRING_STATE_COMPLETED:
				return r.Msg.GetCertificate(), nil
			case palyrav1.PairingState_PAIRING_STATE_REJECTED:
				return nil, ErrRejected
			case palyrav1.PairingState_PAIRING_STATE_EXPIRED:
				return nil, ErrExpired
			}
		}
		progress(fmt.Sprintf("waiting for approval: run `palyra pair approve %s` on the daemon (key %s) %v", requestID, fp, time.Since(start).Round(time.Second)))
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("pairing: gave up waiting for approval after %v", time.Since(start).Round(time.Second))
		case <-time.After(o.PollInterval):
		}
	}
}

// anonClient is an HTTP client without a client certificate that trusts
// only roots.
func anonClient(t peer.Transport, roots *x509.CertPool) (*http.Client, func()) {
	if t == peer.QUIC {
		return client.QUICHTTPClient(nil, roots)
	}
	return client.TCPHTTPClient(nil, roots)
}

// checkIssued checks the issued certificate: from the CA, for our key and
// our device id.
func checkIssued(der []byte, roots *x509.CertPool, id *identity.Identity) error {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return errors.New("pairing: the daemon sent no usable certificate")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("pairing: issued certificate does not verify: %w", err)
	}
	got, err := pki.DeviceIDFromCert(cert)
	if err != nil || got != id.DeviceID || !id.PublicKey().Equal(cert.PublicKey) {
		return errors.New("pairing: the issued certificate is not for this device's key")
	}
	return nil
}

// channel is one TLS connection to the daemon, dialed before the PAKE so
// that the PAKE can be bound to it, and served to an HTTP client that uses
// only it.
type channel struct {
	hc      *http.Client
	binding []byte
	state   tls.ConnectionState
	close   func()
}

// pairingTLS is the client TLS configuration before the CA is known: the
// server certificate is not trusted for anything (the PAKE authenticates
// the channel through its exporter) and is checked against the CA once the
// CA arrives.
func pairingTLS(addr string, nextProto string) *tls.Config {
	host, _, _ := net.SplitHostPort(addr)
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // #nosec G402 -- authenticated by the PAKE over the exporter, then verified against the CA
		ServerName:         host,
		NextProtos:         []string{nextProto},
	}
}

func dialChannel(ctx context.Context, addr string, t peer.Transport) (*channel, error) {
	switch t {
	case peer.TCP:
		d := tls.Dialer{Config: pairingTLS(addr, "h2")}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		tc := c.(*tls.Conn)
		st := tc.ConnectionState()
		b, err := ChannelBinding(&st)
		if err != nil {
			tc.Close()
			return nil, err
		}
		var once sync.Once
		tr := &http.Transport{
			DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
				var out net.Conn
				once.Do(func() { out = tc })
				if out == nil {
					return nil, errors.New("pairing: connection lost; start again")
				}
				return out, nil
			},
		}
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP2(true)
		return &channel{hc: &http.Client{Transport: tr, Timeout: client.DefaultTimeout}, binding: b, state: st, close: func() { tr.CloseIdleConnections(); tc.Close() }}, nil
	case peer.QUIC:
		qc, err := quic.DialAddr(ctx, addr, pairingTLS(addr, http3.NextProtoH3), &quic.Config{HandshakeIdleTimeout: 5 * time.Second})
		if err != nil {
			return nil, err
		}
		st := qc.ConnectionState().TLS
		b, err := ChannelBinding(&st)
		if err != nil {
			qc.CloseWithError(0, "")
			return nil, err
		}
		var once sync.Once
		tr := &http3.Transport{
			Dial: func(context.Context, string, *tls.Config, *quic.Config) (*quic.Conn, error) {
				var out *quic.Conn
				once.Do(func() { out = qc })
				if out == nil {
					return nil, errors.New("pairing: connection lost; start again")
				}
				return out, nil
			},
		}
		return &channel{hc: &http.Client{Transport: tr, Timeout: client.DefaultTimeout}, binding: b, state: st, close: func() { tr.Close(); qc.CloseWithError(0, "") }}, nil
	}
	return nil, fmt.Errorf("pairing: transport %q: want tcp or quic", t)
}

// verifyServer checks the channel's server certificate against roots.
func (c *channel) verifyServer(roots *x509.CertPool) error {
	pc := c.state.PeerCertificates
	if len(pc) == 0 {
		return errors.New("no server certificate")
	}
	inter := x509.NewCertPool()
	for _, x := range pc[1:] {
		inter.AddCert(x)
	}
	_, err := pc[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err
}
