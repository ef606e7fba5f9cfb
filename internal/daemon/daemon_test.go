package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"github.com/quic-go/quic-go/http3"
	"google.golang.org/protobuf/proto"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/pki"
	"github.com/palyra/palyra/internal/transport"
)

// testDaemon is a real daemon on loopback in a temporary state directory.
type testDaemon struct {
	*Daemon
	admin *client.Conn
	addrs transport.Addrs
}

func startDaemon(t testing.TB, mutate func(*config.Config)) *testDaemon {
	return startDaemonHook(t, mutate, nil)
}

// startDaemonHook is startDaemon with a hook that runs between Open and Run.
func startDaemonHook(t testing.TB, mutate func(*config.Config), beforeRun func(*Daemon)) *testDaemon {
	t.Helper()
	cfg := config.Defaults()
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	cfg.Listen = "127.0.0.1:0"
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if beforeRun != nil {
		beforeRun(d)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("daemon exited: %v", err)
	}
	td := &testDaemon{Daemon: d, admin: client.DialUnix(d.Addrs().Socket), addrs: d.Addrs()}
	t.Cleanup(func() {
		td.admin.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon run: %v", err)
		}
		d.Close()
	})
	return td
}

func (td *testDaemon) enroll(t testing.TB, name string) *client.Bundle {
	t.Helper()
	b, err := client.Enroll(context.Background(), td.admin, name, filepath.Join(t.TempDir(), name), "")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// callAll calls every RPC but Health and returns the errors by name. Each
// call gets a connection of its own from dial: a connection without a
// certificate may start only a few requests a second before the transport
// closes it (transport.Limits), and this test is about the refusal of each
// procedure, not that limit.
func callAll(ctx context.Context, dial func() *client.Conn) map[string]error {
	c := &perCall{dial: dial}
	defer c.close()
	return callEach(ctx, c)
}

// perCall hands out a fresh connection for each call.
type perCall struct {
	dial  func() *client.Conn
	conns []*client.Conn
}

// next closes the previous connection (a source may hold only a few
// connections without a certificate) and dials a new one.
func (p *perCall) next() *client.Conn {
	p.close()
	c := p.dial()
	p.conns = []*client.Conn{c}
	return c
}

func (p *perCall) close() {
	for _, c := range p.conns {
		c.Close()
	}
}

func callEach(ctx context.Context, p *perCall) map[string]error {
	c := p.next()
	ref := "global/k"
	_, e1 := c.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{}))
	_, e2 := p.next().Vault.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: ref, Value: []byte("v")}))
	_, e3 := p.next().Vault.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: ref}))
	_, e4 := p.next().Vault.List(ctx, connect.NewRequest(&palyrav1.VaultListRequest{}))
	_, e5 := p.next().Vault.Delete(ctx, connect.NewRequest(&palyrav1.VaultDeleteRequest{Ref: ref}))
	_, e6 := p.next().Devices.Enroll(ctx, connect.NewRequest(&palyrav1.EnrollDeviceRequest{Name: "x", Csr: []byte{1}}))
	_, e7 := p.next().Devices.List(ctx, connect.NewRequest(&palyrav1.ListDevicesRequest{}))
	_, e8 := p.next().Devices.Revoke(ctx, connect.NewRequest(&palyrav1.RevokeDeviceRequest{DeviceId: "01M8MMX996AQ31R449QHSCKBW7"}))
	_, e9 := p.next().Devices.Renew(ctx, connect.NewRequest(&palyrav1.RenewCertificateRequest{Csr: []byte{1}}))
	_, e10 := p.next().Audit.List(ctx, connect.NewRequest(&palyrav1.AuditListRequest{}))
	_, e11 := p.next().Audit.Get(ctx, connect.NewRequest(&palyrav1.AuditGetRequest{Seq: 1}))
	var e12 error
	if st, err := p.next().Audit.Tail(ctx, connect.NewRequest(&palyrav1.AuditTailRequest{})); err != nil {
		e12 = err
	} else {
		st.Receive()
		e12 = st.Err()
		st.Close()
	}
	return map[string]error{"AuditList": e10, "AuditGet": e11, "AuditTail": e12, "RenewCertificate": e9, "Status": e1, "VaultPut": e2, "VaultGet": e3, "VaultList": e4, "VaultDelete": e5, "EnrollDevice": e6, "ListDevices": e7, "RevokeDevice": e8}
}

// dialForcing connects presenting cert whatever CAs the server asks for:
// Go's client would otherwise withhold a certificate from another CA, and
// the test must show that the daemon refuses it, not that the client is
// polite.
func dialForcing(tr peer.Transport, addrs transport.Addrs, cert *tls.Certificate, roots *x509.CertPool) *client.Conn {
	conf := forcingTLS(cert, roots)
	var hc *http.Client
	var closeFn func()
	addr := addrs.TCP
	if tr == peer.QUIC {
		h3 := &http3.Transport{TLSClientConfig: conf}
		hc, closeFn, addr = &http.Client{Transport: h3}, func() { h3.Close() }, addrs.QUIC
	} else {
		h2 := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}
		h2.Protocols = new(http.Protocols)
		h2.Protocols.SetHTTP2(true)
		hc, closeFn = &http.Client{Transport: h2}, h2.CloseIdleConnections
	}
	return client.NewConn(hc, "https://"+addr, closeFn, client.ClientOptions(tr)...)
}

func forcingTLS(cert *tls.Certificate, roots *x509.CertPool) *tls.Config {
	conf := transport.ClientTLSConfig(nil, roots)
	if cert != nil {
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return conf
}

// handshakeRefused reports whether the daemon refuses cert in a bare TCP
// TLS handshake (the HTTP/2 error a call returns does not carry the alert).
func handshakeRefused(t *testing.T, addr string, cert *tls.Certificate, roots *x509.CertPool) bool {
	t.Helper()
	c, err := tls.Dial("tcp", addr, forcingTLS(cert, roots))
	if err != nil {
		return client.IsHandshakeRefusal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	return client.IsHandshakeRefusal(err)
}

func TestEnrolledDeviceReadsSecretOverTCPAndQUIC(t *testing.T) {
	td := startDaemon(t, nil)
	ctx := context.Background()
	b := td.enroll(t, "laptop")
	value := []byte("sk-test-\x00\xffvalue\n")
	if _, err := td.admin.Vault.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/openai_api_key", Value: value})); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
		t.Run(tr.String(), func(t *testing.T) {
			c, err := client.DialBundle(b, tr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r, err := c.Vault.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/openai_api_key"}))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Msg.Value, value) {
				t.Fatalf("got %q", r.Msg.Value)
			}
			st, err := c.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{}))
			if err != nil || st.Msg.Principal != `Device::"`+b.Identity.DeviceID.String()+`"` {
				t.Fatalf("status principal %q, %v", st.Msg.GetPrincipal(), err)
			}
			// Device administration stays local, even for an admin's device.
			_, err = c.Devices.Revoke(ctx, connect.NewRequest(&palyrav1.RevokeDeviceRequest{DeviceId: b.Identity.DeviceID.String()}))
			if connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Fatalf("device revoking: %v", err)
			}
		})
	}
}

// TestRefusedClients checks each kind of bad client on both TLS transports:
// none may call any RPC but Health.
func TestRefusedClients(t *testing.T) {
	td := startDaemon(t, nil)
	ctx := context.Background()
	good := td.enroll(t, "good")
	revoked := td.enroll(t, "revoked")
	if _, err := td.admin.Devices.Revoke(ctx, connect.NewRequest(&palyrav1.RevokeDeviceRequest{DeviceId: revoked.Identity.DeviceID.String()})); err != nil {
		t.Fatal(err)
	}

	// An expired certificate from the right CA for an enrolled device's key.
	csrDER, _ := pki.CreateDeviceCSR(good.Identity, "good")
	csr, _ := pki.ParseDeviceCSR(csrDER)
	expired, err := td.ca.IssueClient(csr, "good", time.Now().Add(-48*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// A certificate for the same device id and key from another CA.
	otherDir := t.TempDir()
	otherCA, err := pki.LoadOrCreateCA(filepath.Join(otherDir, "ca.crt"), filepath.Join(otherDir, "ca.key"), bytes.Repeat([]byte{9}, 32), "evil")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := otherCA.IssueClient(csr, "good", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certOf := func(der []byte, id *identity.Identity) *tls.Certificate {
		return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: id.SigningKey}
	}
	cases := []struct {
		name       string
		cert       *tls.Certificate
		healthOK   bool
		wantedCode connect.Code // for non-health RPCs when the handshake succeeds
	}{
		{"no certificate", nil, true, connect.CodeUnauthenticated},
		{"other CA", certOf(foreign.Raw, good.Identity), false, 0},
		{"expired", certOf(expired.Raw, good.Identity), false, 0},
		{"revoked device", &revoked.Cert, false, 0},
	}
	for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
		for _, tc := range cases {
			t.Run(tr.String()+"/"+tc.name, func(t *testing.T) {
				c := dialForcing(tr, td.addrs, tc.cert, good.Roots())
				defer c.Close()
				_, herr := c.Health.Check(ctx, &grpchealth.CheckRequest{})
				if tc.healthOK && herr != nil {
					t.Fatalf("health: %v", herr)
				}
				for rpc, err := range callAll(ctx, func() *client.Conn { return dialForcing(tr, td.addrs, tc.cert, good.Roots()) }) {
					switch {
					case err == nil:
						t.Errorf("%s succeeded", rpc)
					case tc.wantedCode != 0 && connect.CodeOf(err) != tc.wantedCode:
						t.Errorf("%s: code %v (%v), want %v", rpc, connect.CodeOf(err), err, tc.wantedCode)
					case tc.wantedCode == 0 && tr == peer.QUIC && !client.IsHandshakeRefusal(err):
						t.Errorf("%s: %v, want a refusal in the QUIC handshake", rpc, err)
					}
				}
				// Over TCP the HTTP/2 error hides the TLS alert; a bare
				// handshake shows that the daemon refused this certificate
				// in the handshake itself.
				if tc.wantedCode == 0 && tr == peer.TCP && !handshakeRefused(t, td.addrs.TCP, tc.cert, good.Roots()) {
					t.Error("the TCP handshake with this certificate was not refused")
				}
			})
		}
	}
	// The good device still works on both transports after all that.
	for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
		c, _ := client.DialBundle(good, tr)
		if _, err := c.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{})); err != nil {
			t.Errorf("good device over %s: %v", tr, err)
		}
		c.Close()
	}
}

// TestRevocationClosesLiveConnections revokes a device while it holds open
// TCP and QUIC connections: the very next call on each must fail.
func TestRevocationClosesLiveConnections(t *testing.T) {
	td := startDaemon(t, nil)
	ctx := context.Background()
	b := td.enroll(t, "phone")
	conns := map[peer.Transport]*client.Conn{}
	for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
		c, _ := client.DialBundle(b, tr)
		defer c.Close()
		if _, err := c.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{})); err != nil {
			t.Fatalf("%s before revoke: %v", tr, err)
		}
		conns[tr] = c
	}
	if _, err := td.admin.Devices.Revoke(ctx, connect.NewRequest(&palyrav1.RevokeDeviceRequest{DeviceId: b.Identity.DeviceID.String()})); err != nil {
		t.Fatal(err)
	}
	for tr, c := range conns {
		// Had the connection stayed open, the per-request check would
		// answer Unauthenticated on it; a closed one makes the client
		// reconnect, and the handshake refuses the revoked device.
		_, err := c.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{}))
		if err == nil {
			t.Errorf("%s: revoked device still served", tr)
		} else if connect.CodeOf(err) == connect.CodeUnauthenticated {
			t.Errorf("%s: the revoked device's connection was left open: %v", tr, err)
		}
	}
	// Re-enrolling the revoked id is refused.
	csr, _ := pki.CreateDeviceCSR(b.Identity, "phone")
	_, err := td.admin.Devices.Enroll(ctx, connect.NewRequest(&palyrav1.EnrollDeviceRequest{Name: "phone", Csr: csr}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("re-enroll revoked: %v", err)
	}
}

// TestServerCertificateRenewsWhileServing runs the daemon with a 2-second
// server certificate: it must be renewed and swapped while clients keep
// working, on the connection they hold and on new ones.
func TestServerCertificateRenewsWhileServing(t *testing.T) {
	renewed := make(chan struct{}, 16)
	td := startDaemonHook(t, func(c *config.Config) { c.ServerCertTTL = config.Duration(2 * time.Second) },
		func(d *Daemon) {
			d.ServerCertRenewed = func() {
				select {
				case renewed <- struct{}{}:
				default:
				}
			}
		})
	start := time.Now()
	ctx := context.Background()
	b := td.enroll(t, "laptop")
	first := td.server.Leaf()
	held, _ := client.DialBundle(b, peer.TCP)
	defer held.Close()
	if _, err := held.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{})); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case <-renewed:
		case <-time.After(20 * time.Second):
			t.Fatal("server certificate was not renewed")
		}
	}
	t.Logf("two renewals after %v", time.Since(start))
	now := td.server.Leaf()
	if now.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("serial unchanged after renewal")
	}
	// The first certificate has expired by now (2s lifetime, two renewals
	// at about 2/3 of it): new handshakes must get the fresh one.
	for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
		c, _ := client.DialBundle(b, tr)
		_, err := c.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{}))
		c.Close()
		if err != nil {
			t.Fatalf("new %s connection after renewal: %v", tr, err)
		}
	}
	// What a new handshake is actually served.
	conn, err := tls.Dial("tcp", td.addrs.TCP, transport.ClientTLSConfig(&b.Cert, b.Roots()))
	if err != nil {
		t.Fatal(err)
	}
	served := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if served.SerialNumber.Cmp(first.SerialNumber) == 0 || !served.NotAfter.After(first.NotAfter) {
		t.Fatalf("new handshake served serial %v until %v; first was %v until %v", served.SerialNumber, served.NotAfter, first.SerialNumber, first.NotAfter)
	}
	if _, err := held.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{})); err != nil {
		t.Fatalf("held connection after renewal: %v", err)
	}
}

func TestSecondDaemonOnSameStateDirRefuses(t *testing.T) {
	td := startDaemon(t, nil)
	cfg := td.cfg
	if _, err := Open(context.Background(), cfg, slog.New(slog.DiscardHandler)); err != ErrLocked {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

func TestStatePermissions(t *testing.T) {
	td := startDaemon(t, nil)
	l := td.Layout()
	fi, err := os.Stat(l.Dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode %v %v", fi.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(l.Dir)
	if len(entries) < 8 {
		t.Fatalf("only %d entries in the state dir", len(entries))
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %04o", e.Name(), perm)
		}
	}
	if fi, _ := os.Stat(l.Socket); fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("socket mode %v", fi.Mode())
	}
}

// TestRenewIsForOneselfOnly: a device renews its own certificate for its
// enrolled key, and nothing else; the admin socket cannot renew.
func TestRenewIsForOneselfOnly(t *testing.T) {
	td := startDaemon(t, nil)
	ctx := context.Background()
	a, b := td.enroll(t, "a"), td.enroll(t, "b")
	conn, _ := client.DialBundle(a, peer.TCP)
	defer conn.Close()
	csrFor := func(id *identity.Identity) []byte {
		der, err := pki.CreateDeviceCSR(id, "x")
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	renew := func(c *client.Conn, csr []byte) error {
		_, err := c.Devices.Renew(ctx, connect.NewRequest(&palyrav1.RenewCertificateRequest{Csr: csr}))
		return err
	}
	if err := renew(conn, csrFor(b.Identity)); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("renewing another device: %v", err)
	}
	rekey, _ := identity.Generate()
	rekey.DeviceID = a.Identity.DeviceID
	if err := renew(conn, csrFor(rekey)); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("renewing with another key: %v", err)
	}
	if err := renew(td.admin, csrFor(a.Identity)); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("renewal over the admin socket: %v", err)
	}
	// The refusals are in the journal as denies.
	recs, err := td.audit.List(ctx, audit.Filter{Action: "device.renew", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, r := range recs {
		if r.Action == "device.renew" && r.Decision == "deny" {
			denied++
		}
	}
	// Two by the device, one by the owner over the admin socket.
	if denied != 3 {
		t.Fatalf("refused renewals journaled: %d, want 3", denied)
	}
	before := a.Cert.Leaf.SerialNumber
	if err := client.Renew(ctx, conn, a, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if a.Cert.Leaf.SerialNumber.Cmp(before) == 0 {
		t.Fatal("serial unchanged")
	}
	c2, _ := client.DialBundle(a, peer.QUIC)
	defer c2.Close()
	if _, err := c2.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{})); err != nil {
		t.Fatalf("renewed certificate: %v", err)
	}
}

// TestStrictDecoding sends raw Connect JSON requests over the admin socket:
// unknown, wrongly-cased or duplicate keys are rejected and nothing is
// stored.
func TestStrictDecoding(t *testing.T) {
	td := startDaemon(t, nil)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", td.addrs.Socket)
	}}}
	contentType := "application/json"
	post := func(body string) (int, string) {
		resp, err := hc.Post("http://palyrad/palyra.v1.VaultService/Put", contentType, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(`{"ref":"global/ok","value":"dg=="}`); code != 200 {
		t.Fatalf("well-formed request: %d %s", code, body)
	}
	// Every spelling of the JSON content type must reach the strict codec.
	for _, contentType = range []string{"application/json", "application/json; charset=utf-8", "application/JSON; charset=UTF-8", "application/json;charset=utf-8"} {
		for _, bad := range []string{
			`{"ref":"global/x","Value":"dg=="}`,
			`{"ref":"global/x","value":"dg==","extra":1}`,
			`{"ref":"global/x","ref":"global/y","value":"dg=="}`,
			`{"ref":"global/x","value":"dg==","extra":{"nested":[1,2]}}`,
		} {
			code, body := post(bad)
			if code == 200 || !strings.Contains(body, "invalid_argument") {
				t.Errorf("%s with %q: %d %s", bad, contentType, code, body)
			}
		}
	}
	r, err := td.admin.Vault.List(context.Background(), connect.NewRequest(&palyrav1.VaultListRequest{}))
	if err != nil || len(r.Msg.Secrets) != 1 {
		t.Fatalf("stored after bad requests: %v %v", r, err)
	}
}

// TestStrictProtoDecoding sends a binary protobuf request carrying a field
// the API does not define: it is rejected and nothing is stored.
func TestStrictProtoDecoding(t *testing.T) {
	td := startDaemon(t, nil)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", td.addrs.Socket)
	}}}
	body, err := proto.Marshal(&palyrav1.VaultPutRequest{Ref: "global/x", Value: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	post := func(b []byte) int {
		resp, err := hc.Post("http://palyrad/palyra.v1.VaultService/Put", "application/proto", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Field 99, varint 1: unknown to VaultPutRequest.
	if code := post(append(bytes.Clone(body), 0x98, 0x06, 0x01)); code == 200 {
		t.Fatal("request with an unknown field was accepted")
	}
	r, err := td.admin.Vault.List(context.Background(), connect.NewRequest(&palyrav1.VaultListRequest{}))
	if err != nil || len(r.Msg.Secrets) != 0 {
		t.Fatalf("stored after a rejected request: %v %v", r, err)
	}
	if code := post(body); code != 200 {
		t.Fatalf("well-formed binary request: HTTP %d", code)
	}
}

// TestAnonymousBodyIsNotRead: a TLS request without a client certificate is
// refused before its body is decoded — a malformed body yields
// Unauthenticated, not a decoding error.
func TestAnonymousBodyIsNotRead(t *testing.T) {
	td := startDaemon(t, nil)
	b := td.enroll(t, "x")
	hc, closeFn := client.TCPHTTPClient(nil, b.Roots())
	defer closeFn()
	resp, err := hc.Post("https://"+td.addrs.TCP+"/palyra.v1.VaultService/Get", "application/proto", strings.NewReader("\xff\xff not protobuf"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "unauthenticated") {
		t.Fatalf("HTTP %d %s", resp.StatusCode, body)
	}
}
