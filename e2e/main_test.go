// Package e2e tests the palyra and palyrad binaries as a user runs them:
// real processes, real sockets, real files, asserting on exit codes, stdout
// and stderr.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binDir string

// TestMain builds both binaries once for the whole run.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "palyra-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, cmd := range []string{"palyra", "palyrad"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "../cmd/"+cmd).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", cmd, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is a finished palyra invocation.
type result struct {
	stdout, stderr []byte
	code           int
}

// palyra runs the CLI with stdin and returns what it printed and its exit code.
func palyra(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	return run(t, "palyra", stdin, args...)
}

// run runs one of the built binaries to completion (at most a minute).
func run(t *testing.T, bin string, stdin []byte, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, bin), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("palyra %v: %v", args, err)
	}
	return result{o.Bytes(), e.Bytes(), code}
}

// must runs palyra and fails the test unless it exits 0.
func must(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	r := palyra(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("palyra %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// fails runs palyra, expects exit code want, and checks that stderr is one
// line starting with "palyra: " and containing wantText.
func fails(t *testing.T, want int, wantText string, stdin []byte, args ...string) result {
	t.Helper()
	r := palyra(t, stdin, args...)
	if r.code != want {
		t.Fatalf("palyra %s: exit %d, want %d\nstderr: %s", strings.Join(args, " "), r.code, want, r.stderr)
	}
	msg := string(r.stderr)
	if !strings.HasPrefix(msg, "palyra: ") || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, wantText) {
		t.Fatalf("palyra %s: stderr %q, want one line containing %q", strings.Join(args, " "), msg, wantText)
	}
	return r
}

// daemonProc is a running palyrad.
type daemonProc struct {
	cmd      *exec.Cmd
	stateDir string
	addrs    struct{ TCP, QUIC, Socket string }
	logs     *syncBuffer
	exited   chan error
}

// startDaemon runs palyrad on loopback with free ports and waits for
// palyrad.addr, the daemon's readiness signal.
func startDaemon(t *testing.T, stateDir string, extra ...string) *daemonProc {
	t.Helper()
	args := append([]string{"--state-dir", stateDir, "--listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(filepath.Join(binDir, "palyrad"), args...)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{cmd: cmd, stateDir: stateDir, logs: &logs, exited: make(chan error, 1)}
	go func() { d.exited <- cmd.Wait() }()
	t.Cleanup(func() { d.stop(t) })
	addrFile := filepath.Join(stateDir, "palyrad.addr")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && json.Unmarshal(b, &d.addrs) == nil {
			return d
		}
		select {
		case err := <-d.exited:
			d.exited <- err
			t.Fatalf("palyrad exited before ready: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("palyrad not ready after 60s\n%s", logs.String())
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemonProc) stop(t *testing.T) {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		d.exited <- err
		if err != nil {
			t.Errorf("palyrad exit: %v\n%s", err, d.logs.String())
		}
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		t.Errorf("palyrad did not stop on SIGTERM\n%s", d.logs.String())
	}
}

// syncBuffer is palyrad's log: written by the process's output copier,
// read by tests while it runs.
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
