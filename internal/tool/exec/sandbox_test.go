package exec

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSandboxCannotReachUnixSockets reproduces the admin-socket attack: a
// sandboxed program connecting to a pathname unix socket served as the
// daemon's own uid (as STATE_DIR/palyrad.sock is) — with curl, perl or
// python — fails, and the server sees no request. Landlock up to ABI 7
// does not govern connect(2) to pathname sockets; the seccomp filter
// refuses socket(AF_UNIX). socketpair(2) still works.
func TestSandboxCannotReachUnixSockets(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "palyrad.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	reached := make(chan string, 16)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- r.URL.Path
		w.Write([]byte("admin-secret"))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	tl := testTool(t, nil)
	attacks := map[string]string{
		"curl":    `{"argv":["curl","-sS","--max-time","5","--unix-socket","` + sock + `","-H","Content-Type: application/json","-d","{\"ref\":\"global/tok\"}","http://x/palyra.v1.VaultService/Get"]}`,
		"perl":    `{"argv":["perl","-MIO::Socket::UNIX","-e","my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die \"refused: $!\\n\"; print $s \"GET / HTTP/1.0\\r\\n\\r\\n\"; print <$s>","` + sock + `"]}`,
		"python3": `{"argv":["python3","-c","import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print(s.recv(4096))","` + sock + `"]}`,
	}
	ran := 0
	for name, doc := range attacks {
		if _, err := tl.res.resolve(name); err != nil {
			t.Logf("%s not installed: skipped", name)
			continue
		}
		ran++
		res := run(t, tl, doc, nil)
		if res.ExitCode == 0 || strings.Contains(string(res.Stdout), "admin-secret") {
			t.Errorf("%s reached the unix socket: exit %d stdout %q", name, res.ExitCode, res.Stdout)
		}
		t.Logf("%s: exit %d stderr %q", name, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
		if !strings.Contains(res.Sandbox, "seccomp=") {
			t.Errorf("sandbox %q does not state the seccomp filter", res.Sandbox)
		}
	}
	if ran == 0 {
		t.Skip("none of curl, perl, python3 installed")
	}
	select {
	case p := <-reached:
		t.Fatalf("the server saw a request for %s", p)
	default:
	}
	// socketpair(AF_UNIX) is harmless and keeps working.
	if _, err := tl.res.resolve("perl"); err == nil {
		res := run(t, tl, `{"argv":["perl","-MSocket","-e","socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, 0) or die \"socketpair: $!\\n\"; print \"pair\""]}`, nil)
		if res.ExitCode != 0 || string(res.Stdout) != "pair" {
			t.Errorf("socketpair: exit %d stdout %q stderr %q", res.ExitCode, res.Stdout, res.Stderr)
		}
	}
}

// TestSandboxSocketFilter: socket(2) is allowed only for AF_INET/AF_INET6
// with SOCK_STREAM/SOCK_DGRAM and protocol 0, TCP or UDP; AF_UNIX,
// AF_NETLINK, AF_PACKET, SOCK_RAW and IPPROTO_MPTCP fail with EPERM (as
// root too, where the kernel would grant raw and packet sockets), and the
// dangerous system calls of the denylist fail.
func TestSandboxSocketFilter(t *testing.T) {
	perl, err := filepath.EvalSymlinks("/usr/bin/perl")
	if err != nil {
		t.Skipf("no perl: %v", err)
	}
	tl := testTool(t, nil)
	// Each line: domain type protocol; the program prints ok or the errno.
	probe := `use Socket; use POSIX; for my $c (@ARGV) { my ($d,$ty,$p) = split /,/, $c; my $ok = socket(my $s, $d, $ty, $p); print "$c=", ($ok ? "ok" : ($!+0)), "\n" }`
	cases := map[string]string{
		"2,1,0": "ok", "2,2,0": "ok", "10,1,6": "ok", "10,2,17": "ok", "2,526337,0": "ok", // SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC
		"1,1,0": "1", "1,2,0": "1", "16,3,0": "1", "17,3,768": "1", "2,3,1": "1", "2,3,255": "1", "2,1,262": "1", "2,2,1": "1", "2,5,0": "1", "10,10,0": "1",
	}
	argv := []string{perl, "-e", probe}
	for c := range cases {
		argv = append(argv, c)
	}
	doc, _ := jsonArgv(argv)
	res := run(t, tl, doc, nil)
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	for c, want := range cases {
		if got[c] != want {
			t.Errorf("socket(%s): got %q, want %q (1 = EPERM)", c, got[c], want)
		}
	}
	if runtime.GOARCH != "amd64" {
		return
	}
	// Dangerous system calls fail with EPERM, where without the filter
	// they succeed or fail otherwise: ptrace(PTRACE_TRACEME),
	// unshare(CLONE_NEWUSER), io_uring_setup(1, NULL) (EFAULT),
	// keyctl(KEYCTL_GET_KEYRING_ID, session), clone3 (ENOSYS, 38).
	calls := map[string]string{"101,0": "1", "272,268435456": "1", "425,1": "1", "250,0,-3": "1", "435,0,0": "38"}
	var script strings.Builder
	for c := range calls {
		fmt.Fprintf(&script, "print \"%s=\", (syscall(%s, 0, 0, 0, 0) == -1 ? $!+0 : \"ok\"), \"\\n\";\n", c, c)
	}
	argv = []string{perl, "-e", script.String()}
	doc, _ = jsonArgv(argv)
	res = run(t, tl, doc, nil)
	got = map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	for c, want := range calls {
		if got[c] != want {
			t.Errorf("syscall(%s): got %q, want %q; stderr %q", c, got[c], want, res.Stderr)
		}
	}
}

func jsonArgv(argv []string) (string, error) {
	b, err := json.Marshal(map[string][]string{"argv": argv})
	return string(b), err
}

// TestRootCapabilitiesDropped: when the daemon runs as root the program
// keeps none of root's capabilities: a file of another user with mode
// 0000 (CAP_DAC_OVERRIDE) and chown (CAP_CHOWN) fail (raw and packet
// sockets: TestSandboxSocketFilter), and the result says uid=0. RLIMIT_NPROC stays
// unenforced for uid 0 (the kernel exempts it, capabilities or not), as
// documented and reported in the limits.
func TestRootCapabilitiesDropped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	perl, err := filepath.EvalSymlinks("/usr/bin/perl")
	if err != nil {
		t.Skipf("no perl: %v", err)
	}
	tl := testTool(t, nil)
	f := filepath.Join(tl.ws, "other")
	if err := os.WriteFile(f, []byte("other user's"), 0o000); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(f, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	script := `print open(my $f, "<", "other") ? "read " : "noread ";` +
		`print chown(0, 0, "other") ? "chown " : "nochown ";`
	doc, _ := jsonArgv([]string{perl, "-e", script})
	res := run(t, tl, doc, nil)
	if got := string(res.Stdout); got != "noread nochown " {
		t.Fatalf("root's capabilities survived: %q %q", got, res.Stderr)
	}
	if !strings.Contains(res.Sandbox, "uid=0(") || !strings.Contains(res.Sandbox, "caps=dropped") {
		t.Fatalf("sandbox %q does not say the daemon runs as root", res.Sandbox)
	}
	// nproc: the kernel exempts uid 0 even without capabilities.
	tl = testTool(t, func(c *Config) { c.Processes = 1 })
	res = run(t, tl, `{"argv":["`+perl+`","-e","my $p = fork(); if (!defined $p) { print \"refused\" } elsif ($p == 0) { exit 0 } else { waitpid($p, 0); print \"forked\" }"]}`, nil)
	if string(res.Stdout) != "forked" {
		t.Fatalf("nproc for uid 0: %q %q (the kernel is documented to exempt uid 0)", res.Stdout, res.Stderr)
	}
	if !slices.ContainsFunc(tl.limitNames(), func(s string) bool { return strings.Contains(s, "nproc=1(not enforced for root)") }) {
		t.Fatalf("limits %q do not say nproc is not enforced", tl.limitNames())
	}
}

// TestTruncationHidesSecretPrefix reproduces the truncation leak: a
// program prints filler up to 8 bytes short of the output limit, then an
// injected secret; the output is cut at the limit and must not end with
// the secret's first 8 bytes.
func TestTruncationHidesSecretPrefix(t *testing.T) {
	perl, err := filepath.EvalSymlinks("/usr/bin/perl")
	if err != nil {
		t.Skipf("no perl: %v", err)
	}
	tl := testTool(t, nil) // OutputBytes 1 MiB
	secret := "s3cr3t-value-42-abcdef"
	for _, short := range []int{1, 8, len(secret) - 1} {
		doc := fmt.Sprintf(`{"argv":["%s","-e","$| = 1; print \"x\" x (1048576-%d); print $ENV{T}; sleep 5"],"env":{"T":"vault://global/t"}}`, perl, short)
		res := run(t, tl, doc, map[string][]byte{"T": []byte(secret)})
		if !res.Truncated || res.Killed != "output_limit" {
			t.Fatalf("short %d: not truncated: killed %q, %d bytes", short, res.Killed, len(res.Stdout))
		}
		for n := 1; n < len(secret); n++ {
			if strings.HasSuffix(string(res.Stdout), secret[:n]) {
				t.Fatalf("short %d: stdout ends with the secret's first %d bytes", short, n)
			}
		}
	}
}

// TestDescendantsDoNotOutliveTheCall reproduces the escape: a child that
// calls setsid (leaving the process group) and closes its output, then
// writes a file a second later, while its parent exits at once — or is
// killed at the wall-time limit. The supervisor kills it when the call
// ends: the file never appears.
func TestDescendantsDoNotOutliveTheCall(t *testing.T) {
	perl, err := filepath.EvalSymlinks("/usr/bin/perl")
	if err != nil {
		t.Skipf("no perl: %v", err)
	}
	// The parent that exits by itself gets a wall time a loaded machine
	// cannot reach; the other is killed at 500 ms.
	tl := testTool(t, func(c *Config) { c.Wall = 30 * time.Second })
	short := testTool(t, func(c *Config) { c.Wall = 500 * time.Millisecond })
	escape := func(mark, parent string) string {
		return `{"argv":["` + perl + `","-MPOSIX","-e","if (fork() == 0) { POSIX::setsid(); close STDOUT; close STDERR; close STDIN; sleep 1; open(my $f, \">\", \"` + mark + `\"); exit 0 } ` + parent + `"]}`
	}
	res := run(t, tl, escape("escaped-exit", "select(undef, undef, undef, 0.2); exit 0;"), nil)
	if res.ExitCode != 0 || res.Killed != "" {
		t.Fatalf("exit: %+v stderr %q", res, res.Stderr)
	}
	res = run(t, short, escape("escaped-timeout", "sleep 30;"), nil)
	if res.Killed != "timeout" || res.Signal != "killed" {
		t.Fatalf("timeout: killed %q signal %q", res.Killed, res.Signal)
	}
	time.Sleep(2 * time.Second) // past the child's 1 s
	for m, ws := range map[string]string{"escaped-exit": tl.ws, "escaped-timeout": short.ws} {
		if _, err := os.Stat(filepath.Join(ws, m)); err == nil {
			t.Errorf("a descendant outlived the call and wrote %s", m)
		}
	}
}

// TestLargeArgumentReachesTheProgram: a 60 KiB argument of "<" (which
// HTML-escaping JSON would make 360 KB, past the kernel's 128 KiB limit
// on one argv string) reaches the program intact: the launcher's spec
// travels on a pipe, not in its argv, and is not HTML-escaped.
func TestLargeArgumentReachesTheProgram(t *testing.T) {
	tl := testTool(t, nil)
	arg := strings.Repeat("<", 60<<10)
	res, err := tl.Run(context.Background(), plan(t, tl, `{"argv":["printf","%s","`+arg+`"]}`), nil)
	if err != nil {
		t.Fatalf("run: %.200v", err)
	}
	if res.ExitCode != 0 || string(res.Stdout) != arg {
		t.Fatalf("exit %d, %d bytes of stdout, stderr %q", res.ExitCode, len(res.Stdout), res.Stderr)
	}
}
