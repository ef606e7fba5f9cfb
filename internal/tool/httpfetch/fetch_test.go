package httpfetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/tool/netguard"
)

const secretValue = "Bearer s3cr3t-t0ken-value"

// table is a Resolver answering from a fixed map and counting lookups.
type table struct {
	mu      sync.Mutex
	answers map[string][][]netip.Addr // successive answers; the last repeats
	lookups map[string]int
}

func newTable(m map[string]string) *table {
	t := &table{answers: map[string][][]netip.Addr{}, lookups: map[string]int{}}
	for name, addrs := range m {
		var ans [][]netip.Addr
		for set := range strings.SplitSeq(addrs, "|") {
			var as []netip.Addr
			for a := range strings.SplitSeq(set, ",") {
				as = append(as, netip.MustParseAddr(a))
			}
			ans = append(ans, as)
		}
		t.answers[name] = ans
	}
	return t
}

func (t *table) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ans, ok := t.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	n := t.lookups[host]
	t.lookups[host]++
	return ans[min(n, len(ans)-1)], nil
}

func (t *table) count(host string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lookups[host]
}

// server is a loopback test server recording what it received.
type server struct {
	*httptest.Server
	hits    atomic.Int32
	mu      sync.Mutex
	headers []http.Header
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) port() uint16 {
	return netip.MustParseAddrPort(s.Listener.Addr().String()).Port()
}

func (s *server) lastHeader() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers[len(s.headers)-1]
}

var quietLog = log.New(io.Discard, "", 0)

var only127 = netguard.Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

func opts(r Resolver) Options {
	return Options{
		Allow:    only127,
		Resolver: r,
		Secrets:  http.Header{"Authorization": {secretValue}},
		Timeout:  10 * time.Second,
	}
}

func hello(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") }

func TestFetchAllowedLoopbackServer(t *testing.T) {
	s := newServer(t, hello)
	res, err := Fetch(context.Background(), Request{URL: s.URL + "/x?q=1", Header: http.Header{"X-Trace": {"t1"}}}, opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || string(res.Body) != "hello" || res.Truncated || res.Redirects != 0 {
		t.Fatalf("response %+v", res)
	}
	if res.RemoteAddr != netip.MustParseAddrPort(s.Listener.Addr().String()) {
		t.Errorf("RemoteAddr %v, want %v", res.RemoteAddr, s.Listener.Addr())
	}
	if res.URL != s.URL+"/x?q=1" || res.Timing.Total <= 0 || res.Timing.Connect <= 0 {
		t.Errorf("URL %q timing %+v", res.URL, res.Timing)
	}
	h := s.lastHeader()
	if h.Get("Authorization") != secretValue || h.Get("X-Trace") != "t1" || h.Get("User-Agent") != DefaultUserAgent {
		t.Errorf("server received %v", h)
	}
}

// wantRefused asserts err is a refusal naming want, and free of the secret.
func wantRefused(t *testing.T, what string, err error, sentinel error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: fetched, want refusal", what)
		return
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("%s: error %v does not wrap %v", what, err, sentinel)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %q does not say %q", what, err, want)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("%s: error %q leaks the secret", what, err)
	}
}

func TestFetchRefusesNonPublicTargetsByDefault(t *testing.T) {
	s := newServer(t, hello)
	port := s.port()
	res := newTable(map[string]string{
		"private.test":  "10.0.0.1",
		"mixed.test":    "93.184.216.34,192.168.1.10",
		"mapped.test":   "::ffff:127.0.0.1",
		"loopback.test": "127.0.0.1",
		"meta.test":     "169.254.169.254",
		"nat64.test":    "64:ff9b::7f00:1",
		"zoned.test":    "fe80::1%lo",
	})
	cases := []struct {
		url      string
		sentinel error
		want     string
	}{
		{fmt.Sprintf("http://127.0.0.1:%d/", port), netguard.ErrBlocked, "127.0.0.1 is loopback"},
		{fmt.Sprintf("http://[::1]:%d/", port), netguard.ErrBlocked, "::1 is loopback"},
		{"http://169.254.169.254/latest/meta-data/", netguard.ErrBlocked, "169.254.169.254 is metadata"},
		{"http://[fd00:ec2::254]/", netguard.ErrBlocked, "metadata"},
		{"http://100.100.100.200/", netguard.ErrBlocked, "metadata"},
		{"http://10.0.0.1/", netguard.ErrBlocked, "private"},
		{"http://[::ffff:127.0.0.1]/", netguard.ErrBlocked, "IPv4-mapped"},
		{fmt.Sprintf("http://0x7f.1:%d/", port), netguard.ErrURL, "non-canonical"},
		{fmt.Sprintf("http://0177.0.0.1:%d/", port), netguard.ErrURL, "non-canonical"},
		{fmt.Sprintf("http://2130706433:%d/", port), netguard.ErrURL, "non-canonical"},
		{fmt.Sprintf("http://127.1:%d/", port), netguard.ErrURL, "non-canonical"},
		{"http://private.test/", netguard.ErrBlocked, "10.0.0.1 is private"},
		{"http://mixed.test/", netguard.ErrBlocked, "192.168.1.10 is private"},
		{fmt.Sprintf("http://mapped.test:%d/", port), netguard.ErrBlocked, "loopback"},
		{fmt.Sprintf("http://loopback.test:%d/", port), netguard.ErrBlocked, "loopback"},
		{"http://meta.test/", netguard.ErrBlocked, "metadata"},
		{"http://nat64.test/", netguard.ErrBlocked, "NAT64"},
		{"http://zoned.test/", netguard.ErrBlocked, "zone"},
		{"http://user:pw@example.com/", netguard.ErrURL, "user information"},
		{"file:///etc/passwd", netguard.ErrURL, "scheme"},
	}
	o := opts(res)
	o.Allow = netguard.Allow{} // the default: nothing but public unicast
	for _, c := range cases {
		_, err := Fetch(context.Background(), Request{URL: c.url}, o)
		wantRefused(t, c.url, err, c.sentinel, c.want)
	}
	if n := s.hits.Load(); n != 0 {
		t.Fatalf("the loopback server was reached %d times", n)
	}
}

func TestFetchRefusesRedirectsToNonPublicTargets(t *testing.T) {
	res := newTable(map[string]string{"private.test": "10.0.0.1", "alias.test": "127.0.0.1"})
	var target atomic.Value
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/landed" {
			io.WriteString(w, "landed")
			return
		}
		http.Redirect(w, r, target.Load().(string), http.StatusFound)
	})
	port := s.port()
	// A second server on [::1], to prove a redirect there never reaches it.
	var v6hits atomic.Int32
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		v6 := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { v6hits.Add(1) }))
		v6.Listener = ln
		v6.Start()
		t.Cleanup(v6.Close)
		port6 := netip.MustParseAddrPort(ln.Addr().String()).Port()
		target.Store(fmt.Sprintf("http://[::1]:%d/landed", port6))
		_, err := Fetch(context.Background(), Request{URL: s.URL + "/"}, opts(res))
		wantRefused(t, "redirect to [::1]", err, netguard.ErrBlocked, "::1 is loopback")
	}
	cases := []struct {
		loc      string
		sentinel error
		want     string
	}{
		{"http://169.254.169.254/latest/meta-data/iam/", netguard.ErrBlocked, "169.254.169.254 is metadata"},
		{"http://10.0.0.1/", netguard.ErrBlocked, "10.0.0.1 is private"},
		{fmt.Sprintf("http://127.0.0.2:%d/landed", port), netguard.ErrBlocked, "127.0.0.2 is loopback"},
		{fmt.Sprintf("http://0x7f.1:%d/landed", port), netguard.ErrURL, "non-canonical"},
		{fmt.Sprintf("http://0x7f000001:%d/landed", port), netguard.ErrURL, "non-canonical"},
		{"http://private.test/", netguard.ErrBlocked, "10.0.0.1 is private"},
		{"http://[::ffff:a9fe:a9fe]/", netguard.ErrBlocked, "metadata"},
		{"ftp://example.com/", netguard.ErrURL, "scheme"},
		{"http://u:p@example.com/", netguard.ErrURL, "user information"},
	}
	for _, c := range cases {
		target.Store(c.loc)
		_, err := Fetch(context.Background(), Request{URL: s.URL + "/"}, opts(res))
		wantRefused(t, "redirect to "+c.loc, err, c.sentinel, c.want)
	}
	if v6hits.Load() != 0 {
		t.Fatal("the [::1] server was reached")
	}
	// The control: a redirect to an allowed place is followed.
	target.Store(fmt.Sprintf("http://alias.test:%d/landed", port))
	r, err := Fetch(context.Background(), Request{URL: s.URL + "/"}, opts(res))
	if err != nil || string(r.Body) != "landed" || r.Redirects != 1 {
		t.Fatalf("allowed redirect: %v %+v", err, r)
	}
}

func TestSecretsStayWithTheirOrigin(t *testing.T) {
	b := newServer(t, hello)
	a := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/cross":
			http.Redirect(w, r, b.URL+"/final", http.StatusTemporaryRedirect)
		default:
			io.WriteString(w, "a")
		}
	})
	req := Request{URL: a.URL + "/same", Header: http.Header{"X-Trace": {"t1"}, "Cookie": {"c=1"}}}
	if _, err := Fetch(context.Background(), req, opts(nil)); err != nil {
		t.Fatal(err)
	}
	if h := a.lastHeader(); h.Get("Authorization") != secretValue || h.Get("Cookie") != "c=1" {
		t.Fatalf("same-origin redirect lost headers: %v", h)
	}
	req.URL = a.URL + "/cross"
	res, err := Fetch(context.Background(), req, opts(nil))
	if err != nil || string(res.Body) != "hello" {
		t.Fatalf("cross-origin redirect: %v %+v", err, res)
	}
	h := b.lastHeader()
	if h.Get("Authorization") != "" || h.Get("Cookie") != "" {
		t.Fatalf("a different origin (other port) received credentials: %v", h)
	}
	if h.Get("X-Trace") != "t1" {
		t.Fatalf("plain headers are forwarded: %v", h)
	}
}

func TestRedirectsAreBounded(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
	})
	_, err := Fetch(context.Background(), Request{URL: s.URL + "/"}, opts(nil))
	if !errors.Is(err, ErrTooManyRedirects) {
		t.Fatalf("err = %v", err)
	}
	if n := s.hits.Load(); n != DefaultMaxRedirects+1 {
		t.Fatalf("%d requests, want %d", n, DefaultMaxRedirects+1)
	}
	o := opts(nil)
	o.MaxRedirects = 2
	if _, err := Fetch(context.Background(), Request{URL: s.URL + "/"}, o); !errors.Is(err, ErrTooManyRedirects) || !strings.Contains(err.Error(), "more than 2") {
		t.Fatalf("err = %v", err)
	}
	o.MaxRedirects = -1
	res, err := Fetch(context.Background(), Request{URL: s.URL + "/"}, o)
	if err != nil || res.Status != http.StatusFound || res.Header.Get("Location") != "/x" {
		t.Fatalf("MaxRedirects -1: %v %+v", err, res)
	}
}

func TestRedirectMethods(t *testing.T) {
	var got []string
	var mu sync.Mutex
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		mu.Unlock()
		switch r.URL.Path {
		case "/303":
			http.Redirect(w, r, "/end", http.StatusSeeOther)
		case "/307":
			http.Redirect(w, r, "/end", http.StatusTemporaryRedirect)
		}
	})
	for _, p := range []string{"/303", "/307"} {
		if _, err := Fetch(context.Background(), Request{Method: "POST", URL: s.URL + p, Body: []byte("payload")}, opts(nil)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"POST /303 payload", "GET /end ", "POST /307 payload", "POST /end payload"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestResponseSizeBound(t *testing.T) {
	big := strings.Repeat("0123456789", 1<<20) // 10 MiB
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/exact" {
			io.WriteString(w, big[:1000])
			return
		}
		io.WriteString(w, big)
	})
	o := opts(nil)
	o.MaxResponseBytes = 1000
	res, err := Fetch(context.Background(), Request{URL: s.URL + "/big"}, o)
	if err != nil || len(res.Body) != 1000 || !res.Truncated || string(res.Body) != big[:1000] {
		t.Fatalf("big: %v len %d truncated %v", err, len(res.Body), res.Truncated)
	}
	res, err = Fetch(context.Background(), Request{URL: s.URL + "/exact"}, o)
	if err != nil || len(res.Body) != 1000 || res.Truncated {
		t.Fatalf("exact: %v len %d truncated %v", err, len(res.Body), res.Truncated)
	}
	res, err = Fetch(context.Background(), Request{URL: s.URL + "/big"}, opts(nil))
	if err != nil || len(res.Body) != DefaultMaxResponseBytes || !res.Truncated {
		t.Fatalf("default bound: %v len %d", err, len(res.Body))
	}
}

func TestTimeLimit(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/trickle" {
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	o := opts(nil)
	o.Timeout = 200 * time.Millisecond
	for _, p := range []string{"/hang", "/trickle"} {
		_, err := Fetch(context.Background(), Request{URL: s.URL + p}, o)
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("%s: err = %v, want ErrTimeout", p, err)
		}
	}
}

func TestHeadersAreValidatedWithoutEchoingValues(t *testing.T) {
	s := newServer(t, hello)
	for name, c := range map[string]struct {
		h, secrets http.Header
		want       string
	}{
		"crlf in secret":     {nil, http.Header{"Authorization": {"Bearer s3cr3t\r\nX-Evil: 1"}}, "Authorization has an invalid value"},
		"nul in secret":      {nil, http.Header{"X-Api-Key": {"s3cr3t\x00"}}, "X-Api-Key has an invalid value"},
		"bad name":           {http.Header{"Bad Name": {"v"}}, nil, "not a valid field name"},
		"host header":        {http.Header{"Host": {"evil"}}, nil, "Host is set by the transport"},
		"transfer-encoding":  {http.Header{"Transfer-Encoding": {"chunked"}}, nil, "set by the transport"},
		"secret sets length": {nil, http.Header{"Content-Length": {"s3cr3t"}}, "set by the transport"},
	} {
		o := opts(nil)
		o.Secrets = c.secrets
		_, err := Fetch(context.Background(), Request{URL: s.URL, Header: c.h}, o)
		wantRefused(t, name, err, ErrHeader, c.want)
	}
	if s.hits.Load() != 0 {
		t.Fatal("a refused request reached the server")
	}
}

func TestConnectionIsPinnedToTheCheckedAddress(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			w.Header().Set("Connection", "close") // the next hop needs a new connection
			http.Redirect(w, r, "/again", http.StatusFound)
			return
		}
		io.WriteString(w, r.Host)
	})
	port := s.port()
	// One lookup per connection, and the name is what the server sees.
	res := newTable(map[string]string{"svc.test": "127.0.0.1"})
	r, err := Fetch(context.Background(), Request{URL: fmt.Sprintf("http://svc.test:%d/again", port)}, opts(res))
	if err != nil || string(r.Body) != fmt.Sprintf("svc.test:%d", port) {
		t.Fatalf("%v %+v", err, r)
	}
	if n := res.count("svc.test"); n != 1 {
		t.Fatalf("%d lookups for one connection", n)
	}
	// Rebinding: the second connection's answer is private and is refused.
	res = newTable(map[string]string{"rebind.test": "127.0.0.1|10.0.0.1"})
	_, err = Fetch(context.Background(), Request{URL: fmt.Sprintf("http://rebind.test:%d/", port)}, opts(res))
	wantRefused(t, "rebinding", err, netguard.ErrBlocked, "10.0.0.1 is private")
}

func TestTLSVerifiesTheHostNameOverThePinnedAddress(t *testing.T) {
	s := httptest.NewUnstartedServer(http.HandlerFunc(hello)) // certificate for example.com and 127.0.0.1
	s.Config.ErrorLog = quietLog                              // the refused handshakes are expected
	s.StartTLS()
	t.Cleanup(s.Close)
	port := netip.MustParseAddrPort(s.Listener.Addr().String()).Port()
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	res := newTable(map[string]string{"example.com": "127.0.0.1", "other.test": "127.0.0.1"})
	o := opts(res)
	o.RootCAs = pool
	r, err := Fetch(context.Background(), Request{URL: fmt.Sprintf("https://example.com:%d/", port)}, o)
	if err != nil || string(r.Body) != "hello" || r.Timing.TLSHandshake <= 0 {
		t.Fatalf("%v %+v", err, r)
	}
	_, err = Fetch(context.Background(), Request{URL: fmt.Sprintf("https://other.test:%d/", port)}, o)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("certificate for another name accepted: %v", err)
	}
}

func TestProxyEnvironmentIsIgnored(t *testing.T) {
	proxy := newServer(t, hello)
	s := newServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "direct") })
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	r, err := Fetch(context.Background(), Request{URL: s.URL}, opts(nil))
	if err != nil || string(r.Body) != "direct" || proxy.hits.Load() != 0 {
		t.Fatalf("%v %+v proxy hits %d", err, r, proxy.hits.Load())
	}
}

func TestNoCookieJar(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "v"})
			http.Redirect(w, r, "/next", http.StatusFound)
		}
	})
	if _, err := Fetch(context.Background(), Request{URL: s.URL + "/"}, opts(nil)); err != nil {
		t.Fatal(err)
	}
	if c := s.lastHeader().Get("Cookie"); c != "" {
		t.Fatalf("a cookie was stored and sent: %q", c)
	}
}

func TestHostsBindEveryHop(t *testing.T) {
	res := newTable(map[string]string{"api.test": "127.0.0.1", "cdn.api.test": "127.0.0.1", "other.test": "127.0.0.1"})
	var to atomic.Value
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/go" {
			http.Redirect(w, r, to.Load().(string), http.StatusFound)
			return
		}
		io.WriteString(w, "ok")
	})
	port := s.port()
	o := opts(res)
	o.Hosts = []string{"api.test", "*.api.test"}
	u := func(host, p string) string { return fmt.Sprintf("http://%s:%d%s", host, port, p) }

	to.Store(u("cdn.api.test", "/end"))
	if r, err := Fetch(context.Background(), Request{URL: u("api.test", "/go")}, o); err != nil || string(r.Body) != "ok" {
		t.Fatalf("allowed hosts: %v", err)
	}
	to.Store(u("other.test", "/end"))
	_, err := Fetch(context.Background(), Request{URL: u("api.test", "/go")}, o)
	wantRefused(t, "redirect to other.test", err, ErrHostNotAllowed, "other.test is not among")
	_, err = Fetch(context.Background(), Request{URL: u("other.test", "/end")}, o)
	wantRefused(t, "other.test", err, ErrHostNotAllowed, "other.test")
	_, err = Fetch(context.Background(), Request{URL: u("127.0.0.1", "/end")}, o)
	wantRefused(t, "an IP literal", err, ErrHostNotAllowed, "127.0.0.1")
	if res.count("other.test") != 0 {
		t.Fatal("a host outside Hosts was resolved")
	}
}

func TestDecodedBodyIsBounded(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(make([]byte, 10<<20)) // 10 MiB of zeros, ~10 KiB compressed
	zw.Close()
	s := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz.Bytes())
	})
	o := opts(nil)
	o.MaxResponseBytes = 4096
	r, err := Fetch(context.Background(), Request{URL: s.URL}, o)
	if err != nil || len(r.Body) != 4096 || !r.Truncated {
		t.Fatalf("%v len %d truncated %v", err, len(r.Body), r.Truncated)
	}
}

func TestHTTP2OverTLS(t *testing.T) {
	s := httptest.NewUnstartedServer(http.HandlerFunc(hello))
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	o := opts(nil)
	o.RootCAs = pool
	r, err := Fetch(context.Background(), Request{URL: s.URL}, o)
	if err != nil || r.Proto != "HTTP/2.0" || string(r.Body) != "hello" || !r.RemoteAddr.IsValid() {
		t.Fatalf("%v %+v", err, r)
	}
}

func TestNextCheckedAddressIsTriedWhenOneFails(t *testing.T) {
	s := newServer(t, hello)
	res := newTable(map[string]string{"two.test": "127.0.0.2,127.0.0.1"}) // nothing listens on 127.0.0.2
	o := opts(res)
	o.Allow = netguard.Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	r, err := Fetch(context.Background(), Request{URL: fmt.Sprintf("http://two.test:%d/", s.port())}, o)
	if err != nil || r.RemoteAddr.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("%v %+v", err, r)
	}
}

func TestConnectIsRefused(t *testing.T) {
	s := newServer(t, hello)
	_, err := Fetch(context.Background(), Request{Method: "CONNECT", URL: s.URL}, opts(nil))
	wantRefused(t, "CONNECT", err, ErrRequest, "CONNECT")
	_, err = Fetch(context.Background(), Request{Method: "GET /x HTTP/1.1\r\n", URL: s.URL}, opts(nil))
	wantRefused(t, "bad method", err, ErrRequest, "method")
	if s.hits.Load() != 0 {
		t.Fatal("reached the server")
	}
}

func TestResponseHeadersAreBounded(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("a", 100<<10))
	})
	if _, err := Fetch(context.Background(), Request{URL: s.URL}, opts(nil)); err == nil || !strings.Contains(err.Error(), "header") {
		t.Fatalf("100 KiB of headers accepted: %v", err)
	}
}

func TestIPv6LiteralAllowedExplicitly(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(hello))
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	o := opts(nil)
	o.Allow = netguard.Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("::1/128")}}
	o.Hosts = []string{"::1"}
	r, err := Fetch(context.Background(), Request{URL: s.URL}, o)
	if err != nil || string(r.Body) != "hello" || r.RemoteAddr.Addr() != netip.IPv6Loopback() {
		t.Fatalf("%v %+v", err, r)
	}
}

func TestTLS13IsTheDefaultMinimum(t *testing.T) {
	s := httptest.NewUnstartedServer(http.HandlerFunc(hello))
	s.TLS = &tls.Config{MaxVersion: tls.VersionTLS12}
	s.Config.ErrorLog = quietLog
	s.StartTLS()
	t.Cleanup(s.Close)
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	o := opts(nil)
	o.RootCAs = pool
	if _, err := Fetch(context.Background(), Request{URL: s.URL}, o); err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("TLS 1.2 server accepted by default: %v", err)
	}
	o.MinTLSVersion = tls.VersionTLS12
	if r, err := Fetch(context.Background(), Request{URL: s.URL}, o); err != nil || string(r.Body) != "hello" {
		t.Fatalf("TLS 1.2 allowed explicitly: %v", err)
	}
}

// TestTransportFailuresAreClassified: a TLS certificate that does not
// verify, on the first request or after a redirect from https to http
// and back, is ErrTransport with the reason, not an unclassified error.
func TestTransportFailuresAreClassified(t *testing.T) {
	untrusted := httptest.NewUnstartedServer(http.HandlerFunc(hello))
	untrusted.Config.ErrorLog = quietLog // the refused handshakes are expected
	untrusted.StartTLS()
	t.Cleanup(untrusted.Close)
	_, err := Fetch(context.Background(), Request{URL: untrusted.URL + "/"}, opts(newTable(nil)))
	if !errors.Is(err, ErrTransport) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	down := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, untrusted.URL+"/", http.StatusFound)
	})
	_, err = Fetch(context.Background(), Request{URL: fmt.Sprintf("http://127.0.0.1:%d/", down.port())}, opts(newTable(nil)))
	if !errors.Is(err, ErrTransport) || !strings.Contains(err.Error(), "redirect 1 to 127.0.0.1") {
		t.Fatalf("redirect to an untrusted certificate: %v", err)
	}
}
