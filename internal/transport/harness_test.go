package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/palyra/palyra/internal/identity"
	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/pki"
)

// A small API shaped like Palyra's: Health answers anyone; every other
// procedure requires a client certificate and refuses without one before
// reading the request body.
const (
	healthProc = "/palyra.test.v1.Test/Health"
	echoProc   = "/palyra.test.v1.Test/Echo"
	memPath    = "/palyra.test.v1.Test/Mem"
)

func testAPI() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(healthProc, connect.NewUnaryHandler(healthProc, func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.StringValue], error) {
		return connect.NewResponse(wrapperspb.String("SERVING")), nil
	}))
	mux.Handle(echoProc, connect.NewUnaryHandler(echoProc, func(ctx context.Context, r *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
		p, _ := peer.FromContext(ctx)
		id, _ := pki.DeviceIDFromCert(p.Cert)
		return connect.NewResponse(wrapperspb.String(p.Transport.String() + " " + id.String() + " " + r.Msg.GetValue())), nil
	}))
	mux.HandleFunc(memPath, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") != "" {
			runtime.GC()
		}
		json.NewEncoder(w).Encode(readMem())
	})
	ew := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := peer.FromContext(r.Context())
		if r.URL.Path != healthProc && p.Cert == nil {
			ew.Write(w, r, connect.NewError(connect.CodeUnauthenticated, errors.New("client certificate required")))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// memStats is what the test server reports about its own memory.
type memStats struct {
	HeapLive   uint64          `json:"heap_live"`  // live heap as of the last GC
	HeapInuse  uint64          `json:"heap_inuse"` // bytes in in-use spans
	Goroutines uint64          `json:"goroutines"`
	Limits     json.RawMessage `json:"limits,omitempty"` // the Server's Stats, if any
}

// childStats is the child server's Stats ("palyra" mode).
var childStats *Stats

// bareErrs counts net/http's HTTP/2 errors by type ("bare" mode).
var (
	bareErrMu sync.Mutex
	bareErrs  = map[string]int{}
)

func readMem() memStats {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	metrics.Read(s)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memStats{HeapLive: s[0].Value.Uint64(), HeapInuse: ms.HeapInuse, Goroutines: s[1].Value.Uint64()}
	bareErrMu.Lock()
	if len(bareErrs) > 0 {
		m.Limits, _ = json.Marshal(map[string]any{"h2_count_error": bareErrs})
	}
	bareErrMu.Unlock()
	if st := childStats; st != nil {
		m.Limits, _ = json.Marshal(map[string]int64{
			"handshakes_refused": st.HandshakesRefused.Load(), "handshakes_failed": st.HandshakesFailed.Load(),
			"anon_refused": st.AnonRefused.Load(), "abusive_closed": st.AbusiveClosed.Load(),
			"lifetime_closed": st.LifetimeClosed.Load(), "quic_retries": st.QUICRetries.Load(), "quic_refused": st.QUICRefused.Load(),
		})
	}
	return m
}

// testPKI is a CA in dir and one device certificate.
type testPKI struct {
	dir    string
	ca     *pki.CA
	device tls.Certificate
	id     identity.DeviceID
}

func loadTestCA(dir string) (*pki.CA, error) {
	return pki.LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), make([]byte, 32), "test")
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	ca, err := loadTestCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.CreateDeviceCSR(id, "dev")
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.ParseDeviceCSR(der)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueClient(csr, "dev", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{dir: dir, ca: ca, id: id.DeviceID,
		device: tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: id.SigningKey, Leaf: cert}}
}

func serverTLS(ca *pki.CA) (*tls.Config, error) {
	sc, err := pki.NewServerCert(ca, nil, time.Hour)
	if err != nil {
		return nil, err
	}
	return ServerTLSConfig(sc.GetCertificate, ca.Pool(), func(*x509.Certificate) error { return nil }), nil
}

// startServer runs a transport Server in this process.
func startServer(t testing.TB, p *testPKI, lim Limits) *Server {
	t.Helper()
	tc, err := serverTLS(p.ca)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen(Config{Handler: testAPI(), TLS: tc, ListenAddr: "127.0.0.1:0", Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// h2Client is an HTTP/2-only client; cert may be nil.
func h2Client(p *testPKI, cert *tls.Certificate) *http.Client {
	var pr http.Protocols
	pr.SetHTTP2(true)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: ClientTLSConfig(cert, p.ca.Pool()),
		Protocols:       &pr,
	}}
}

func h3Client(p *testPKI, cert *tls.Certificate) *http.Client {
	return h3ClientTokens(p, cert, nil)
}

// h3ClientTokens keeps the address-validation tokens the server sends
// (NEW_TOKEN) in ts, so that a later connection skips the Retry.
func h3ClientTokens(p *testPKI, cert *tls.Certificate, ts quic.TokenStore) *http.Client {
	tr := &http3.Transport{TLSClientConfig: ClientTLSConfig(cert, p.ca.Pool())}
	if ts != nil {
		tr.QUICConfig = &quic.Config{TokenStore: ts}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

func closeClient(c *http.Client) {
	switch t := c.Transport.(type) {
	case *http.Transport:
		t.CloseIdleConnections()
	case *http3.Transport:
		t.Close()
	}
}

// echo calls Echo with gRPC (TCP) or Connect (QUIC), like the real clients.
func echo(ctx context.Context, hc *http.Client, base string, grpc bool) (string, error) {
	var opts []connect.ClientOption
	if grpc {
		opts = append(opts, connect.WithGRPC())
	}
	c := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](hc, base+echoProc, opts...)
	resp, err := c.CallUnary(ctx, connect.NewRequest(wrapperspb.String("hi")))
	if err != nil {
		return "", err
	}
	return resp.Msg.GetValue(), nil
}

func health(ctx context.Context, hc *http.Client, base string, grpc bool) (string, error) {
	var opts []connect.ClientOption
	if grpc {
		opts = append(opts, connect.WithGRPC())
	}
	c := connect.NewClient[emptypb.Empty, wrapperspb.StringValue](hc, base+healthProc, opts...)
	resp, err := c.CallUnary(ctx, connect.NewRequest(&emptypb.Empty{}))
	if err != nil {
		return "", err
	}
	return resp.Msg.GetValue(), nil
}

// The flood tests run the server in a child process (this test binary
// again) so that its memory can be read from /proc without the flood's own.
const (
	childServerEnv = "PALYRA_TEST_FLOOD_SERVER" // the PKI directory
	childModeEnv   = "PALYRA_TEST_FLOOD_MODE"   // "palyra" or "bare"
)

// childServer serves until stdin closes. "palyra" is this package's Server;
// "bare" is a plain net/http TLS server and a plain http3.Server (quic-go
// defaults) with the same handler and TLS configuration, for comparison.
func childServer(dir, mode string) int {
	ca, err := loadTestCA(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tc, err := serverTLS(ca)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var addrs Addrs
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	switch mode {
	case "palyra":
		s, err := Listen(Config{Handler: testAPI(), TLS: tc, ListenAddr: "127.0.0.1:0"})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		addrs = s.Addrs()
		childStats = s.Stats()
		go func() { done <- s.Serve(ctx) }()
	case "bare":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		addrs.TCP, addrs.QUIC = ln.Addr().String(), udp.LocalAddr().String()
		// Library defaults, except for CountError, a metrics hook that
		// shows which of net/http's own HTTP/2 guards fired.
		hs := &http.Server{Handler: withPeer(peer.TCP, testAPI()), TLSConfig: tc, ErrorLog: log0(),
			HTTP2: &http.HTTP2Config{CountError: func(e string) {
				bareErrMu.Lock()
				bareErrs[e]++
				bareErrMu.Unlock()
			}}}
		h3 := &http3.Server{Handler: withPeer(peer.QUIC, testAPI()), TLSConfig: http3.ConfigureTLSConfig(tc)}
		go func() { done <- hs.ServeTLS(ln, "", "") }()
		go h3.Serve(udp)
		go func() { <-ctx.Done(); hs.Close(); h3.Close(); udp.Close() }()
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(addrs)
	io.Copy(io.Discard, os.Stdin)
	cancel()
	<-done
	return 0
}

// child is a server process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addrs Addrs
}

func startChild(t testing.TB, p *testPKI, mode string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childServerEnv+"="+p.dir, childModeEnv+"="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		t.Fatalf("child server: %v", err)
	}
	if err := json.Unmarshal(line, &c.addrs); err != nil {
		t.Fatalf("child server said %q: %v", line, err)
	}
	return c
}

// rss is the child's resident set size in bytes, from /proc.
func (c *child) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// mem asks the child for its heap figures (a device-only procedure).
func (c *child) mem(hc *http.Client, base string, gc bool) memStats {
	var m memStats
	u := base + memPath
	if gc {
		u += "?gc=1"
	}
	resp, err := hc.Get(u)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&m)
	return m
}

// latencies collects call durations and failures.
type latencies struct {
	mu   sync.Mutex
	d    []time.Duration
	errs int
	last error
}

func (l *latencies) add(d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errs++
		l.last = err
		return
	}
	l.d = append(l.d, d)
}

func (l *latencies) pct(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func (l *latencies) String() string {
	l.mu.Lock()
	n, e := len(l.d), l.errs
	l.mu.Unlock()
	return fmt.Sprintf("n=%d errors=%d p50=%s p99=%s max=%s", n, e, l.pct(0.50).Round(10*time.Microsecond), l.pct(0.99).Round(10*time.Microsecond), l.pct(1).Round(10*time.Microsecond))
}

// probe calls Echo every interval until ctx ends; fresh makes a new client
// (so a new connection and handshake) for every call; ts (QUIC only) keeps
// the server's address-validation tokens across those connections.
func probe(ctx context.Context, p *testPKI, quic bool, base string, interval time.Duration, fresh bool, ts quic.TokenStore, l *latencies) {
	mk := func() *http.Client {
		if quic {
			return h3ClientTokens(p, &p.device, ts)
		}
		return h2Client(p, &p.device)
	}
	hc := mk()
	defer func() { closeClient(hc) }()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if fresh {
			closeClient(hc)
			hc = mk()
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		start := time.Now()
		_, err := echo(cctx, hc, base, !quic)
		d := time.Since(start)
		cancel()
		if ctx.Err() != nil {
			return
		}
		l.add(d, err)
	}
}

func log0() *log.Logger { return log.New(io.Discard, "", 0) }
