package main

import (
	"bytes"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	_ "modernc.org/sqlite"
)

// binDir holds the palyra and palyrad binaries built for this test run.
var binDir string

// TestMain builds both binaries once; the scripts run them as a user
// would, as real processes.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "palyra-script-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	out, err := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"github.com/palyra/palyra/cmd/palyra", "github.com/palyra/palyra/cmd/palyrad").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build palyra, palyrad: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestScripts runs testdata/*.txtar: the CLI contract of the README, one
// script per topic, against real palyrad and palyra processes.
//
// Besides testscript's own commands, the scripts have:
//
//	palyrad-start DIR [FLAG...]  start palyrad --state-dir DIR --listen 127.0.0.1:0 [FLAG...]
//	                             in the background and wait for DIR/palyrad.addr;
//	                             it is stopped (SIGTERM) when the script ends
//	palyrad-stop DIR             stop it now (SIGTERM) and require a clean exit
//	palyrad-kill DIR             kill it (SIGKILL), leaving its socket and lock behind
//	exitcode N PROG [ARG...]     run PROG, require exit code N exactly; for palyra
//	                             failing, also require exactly one stderr line
//	                             starting "palyra: ", or with --json the object
//	                             {"error", "code", "exit": N} and an empty stdout
//	jsonvar VAR KEY              set $VAR to the string or integer at KEY (a.0.b: object
//	                             keys and array indices) in the JSON on the
//	                             last command's stdout
//	freeport VAR                 set $VAR to a loopback port free on TCP and UDP
//	sqlite DB SQL                run one statement on a database, as an
//	                             attacker with access to the files would
//	filevar VAR FILE             set $VAR to FILE's content, without its final newline
//	pendingapproval VAR DB       wait (polling, at most 30s) until the approvals
//	                             database DB holds a pending approval; set $VAR
//	                             to the id of the newest
//	examples STATE_DIR WORD...   run every Example line of palyra WORD... with
//	                             --state-dir STATE_DIR; each must succeed
//	stdoutvar VAR REGEXP         set $VAR to the first submatch of REGEXP (multi-line
//	                             mode) in the last command's stdout
//	certexpired BUNDLE_DIR       wait (polling, at most 30s) until the bundle's
//	                             certificate has expired
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		// [root]: the tests run as root (palyrad then runs as root, which
		// the security audit reports as a medium finding).
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Values[daemonsKey{}] = &daemons{t: env.T(), procs: map[string]*daemonProc{}}
			return nil
		},
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"palyrad-start":   cmdPalyradStart,
			"palyrad-stop":    cmdPalyradStop,
			"palyrad-kill":    cmdPalyradKill,
			"exitcode":        cmdExitcode,
			"jsonvar":         cmdJSONVar,
			"freeport":        cmdFreeport,
			"sqlite":          cmdSQLite,
			"certexpired":     cmdCertExpired,
			"filevar":         cmdFileVar,
			"pendingapproval": cmdPendingApproval,
			"examples":        cmdExamples,
			"stdoutvar":       cmdStdoutVar,
		},
	})
}

type daemonsKey struct{}

// daemons are the palyrad processes of one script, by state directory.
type daemons struct {
	t     testscript.T
	procs map[string]*daemonProc
}

// daemonProc is a running palyrad.
type daemonProc struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
	err    error // cmd.Wait's result, set before exited is closed
	killed bool  // by palyrad-kill: its exit is not a failure
}

// syncBuffer is a bytes.Buffer safe for the process's writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// readyTimeout bounds the wait for palyrad.addr; stopTimeout the wait for
// a clean exit after SIGTERM.
const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

func cmdPalyradStart(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: palyrad-start DIR [FLAG...]")
	}
	ds := ts.Value(daemonsKey{}).(*daemons)
	dir := ts.MkAbs(args[0])
	if d := ds.procs[dir]; d != nil && !d.done() {
		ts.Fatalf("palyrad already running on %s", dir)
	}
	// A daemon that was killed leaves its palyrad.addr behind: wait for a
	// new file (palyrad replaces it atomically; the inode number may be
	// reused, the modification time is new), not for any file.
	addrFile := filepath.Join(dir, "palyrad.addr")
	stale, _ := os.Stat(addrFile)
	cmd := exec.Command(filepath.Join(binDir, "palyrad"), append([]string{"--state-dir", dir, "--listen", "127.0.0.1:0"}, args[1:]...)...)
	// Nothing from the environment running the tests (PALYRA_LISTEN,
	// PALYRA_LOG_LEVEL, ...) reaches the daemon: only the flags do.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/no-home"}
	// Except the master key providers' variables, when the script set them.
	for _, k := range []string{"PALYRA_PASSPHRASE_FILE", "PALYRA_MASTER_KEY"} {
		if v := ts.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	ts.Check(cmd.Start())
	d := &daemonProc{cmd: cmd, logs: logs, exited: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	ds.procs[dir] = d
	ts.Defer(func() {
		if err := d.stop(); err != nil {
			ds.t.Fatal(fmt.Sprintf("palyrad on %s: %v\n%s", dir, err, logs.String()))
		}
		// Shown with -v or when the script failed.
		ts.Logf("palyrad on %s logged:\n%s", dir, logs.String())
	})

	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var addrs struct{ TCP, QUIC, Socket string }
		fi, err := os.Stat(addrFile)
		fresh := err == nil && (stale == nil || !os.SameFile(stale, fi) || !fi.ModTime().Equal(stale.ModTime()))
		if b, err := os.ReadFile(addrFile); fresh && err == nil && json.Unmarshal(b, &addrs) == nil && addrs.TCP != "" {
			ts.Logf("palyrad ready on %s: tcp %s, quic %s", dir, addrs.TCP, addrs.QUIC)
			return
		}
		select {
		case <-d.exited:
			ts.Fatalf("palyrad exited before it was ready: %v\n%s", d.err, logs.String())
		case <-deadline.C:
			ts.Fatalf("palyrad not ready after %v\n%s", readyTimeout, logs.String())
		case <-tick.C:
		}
	}
}

func cmdPalyradStop(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: palyrad-stop DIR")
	}
	d := ts.Value(daemonsKey{}).(*daemons).procs[ts.MkAbs(args[0])]
	if d == nil {
		ts.Fatalf("no palyrad started on %s", args[0])
	}
	if err := d.stop(); err != nil {
		ts.Fatalf("palyrad: %v\n%s", err, d.logs.String())
	}
}

// done reports whether the process has exited.
func (d *daemonProc) done() bool {
	select {
	case <-d.exited:
		return true
	default:
		return false
	}
}

func cmdPalyradKill(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: palyrad-kill DIR")
	}
	d := ts.Value(daemonsKey{}).(*daemons).procs[ts.MkAbs(args[0])]
	if d == nil || d.done() {
		ts.Fatalf("no palyrad running on %s", args[0])
	}
	d.killed = true
	ts.Check(d.cmd.Process.Kill())
	<-d.exited
}

// stop sends SIGTERM and waits for the exit, which must be clean. Stopping
// a stopped daemon reports how it ended.
func (d *daemonProc) stop() error {
	if d.done() {
		if d.killed {
			return nil
		}
		return d.err
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return d.err
	case <-time.After(stopTimeout):
		d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("did not stop within %v of SIGTERM", stopTimeout)
	}
}

func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROG [ARG...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: bad code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
	if want != 0 && filepath.Base(args[1]) == "palyra" {
		// README: every failure prints one line on stderr; with --json
		// that line is {"error": ..., "code": ..., "exit": N} and stdout
		// stays empty.
		stderr := ts.ReadFile("stderr")
		if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
			ts.Fatalf("stderr is not one line: %q", stderr)
		}
		if !wantsJSON(args[2:]) {
			if !strings.HasPrefix(stderr, "palyra: ") {
				ts.Fatalf("stderr does not start with \"palyra: \": %q", stderr)
			}
			return
		}
		var e struct {
			Error *string
			Code  *string
			Exit  *int
		}
		dec := json.NewDecoder(strings.NewReader(stderr))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || e.Error == nil || *e.Error == "" || e.Code == nil || *e.Code == "" || e.Exit == nil {
			ts.Fatalf("--json: stderr is not {\"error\", \"code\", \"exit\"}: %q (%v)", stderr, err)
		}
		if *e.Exit != want {
			ts.Fatalf("--json: stderr says exit %d, the process exited %d", *e.Exit, want)
		}
		if out := ts.ReadFile("stdout"); out != "" {
			ts.Fatalf("--json: a failure wrote to stdout: %q", out)
		}
	}
}

func cmdJSONVar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: jsonvar VAR KEY")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &v); err != nil {
		ts.Fatalf("stdout is not JSON: %v", err)
	}
	// KEY is a path: object keys and array indices, joined by dots.
	for _, k := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				ts.Fatalf("no element %q in %v", k, x)
			}
			v = x[i]
		default:
			ts.Fatalf("no %q in %v", k, x)
		}
	}
	s, ok := v.(string)
	if n, isNum := v.(float64); isNum && n == float64(int64(n)) {
		s, ok = strconv.FormatInt(int64(n), 10), true
	}
	if !ok || s == "" {
		ts.Fatalf("%q is not a non-empty string or an integer: %v", args[1], v)
	}
	ts.Setenv(args[0], s)
}

func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	// The port comes from below the kernel's ephemeral range, so a daemon
	// another test starts on port 0 can never be given it after this
	// script's daemon is killed (a script that expects "nothing listens
	// here" would otherwise meet a stranger's daemon).
	lo := ephemeralLow()
	for range 200 {
		port := 10000 + mathrand.IntN(max(lo-10000, 1000))
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			pc.Close()
			ts.Setenv(args[0], strconv.Itoa(port))
			return
		}
	}
	ts.Fatalf("no loopback port free on both TCP and UDP")
}

// ephemeralLow is the first port of the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), 32768 where it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				return n
			}
		}
	}
	return 32768
}

func cmdSQLite(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sqlite DB SQL")
	}
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(args[0])+"?_pragma=busy_timeout(5000)")
	ts.Check(err)
	defer db.Close()
	_, err = db.Exec(args[1])
	switch {
	case err != nil && !neg:
		ts.Fatalf("sqlite: %v", err)
	case err == nil && neg:
		ts.Fatalf("sqlite: statement succeeded")
	case err != nil:
		ts.Logf("sqlite: %v", err)
	}
}

func cmdCertExpired(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: certexpired BUNDLE_DIR")
	}
	block, _ := pem.Decode([]byte(ts.ReadFile(filepath.Join(args[0], "cert.pem"))))
	if block == nil {
		ts.Fatalf("no PEM certificate in %s/cert.pem", args[0])
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	ts.Check(err)
	if time.Until(cert.NotAfter) > 30*time.Second {
		ts.Fatalf("%s/cert.pem is valid until %v: too long to wait", args[0], cert.NotAfter)
	}
	for !time.Now().After(cert.NotAfter) {
		time.Sleep(100 * time.Millisecond)
	}
}

func cmdFileVar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: filevar VAR FILE")
	}
	ts.Setenv(args[0], strings.TrimSuffix(ts.ReadFile(args[1]), "\n"))
}

func cmdPendingApproval(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: pendingapproval VAR DB")
	}
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(args[1])+"?mode=ro&_pragma=busy_timeout(5000)")
	ts.Check(err)
	defer db.Close()
	for deadline := time.Now().Add(30 * time.Second); ; {
		var id string
		err := db.QueryRow(`SELECT id FROM approvals WHERE state = 'pending' ORDER BY seq DESC LIMIT 1`).Scan(&id)
		if err == nil {
			ts.Setenv(args[0], id)
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no pending approval in %s after 30s: %v", args[1], err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
