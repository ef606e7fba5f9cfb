package exec

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// python runs a python3 script in the sandbox and returns its stdout;
// the test is skipped without /usr/bin/python3.
func python(t *testing.T, tl *Tool, script string, args ...string) string {
	t.Helper()
	py := realPath(t, "python3")
	doc, _ := jsonArgv(append([]string{py, "-c", script}, args...))
	res := run(t, tl, doc, nil)
	t.Logf("stdout %q stderr %q", res.Stdout, res.Stderr)
	return strings.TrimSpace(string(res.Stdout))
}

// accepted reports whether ln accepts a connection within d.
func accepted(ln *net.TCPListener, d time.Duration) bool {
	ln.SetDeadline(time.Now().Add(d))
	c, err := ln.Accept()
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestSandboxTCPFastOpen reproduces the Fast Open attack: sendto with
// MSG_FASTOPEN on an unconnected TCP socket connects without connect(2),
// which Landlock denies. The seccomp filter refuses it (EPERM), and
// TCP_FASTOPEN_CONNECT too; the listener sees no connection.
func TestSandboxTCPFastOpen(t *testing.T) {
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	tl := testTool(t, nil)
	out := python(t, tl, `
import socket, sys
def probe(name, f):
    try:
        f(); print(name + "=ok")
    except OSError as e:
        print(name + "=" + str(e.errno))
addr = ("127.0.0.1", int(sys.argv[1]))
probe("connect", lambda: socket.socket().connect(addr))
probe("sendto", lambda: socket.socket().sendto(b"x", socket.MSG_FASTOPEN, addr))
probe("sendmsg", lambda: socket.socket().sendmsg([b"x"], [], socket.MSG_FASTOPEN, addr))
probe("fastopen_connect", lambda: socket.socket().setsockopt(6, 30, 1))
`, port)
	for _, want := range []string{"connect=13", "sendto=1", "sendmsg=1", "fastopen_connect=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %s in %q (1 = EPERM, 13 = EACCES)", want, out)
		}
	}
	if accepted(ln, 300*time.Millisecond) {
		t.Fatal("the listener accepted a connection from the sandbox")
	}
}

// TestSandboxListenRefused reproduces the auto-bind attack: listen(2) on
// an unbound TCP socket binds it to 0.0.0.0 and a random port without
// bind(2). The seccomp filter refuses listen, accept and accept4 (EPERM).
func TestSandboxListenRefused(t *testing.T) {
	tl := testTool(t, nil)
	out := python(t, tl, `
import socket
def probe(name, f):
    try:
        r = f(); print(name + "=ok " + str(r))
    except OSError as e:
        print(name + "=" + str(e.errno))
s = socket.socket()
probe("bind", lambda: s.bind(("0.0.0.0", 0)))
probe("listen", lambda: s.listen(1))
probe("accept", lambda: s.accept())
`)
	for _, want := range []string{"bind=13", "listen=1", "accept=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %s in %q (1 = EPERM, 13 = EACCES)", want, out)
		}
	}
}

// TestSandboxDatagramSocketpair reproduces the datagram escape: an
// AF_UNIX datagram socketpair sendto(2)'s a pathname datagram socket
// outside the workspace (as /dev/log). The seccomp filter refuses
// datagram socketpairs; stream and seqpacket pairs still work.
func TestSandboxDatagramSocketpair(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tl := testTool(t, nil)
	out := python(t, tl, `
import socket, sys
def probe(name, f):
    try:
        f(); print(name + "=ok")
    except OSError as e:
        print(name + "=" + str(e.errno))
def dgram():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.sendto(b"escaped", sys.argv[1])
probe("dgram", dgram)
probe("dgram_cloexec", lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC))
probe("stream", lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM))
probe("seqpacket", lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK))
`, sock)
	for _, want := range []string{"dgram=1", "dgram_cloexec=1", "stream=ok", "seqpacket=ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %s in %q (1 = EPERM)", want, out)
		}
	}
	pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 64)
	if n, _, err := pc.ReadFrom(buf); err == nil {
		t.Fatalf("the datagram socket received %q from the sandbox", buf[:n])
	}
}
