package transport

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/peer"
	"github.com/palyra/palyra/internal/pki"
)

// unixClientEnv makes the test binary act as a socket client (see TestMain).
const unixClientEnv = "PALYRA_TEST_UNIX_CLIENT"

func TestMain(m *testing.M) {
	if path := os.Getenv(unixClientEnv); path != "" {
		os.Exit(unixClient(path))
	}
	if spec := os.Getenv(floodClientEnv); spec != "" {
		os.Exit(floodClient(spec))
	}
	if dir := os.Getenv(childServerEnv); dir != "" {
		os.Exit(childServer(dir, os.Getenv(childModeEnv)))
	}
	os.Exit(m.Run())
}

// unixClient GETs / over the socket and exits 0 only if the server answered.
func unixClient(path string) int {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	resp, err := hc.Get("http://palyrad/")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Print(string(b))
	return 0
}

// startUnix serves a handler that echoes the caller's uid on a socket in a
// world-traversable directory, so that the only thing keeping another uid
// out is the listener's SO_PEERCRED check.
func startUnix(t *testing.T, owner int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "palyra-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "s.sock")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := peer.FromContext(r.Context())
		fmt.Fprintf(w, "%s uid=%d", p.Transport, p.UID)
	})
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), make([]byte, 32), "test")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := pki.NewServerCert(ca, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen(Config{Handler: h, TLS: ServerTLSConfig(sc.GetCertificate, ca.Pool(), nil), ListenAddr: "127.0.0.1:0", SocketPath: path, OwnerUID: owner})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return path
}

func runClient(t *testing.T, path string, cred *syscall.Credential) (string, error) {
	t.Helper()
	bin := os.Args[0]
	if cred != nil {
		// The test binary lives in a 0700 build directory: give the other
		// uid a copy it can execute, beside the socket.
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(filepath.Dir(path), "client")
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), unixClientEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.Output()
	return string(out), err
}

func TestUnixSocketServesOwner(t *testing.T) {
	path := startUnix(t, os.Getuid())
	out, err := runClient(t, path, nil)
	if err != nil || out != "unix uid="+strconv.Itoa(os.Getuid()) {
		t.Fatalf("owner: %q %v", out, err)
	}
}

// TestUnixSocketRefusesOtherUID connects as uid 65534 with the socket's
// file mode opened up (0666) for the test: the connection must still be
// refused, by peer credentials, before any request is served.
func TestUnixSocketRefusesOtherUID(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	path := startUnix(t, os.Getuid())
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	out, err := runClient(t, path, &syscall.Credential{Uid: 65534, Gid: 65534})
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		// Anything but the client's own "no answer" exit (for example the
		// child failing to start) would prove nothing about the listener.
		t.Fatalf("uid 65534 client: out %q, err %v", out, err)
	}
	t.Logf("uid 65534 refused: %s", ee.Stderr)
	// The owner is still served afterwards.
	if out, err := runClient(t, path, nil); err != nil {
		t.Fatalf("owner after refusal: %q %v", out, err)
	}
}

func TestUnixSocketRefusesWhenOwnerDiffers(t *testing.T) {
	// The same check seen from the other side, without root: a listener
	// whose owner is some other uid refuses us.
	path := startUnix(t, os.Getuid()+1)
	out, err := runClient(t, path, nil)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("non-owner client: out %q, err %v; want the client's own no-answer exit", out, err)
	}
}
