package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/daemon"
)

// approvalClock is the approval store's clock, moved by the test.
type approvalClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *approvalClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}
func (c *approvalClock) add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// gatePolicies returns a policy directory whose one policy sends every
// read of global/gated for approval.
func gatePolicies(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	gate := `@id("approve-vault-read") @approval("required") forbid (principal, action == Action::"vault.read", resource == Secret::"global/gated");` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "gate.cedar"), []byte(gate), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startGatedPalyrad runs palyrad, a process of its own, with the gate
// policy (policy_dir in its configuration file).
func startGatedPalyrad(t *testing.T, state string) *daemonProc {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "palyrad.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("policy_dir = %q\n", gatePolicies(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	return startDaemon(t, state, "--config", conf)
}

// startGatedDaemon runs a daemon in this process (so the test can pass it
// a gating policy and move its approval clock) for palyra processes to
// talk to, until the test ends.
func startGatedDaemon(t *testing.T, state string, clk *approvalClock) {
	t.Helper()
	cfg := config.Defaults()
	cfg.StateDir = state
	cfg.Listen = "127.0.0.1:0"
	cfg.PolicyDir = gatePolicies(t)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.Open(ctx, cfg, slog.New(slog.DiscardHandler), daemon.ApprovalClock(clk.now))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("daemon exited: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
		d.Close()
	})
}

// waiting is a palyra process held for approval.
type waiting struct {
	id     string
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan int
}

var waitingLine = regexp.MustCompile(`^palyra: waiting for approval ([0-9A-Z]{26}) \(palyra approvals approve ([0-9A-Z]{26})\)$`)

// startWaiting starts palyra with args and waits for its line saying which
// approval it waits for.
func startWaiting(t *testing.T, args ...string) *waiting {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "palyra"), args...)
	w := &waiting{done: make(chan int, 1)}
	cmd.Stdout = &w.stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	first := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		n := 0
		for sc.Scan() {
			if n == 0 {
				first <- sc.Text()
			}
			n++
			w.stderr.WriteString(sc.Text() + "\n")
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		<-scanned // stderr is complete before the exit code is reported
		w.done <- cmd.ProcessState.ExitCode()
	}()
	select {
	case line := <-first:
		m := waitingLine.FindStringSubmatch(line)
		if m == nil || m[1] != m[2] {
			t.Fatalf("palyra %v: first stderr line %q", args, line)
		}
		w.id = m[1]
	case code := <-w.done:
		t.Fatalf("palyra %v exited %d before waiting: %s", args, code, w.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("palyra %v: no waiting line", args)
	}
	return w
}

// exit waits for the process and returns its exit code.
func (w *waiting) exit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-w.done:
		time.Sleep(10 * time.Millisecond) // let the stderr copier finish
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("palyra still waiting")
		return -1
	}
}

// TestApprovalFromAnotherProcess: a device's palyra waits for an approval
// that the owner's palyra, another process, gives; a for=10m grant lets the
// same request through without asking until it expires; a denied request
// fails with the decider's reason; of two deciders racing, one wins and
// the other is told; the requester cannot approve itself.
func TestApprovalFromAnotherProcess(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	clk := &approvalClock{}
	startGatedDaemon(t, state, clk)
	must(t, []byte("gated value"), "--state-dir", state, "vault", "put", "global/gated")
	bundle := filepath.Join(t.TempDir(), "agent")
	must(t, nil, "--state-dir", state, "devices", "enroll", "--name", "agent", "--out", bundle)

	w := startWaiting(t, "--identity", bundle, "vault", "get", "global/gated")
	fails(t, 3, "may not approval.decide", nil, "--identity", bundle, "approvals", "approve", w.id)
	r := must(t, nil, "--state-dir", state, "approvals", "approve", w.id, "--scope", "for=10m", "--reason", "deploy window")
	if !strings.HasPrefix(string(r.stderr), "approved "+w.id+" (for=10m0s, until ") {
		t.Fatalf("approve: %s", r.stderr)
	}
	if code := w.exit(t); code != 0 || w.stdout.String() != "gated value" {
		t.Fatalf("waiting read: exit %d, stdout %q, stderr %s", code, w.stdout.String(), w.stderr.String())
	}

	// The grant: the same request goes through without asking.
	r = must(t, nil, "--identity", bundle, "vault", "get", "global/gated")
	if string(r.stdout) != "gated value" || len(r.stderr) != 0 {
		t.Fatalf("read under the grant: %q %q", r.stdout, r.stderr)
	}
	// Until it expires.
	clk.add(10*time.Minute + time.Second)
	w2 := startWaiting(t, "--identity", bundle, "vault", "get", "global/gated")
	if w2.id == w.id {
		t.Fatal("an expired grant was reused")
	}
	must(t, nil, "--state-dir", state, "approvals", "deny", w2.id, "--reason", "not during the freeze")
	if code := w2.exit(t); code != 3 || !strings.Contains(w2.stderr.String(), "not during the freeze") {
		t.Fatalf("denied read: exit %d, stderr %s", code, w2.stderr.String())
	}

	// Two deciders at once, as two processes: one wins.
	w3 := startWaiting(t, "--identity", bundle, "vault", "get", "global/gated")
	var wg sync.WaitGroup
	res := make([]result, 2)
	for i, verb := range []string{"approve", "deny"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = palyra(t, nil, "--state-dir", state, "approvals", verb, w3.id)
		}()
	}
	wg.Wait()
	if (res[0].code == 0) == (res[1].code == 0) {
		t.Fatalf("deciders: exit %d (%s) and %d (%s)", res[0].code, res[0].stderr, res[1].code, res[1].stderr)
	}
	for _, r := range res {
		if r.code != 0 && (r.code != 1 || !strings.Contains(string(r.stderr), "already") || !strings.Contains(string(r.stderr), `by User::"admin"`)) {
			t.Fatalf("loser: exit %d, %s", r.code, r.stderr)
		}
	}
	w3.exit(t)
	r = must(t, nil, "--state-dir", state, "--json", "approvals", "show", w3.id)
	if !strings.Contains(string(r.stdout), `"decider": "User::\"admin\""`) {
		t.Fatalf("show: %s", r.stdout)
	}
}

// TestApprovalWaitsPastTheCallTimeout: a call held for approval outlives
// the client's 30-second call timeout and the transports' limits, on TCP,
// QUIC and the unix socket. It takes 40 seconds: PALYRA_LONG_TESTS=1.
func TestApprovalWaitsPastTheCallTimeout(t *testing.T) {
	if !longTests() {
		t.Skip("takes 40s; set PALYRA_LONG_TESTS=1")
	}
	state := filepath.Join(t.TempDir(), "state")
	// Devices decide only where an operator policy permits it.
	policies := gatePolicies(t)
	permit := `@id("devices-decide") permit (principal is Device, action == Action::"approval.decide", resource);` + "\n"
	if err := os.WriteFile(filepath.Join(policies, "decide.cedar"), []byte(permit), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "palyrad.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("policy_dir = %q\n", policies)), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, state, "--config", conf)
	must(t, []byte("gated value"), "--state-dir", state, "vault", "put", "global/gated")
	bundle := filepath.Join(t.TempDir(), "agent")
	must(t, nil, "--state-dir", state, "devices", "enroll", "--name", "agent", "--out", bundle)
	tcp := startWaiting(t, "--identity", bundle, "vault", "get", "global/gated")
	quic := startWaiting(t, "--identity", bundle, "--transport", "quic", "vault", "get", "global/gated")
	owner := startWaiting(t, "--state-dir", state, "vault", "get", "global/gated")
	time.Sleep(40 * time.Second)
	for _, w := range []*waiting{tcp, quic} {
		must(t, nil, "--state-dir", state, "approvals", "approve", w.id)
	}
	// The owner's own request is decided by another principal: the device.
	must(t, nil, "--identity", bundle, "approvals", "approve", owner.id)
	for _, w := range []*waiting{tcp, quic, owner} {
		if code := w.exit(t); code != 0 || w.stdout.String() != "gated value" {
			t.Fatalf("after 40s: exit %d, stdout %q, stderr %s", code, w.stdout.String(), w.stderr.String())
		}
	}
}

// TestApprovalsWatch: palyra approvals watch prints a new approval and its
// decision as they happen, one JSON object a line.
func TestApprovalsWatch(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	startGatedPalyrad(t, state)
	must(t, []byte("gated value"), "--state-dir", state, "vault", "put", "global/gated")
	bundle := filepath.Join(t.TempDir(), "agent")
	must(t, nil, "--state-dir", state, "devices", "enroll", "--name", "agent", "--out", bundle)

	cmd := exec.Command(filepath.Join(binDir, "palyra"), "--state-dir", state, "--json", "approvals", "watch")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		t.Helper()
		select {
		case l := <-lines:
			return l
		case <-time.After(20 * time.Second):
			t.Fatal("watch printed nothing")
			return ""
		}
	}
	w := startWaiting(t, "--identity", bundle, "vault", "get", "global/gated")
	if l := next(); !strings.Contains(l, `"id":"`+w.id+`"`) || !strings.Contains(l, `"state":"pending"`) {
		t.Fatalf("new approval: %s", l)
	}
	must(t, nil, "--state-dir", state, "approvals", "deny", w.id, "--reason", "no")
	if l := next(); !strings.Contains(l, `"id":"`+w.id+`"`) || !strings.Contains(l, `"state":"denied"`) || !strings.Contains(l, `"decision_reason":"no"`) {
		t.Fatalf("decided approval: %s", l)
	}
	w.exit(t)
}
