package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/tool"
	"github.com/palyra/palyra/internal/vault"
)

// fixedEnv is the whole environment a program starts with, besides the
// injected secrets (HOME is the workspace).
var fixedEnv = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}

// ErrSandboxUnavailable is returned by Run when Config.RequireSandbox is
// set and the sandbox could not be applied.
var ErrSandboxUnavailable = errors.New("exec: the sandbox is required but unavailable")

// Run implements tool.Tool: it starts the sandbox launcher (this binary
// re-executed), which applies the rlimits and Landlock and then execve's
// the program; it enforces the wall-time and output limits by killing the
// process group, and returns the masked output.
func (t *Tool) Run(ctx context.Context, p *tool.Plan, secrets map[string][]byte) (*tool.Result, error) {
	sp, ok := p.Spec.(spec)
	if !ok {
		return nil, fmt.Errorf("exec: plan is not an exec plan")
	}
	env := append(append([]string(nil), fixedEnv...), "HOME="+t.ws)
	masks := map[string]string{}
	for _, s := range p.Secrets {
		v, ok := secrets[s.Name]
		if !ok {
			return nil, fmt.Errorf("exec: secret for %s not resolved", s.Name)
		}
		if bytes.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("exec: env %s: the secret holds a NUL byte, which no environment variable can", s.Name)
		}
		label := "[" + vault.URI(s.Ref, s.Version) + "]"
		env = append(env, s.Name+"="+string(v))
		masks[string(v)] = label
		if tr := strings.TrimRight(string(v), "\r\n"); tr != string(v) && tr != "" {
			masks[tr] = label
		}
	}
	red := redact.New(masks, true)
	defer red.Zero()

	ls := launchSpec{
		Path:    sp.exe[0],
		Argv:    sp.exe,
		RW:      []string{t.ws},
		RO:      append(append([]string(nil), t.cfg.SystemDirs...), t.res.trusted...),
		Require: t.cfg.RequireSandbox,
		Connect: sp.ports,
		Limits:  t.rlimits(),
	}
	specJSON, err := encodeSpec(ls)
	if err != nil {
		return nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer statusR.Close()
	specR, specW, err := os.Pipe()
	if err != nil {
		statusW.Close()
		return nil, err
	}

	wall := t.cfg.Wall
	rctx, cancel := context.WithTimeout(ctx, wall)
	defer cancel()
	out := &capped{limit: t.cfg.OutputBytes}
	cmd := osexec.CommandContext(rctx, t.cfg.Launcher, LauncherArg) // #nosec G204 -- the daemon's own binary as the sandbox launcher; the program in the spec is the authorized plan's, resolved in the trusted directories
	cmd.Env = env
	cmd.Dir = sp.cwd
	cmd.Stdin = nil // /dev/null
	cmd.Stdout = out.stream(&out.stdout)
	cmd.Stderr = out.stream(&out.stderr)
	cmd.ExtraFiles = []*os.File{statusW, specR} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// The launcher's supervisor kills the program and every descendant,
	// also those that left the process group, on SIGTERM; the group is
	// killed too once it has exited, and it is SIGKILLed after WaitDelay
	// if it does not.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Second
	out.kill = func() { _ = cmd.Process.Signal(syscall.SIGTERM) }

	// PR_SET_PDEATHSIG fires when the thread that started the child
	// exits, not the process: keep this goroutine on its thread until the
	// child is reaped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	err = cmd.Start()
	statusW.Close()
	specR.Close()
	if err != nil {
		specW.Close()
		return nil, fmt.Errorf("exec: start the sandbox launcher: %w", err)
	}
	go func() {
		specW.Write(specJSON) // an error means the launcher died; its status says why
		specW.Close()
	}()
	status, _ := io.ReadAll(io.LimitReader(statusR, 64<<10))
	// Wait for the leader to exit without reaping it: while it is a
	// zombie its pid, and so the process group id, cannot be reused, so
	// killing the group (background children that outlive the leader)
	// cannot hit an unrelated group. Then reap it.
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	werr := cmd.Wait()
	res := &tool.Result{Wall: time.Since(start), Limits: t.limitNames()}
	var st launchStatus
	for _, line := range bytes.Split(bytes.TrimSpace(status), []byte("\n")) {
		var s launchStatus
		if json.Unmarshal(line, &s) == nil {
			if s.Sandbox != "" {
				st.Sandbox = s.Sandbox
			}
			if s.Err != "" {
				st.Err = s.Err
			}
			if s.Errno != 0 {
				st.Err = fmt.Sprintf("%s %s: %v", s.Step, sp.exe[0], syscall.Errno(s.Errno)) // #nosec G115 -- an errno
			}
			if s.Exit != nil {
				st.Exit = s.Exit
			}
		}
	}
	res.Sandbox = st.Sandbox
	if st.Err != "" {
		if strings.HasPrefix(st.Err, "sandbox:") {
			return nil, fmt.Errorf("%w: %s", ErrSandboxUnavailable, strings.TrimPrefix(st.Err, "sandbox: "))
		}
		return nil, fmt.Errorf("exec: %s", st.Err)
	}
	if st.Sandbox == "" {
		return nil, fmt.Errorf("exec: the sandbox launcher did not report (%v)", werr)
	}
	switch ps := cmd.ProcessState; {
	case st.Exit != nil: // the program's end, as the supervisor saw it
		res.User, res.System = time.Duration(st.Exit.UserUS)*time.Microsecond, time.Duration(st.Exit.SystemUS)*time.Microsecond
		res.ExitCode = st.Exit.Code
		if st.Exit.Signal != 0 {
			sig := syscall.Signal(st.Exit.Signal)
			res.Signal = sig.String()
			switch sig {
			case syscall.SIGXCPU:
				res.Killed = "cpu_limit"
			case syscall.SIGXFSZ:
				res.Killed = "file_size_limit"
			}
		}
	case ps != nil: // the supervisor itself was killed
		res.User, res.System = ps.UserTime(), ps.SystemTime()
		res.ExitCode = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
		}
	}
	switch {
	case out.exceeded():
		res.Killed, res.Truncated = "output_limit", true
	case rctx.Err() != nil && ctx.Err() == nil:
		res.Killed = "timeout"
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	if res.Killed != "" || res.Signal != "" {
		// Output cut at the limit, or by a kill, may end with the first
		// bytes of an injected secret: drop such a tail.
		res.Stdout, res.Stderr = red.Truncated(out.stdout.Bytes()), red.Truncated(out.stderr.Bytes())
	} else {
		res.Stdout, res.Stderr = red.Bytes(out.stdout.Bytes()), red.Bytes(out.stderr.Bytes())
	}
	res.HashOutput()
	return res, nil
}

// rlimits are the launcher's setrlimit calls.
func (t *Tool) rlimits() []rlimit {
	cpu := int64((t.cfg.CPU + time.Second - 1) / time.Second)
	return []rlimit{
		{"cpu", syscall.RLIMIT_CPU, cpu},
		{"as", syscall.RLIMIT_AS, t.cfg.MemoryBytes},
		{"nofile", syscall.RLIMIT_NOFILE, t.cfg.OpenFiles},
		{"nproc", rlimitNPROC, t.cfg.Processes},
		{"fsize", syscall.RLIMIT_FSIZE, t.cfg.FileBytes},
	}
}

// limitNames are the limits in force, "name=value".
func (t *Tool) limitNames() []string {
	out := []string{"wall=" + t.cfg.Wall.String(), "output=" + strconv.FormatInt(t.cfg.OutputBytes, 10)}
	for _, l := range t.rlimits() {
		s := l.Name + "=" + strconv.FormatInt(l.Value, 10)
		if l.Name == "nproc" && os.Geteuid() == 0 {
			s += "(not enforced for root)"
		}
		out = append(out, s)
	}
	return out
}

// capped collects stdout and stderr up to limit bytes together and calls
// kill once when more arrives.
type capped struct {
	mu             sync.Mutex
	limit, n       int64
	over           bool
	stdout, stderr bytes.Buffer
	kill           func()
}

type cappedStream struct {
	c   *capped
	buf *bytes.Buffer
}

func (c *capped) stream(b *bytes.Buffer) io.Writer { return cappedStream{c, b} }

func (s cappedStream) Write(p []byte) (int, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.limit - c.n
	if int64(len(p)) > room {
		if room > 0 {
			s.buf.Write(p[:room])
			c.n += room
		}
		if !c.over {
			c.over = true
			c.kill()
		}
		return len(p), nil // keep draining until the group is gone
	}
	s.buf.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}

func (c *capped) exceeded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.over
}
