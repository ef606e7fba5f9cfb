package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/guard"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert, key}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue signs a leaf for names (IP literals or DNS names), valid from
// notBefore to notAfter, for eku.
func (ca *testCA) issue(t *testing.T, names []string, notBefore, notAfter time.Time, eku x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "leaf"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{eku},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// serveTCP serves HTTP/2 over TLS with cfg on a loopback port.
func serveTCP(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	s := httptest.NewUnstartedServer(http.NotFoundHandler())
	s.EnableHTTP2 = true
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.TLS = cfg
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// serveQUIC serves HTTP/3 with cfg on a loopback UDP port.
func serveQUIC(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http3.Server{TLSConfig: http3.ConfigureTLSConfig(cfg), Handler: http.NotFoundHandler()}
	done := make(chan struct{})
	go func() { s.Serve(pc); close(done) }()
	t.Cleanup(func() { s.Close(); pc.Close(); <-done })
	return pc.LocalAddr().String()
}

// callStatus makes one Status call like palyra --identity does.
func callStatus(t *testing.T, transportName, addr string, cert *tls.Certificate, roots *x509.CertPool) error {
	t.Helper()
	var conn *client.Conn
	if transportName == "tcp" {
		conn = client.DialTCP(addr, cert, roots)
	} else {
		conn = client.DialQUIC(addr, cert, roots)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := conn.Daemon.Status(ctx, connect.NewRequest(&palyrav1.StatusRequest{}))
	if err == nil {
		t.Fatalf("%s: call succeeded", transportName)
	}
	return err
}

// TestUntrustedDaemonIsClassifiedByType produces, over real TLS on
// loopback, each way our side rejects the daemon's certificate, on TCP
// (net/http, HTTP/2) and on QUIC (HTTP/3), and checks that the x509 error
// is reached through connect.Error's Unwrap, not read from the message.
func TestUntrustedDaemonIsClassifiedByType(t *testing.T) {
	pinned := newTestCA(t, "pinned")
	other := newTestCA(t, "other")
	now := time.Now()
	loopback := []string{"127.0.0.1", "localhost"}
	cases := []struct {
		name   string
		server tls.Certificate
		check  func(error) bool
		why    string
	}{
		{"another CA", other.issue(t, loopback, now.Add(-time.Minute), now.Add(time.Hour), x509.ExtKeyUsageServerAuth),
			func(err error) bool { var e x509.UnknownAuthorityError; return errors.As(err, &e) },
			"untrusted daemon: its certificate is not issued by the CA pinned in the bundle (another daemon at this address?): tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"wrong host name", pinned.issue(t, []string{"elsewhere.invalid"}, now.Add(-time.Minute), now.Add(time.Hour), x509.ExtKeyUsageServerAuth),
			func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) },
			"untrusted daemon: its certificate is not for the address in the bundle: tls: failed to verify certificate: x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"},
		{"expired", pinned.issue(t, loopback, now.Add(-2*time.Hour), now.Add(-time.Hour), x509.ExtKeyUsageServerAuth),
			func(err error) bool {
				var e x509.CertificateInvalidError
				return errors.As(err, &e) && e.Reason == x509.Expired
			},
			"untrusted daemon: its certificate has expired or is not yet valid (check the clocks): tls: failed to verify certificate: x509: certificate has expired or is not yet valid: "},
	}
	for _, tc := range cases {
		for _, tr := range []string{"tcp", "quic"} {
			t.Run(tc.name+"/"+tr, func(t *testing.T) {
				cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{tc.server}}
				var addr string
				if tr == "tcp" {
					addr = serveTCP(t, cfg)
				} else {
					addr = serveQUIC(t, cfg)
				}
				err := callStatus(t, tr, addr, nil, pinned.pool())
				var ce *connect.Error
				if !errors.As(err, &ce) {
					t.Fatalf("not a connect.Error: %T %v", err, err)
				}
				var cve *tls.CertificateVerificationError
				if !errors.As(err, &cve) || !tc.check(err) {
					t.Fatalf("the TLS error is not reachable by type through %T: %v", err, err)
				}
				if tr == "quic" {
					var te *quic.TransportError
					if !errors.As(err, &te) || te.Remote || !te.ErrorCode.IsCryptoError() {
						t.Fatalf("want a local QUIC CRYPTO_ERROR: %v", err)
					}
				}
				if got := exitCode(err); got != 3 {
					t.Errorf("exit code %d, want 3 (%v)", got, err)
				}
				// The same line on both transports.
				if d := describe(err); !strings.HasPrefix(d, tc.why) || strings.Contains(d, "\n") {
					t.Errorf("describe: %q\nwant prefix %q", d, tc.why)
				}
			})
		}
	}
}

// TestRefusedCertificateIsClassifiedByType runs servers that reject the
// client's certificate in the handshake.
func TestRefusedCertificateIsClassifiedByType(t *testing.T) {
	pinned := newTestCA(t, "pinned")
	now := time.Now()
	// Like palyrad: a client certificate from its CA is verified, then
	// refused inside the handshake (as a revoked device is).
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pinned.issue(t, []string{"127.0.0.1"}, now.Add(-time.Minute), now.Add(time.Hour), x509.ExtKeyUsageServerAuth)},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pinned.pool(),
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			return errors.New("revoked")
		},
	}
	mine := pinned.issue(t, []string{"device"}, now.Add(-time.Minute), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)

	t.Run("quic", func(t *testing.T) {
		err := callStatus(t, "quic", serveQUIC(t, cfg), &mine, pinned.pool())
		var te *quic.TransportError
		if !errors.As(err, &te) || !te.Remote || !te.ErrorCode.IsCryptoError() {
			t.Fatalf("want the daemon's QUIC CRYPTO_ERROR: %T %v", err, err)
		}
		if got := exitCode(err); got != 3 {
			t.Errorf("exit code %d, want 3 (%v)", got, err)
		}
		if d := describe(err); !strings.HasPrefix(d, "refused: ") {
			t.Errorf("describe: %q", d)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		// Over TCP, TLS 1.3 lets the client finish before the server has
		// looked at its certificate. When the server's alert reaches the
		// call, it is a *net.OpError ("remote error") under connect.Error;
		// when HTTP/2 reports only a failed connection, palyra probes with
		// a bare handshake, which reads the alert.
		addr := serveTCP(t, cfg)
		err := callStatus(t, "tcp", addr, &mine, pinned.pool())
		if client.IsHandshakeRefusal(err) {
			if got := exitCode(err); got != 3 {
				t.Errorf("exit code %d, want 3 (%v)", got, err)
			}
		} else {
			t.Logf("the call did not carry the alert (%v); the probe must", err)
		}
		if err := client.ProbeTCP(context.Background(), addr, &mine, pinned.pool()); !errors.Is(err, client.ErrHandshakeRefused) {
			t.Fatalf("probe: %v", err)
		}
		if got := exitCode(&net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}); got != 3 {
			t.Errorf("exit code %d, want 3", got)
		}
	})
}

// TestNoDaemonIsUnreachable dials a loopback port nobody listens on.
func TestNoDaemonIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	err = callStatus(t, "tcp", addr, nil, newTestCA(t, "pinned").pool())
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("want a dial *net.OpError: %T %v", err, err)
	}
	if got := exitCode(err); got != 5 {
		t.Errorf("exit code %d, want 5 (%v)", got, err)
	}
	if d := describe(err); !strings.HasPrefix(d, "daemon unreachable: ") {
		t.Errorf("describe: %q", d)
	}
}

// TestUnknownSubcommandIsUsage checks the typed unknown-command error at the
// root and under a group, with and without a suggestion.
func TestUnknownSubcommandIsUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus" for "palyra" (see palyra --help)`},
		{[]string{"statsu"}, `unknown command "statsu" for "palyra" (did you mean "status"?)`},
		{[]string{"vault", "delete", "x"}, `unknown command "delete" for "palyra vault" (did you mean "rm"?)`},
		{[]string{"devices", "delete", "ID"}, `unknown command "delete" for "palyra devices" (did you mean "revoke"?)`},
		{[]string{"audit", "check"}, `unknown command "check" for "palyra audit" (see palyra audit --help)`},
	} {
		root := newRoot(&globals{})
		root.SetArgs(tc.args)
		err := root.Execute()
		var uc *unknownCommandError
		if !errors.As(err, &uc) {
			t.Fatalf("%v: %T %v", tc.args, err, err)
		}
		if got := describe(err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.args, got, tc.want)
		}
		if got := exitCode(err); got != 2 {
			t.Errorf("%v: exit code %d", tc.args, got)
		}
	}
}

// A plain policy denial from the daemon (guard.DeniedError) gets one next
// step on the same line: an operator policy, and the explain command for
// exactly this request; a denial that already says what to do is kept.
func TestDenialSaysWhatToDo(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&guard.DeniedError{Principal: `Connector::"slackbot"`, Action: "vault.read", Resource: `Secret::"global/openai_api_key"`},
			`denied: Connector::"slackbot" may not vault.read on Secret::"global/openai_api_key"; if it should be allowed, an operator policy can permit it (docs/policies.md); palyra policy explain --principal 'Connector::"slackbot"' --action vault.read --resource 'Secret::"global/openai_api_key"' shows what decides`},
		{&guard.DeniedError{Principal: `Device::"01JABCDEFGHJKMNPQRSTVWXYZ0"`, Action: "device.revoke", Resource: `Device::"01JABCDEFGHJKMNPQRSTVWXYZ1"`},
			`denied: Device::"01JABCDEFGHJKMNPQRSTVWXYZ0" may not device.revoke on Device::"01JABCDEFGHJKMNPQRSTVWXYZ1"; if it should be allowed, an operator policy can permit it (docs/policies.md); palyra policy explain --principal 'Device::"01JABCDEFGHJKMNPQRSTVWXYZ0"' --owner USER --action device.revoke --resource 'Device::"01JABCDEFGHJKMNPQRSTVWXYZ1"' shows what decides`},
		{&guard.DeniedError{Principal: `User::"alice"`, Action: "vault.read", Resource: `Secret::"global/it's"`},
			`denied: User::"alice" may not vault.read on Secret::"global/it's"; if it should be allowed, an operator policy can permit it (docs/policies.md; palyra policy explain shows what decides)`},
		{errors.New("denied: this caller may not enroll devices; enroll on the daemon's machine"), "denied: this caller may not enroll devices; enroll on the daemon's machine"},
	} {
		o := classify(connect.NewError(connect.CodePermissionDenied, tc.err))
		if o.exit != 3 || o.code != "denied" || o.line != tc.want || strings.Contains(o.line, "\n") {
			t.Errorf("%v:\n got %+v\nwant %q", tc.err, o, tc.want)
		}
	}
}
