package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/vault"
)

// cliRedactor masks credential shapes in palyra's own error lines.
var cliRedactor = redact.Patterns()

// exitStatus is the exit status of palyra run's child, to become palyra's
// own: main exits with it and prints nothing.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("command exited with status %d", int(e)) }

// envRef is one --env NAME=vault://SCOPE/KEY[#N].
type envRef struct {
	name    string
	ref     vault.Ref
	version int64
}

// parseEnvRefs checks every --env before anything is read: a name as the
// shell has them, a reference as vault.ParseURI accepts it, each name once.
// Errors name the variable, never its text (it may be a pasted secret).
func parseEnvRefs(specs []string) ([]envRef, error) {
	var refs []envRef
	seen := map[string]bool{}
	for i, s := range specs {
		name, uri, ok := strings.Cut(s, "=")
		if !ok || !validEnvName(name) {
			return nil, usagef("--env #%d: want NAME=vault://SCOPE/KEY[#N], NAME of [A-Za-z_][A-Za-z0-9_]*", i+1)
		}
		if seen[name] {
			return nil, usagef("--env %s given twice", name)
		}
		seen[name] = true
		ref, v, err := vault.ParseURI(uri)
		if err != nil {
			return nil, usagef("--env %s: %v", name, err)
		}
		refs = append(refs, envRef{name, ref, v})
	}
	return refs, nil
}

func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func runCmd(g *globals) *cobra.Command {
	var specs []string
	cmd := &cobra.Command{
		Use:   "run --env NAME=vault://SCOPE/KEY[#N] [--env ...] -- CMD [ARG...]",
		Short: "Run a command with secrets in its environment, masked in its output",
		Long: "Read each --env secret from the vault (each read authorized and journaled by the daemon), then run\n" +
			"CMD with ARGs directly (no shell) with those variables added to palyra's own environment (which is\n" +
			"passed on; an --env replaces a variable of the same name). #N picks version N, else the latest.\n\n" +
			"CMD's stdout and stderr pass through palyra, with every injected value replaced by its reference,\n" +
			"[vault://SCOPE/KEY], even when the child writes it in pieces. Everything else is passed on unchanged\n" +
			"as soon as it is read, except a tail that could still be the start of a secret (at most the longest\n" +
			"value's length minus one byte), held until the next output decides it. stdin is CMD's own.\n\n" +
			"palyra exits with CMD's exit status (128+N when CMD is killed by signal N). SIGTERM and SIGHUP sent\n" +
			"to palyra are forwarded to CMD; Ctrl-C reaches CMD through the terminal. Before CMD starts, palyra's\n" +
			"own exit codes apply: 2 for a bad --env, a missing -- or an unknown CMD, 4 for an unknown secret, and\n" +
			"so on. A secret that CMD writes somewhere else (a file, the network) is not masked. CMD's output is\n" +
			"a pipe, so it sees no terminal there; palyra ends when CMD has exited and every process holding\n" +
			"that output (CMD's own children too) has closed it. A secret under 4 bytes is masked wherever its\n" +
			"bytes appear, with a warning.",
		Example: "  palyra run --env OPENAI_API_KEY=vault://global/openai_api_key -- python agent.py\n" +
			"  palyra run --env GH_TOKEN=vault://user:alice/gh_token#3 --env SLACK=vault://connector:slack/bot -- ./deploy.sh --prod",
		RunE: func(c *cobra.Command, args []string) error {
			if c.ArgsLenAtDash() != 0 || len(args) == 0 {
				return usagef("want palyra run --env NAME=vault://SCOPE/KEY [--env ...] -- CMD [ARG...] (the command after --)")
			}
			if len(specs) == 0 {
				return usagef("give at least one --env NAME=vault://SCOPE/KEY")
			}
			refs, err := parseEnvRefs(specs)
			if err != nil {
				return err
			}
			path, err := exec.LookPath(args[0])
			if err != nil {
				return usagef("command %q: %v", args[0], errors.Unwrap(err))
			}
			conn, err := g.dial(c.Context())
			if err != nil {
				return err
			}
			values := make([][]byte, 0, len(refs))
			defer func() {
				for _, v := range values {
					clear(v)
				}
			}()
			for _, r := range refs {
				wire := strings.TrimPrefix(vault.URI(r.ref, r.version), vault.RefPrefix)
				resp, err := conn.Vault.Get(c.Context(), connect.NewRequest(&palyrav1.VaultGetRequest{Ref: wire}))
				if err != nil {
					conn.Close()
					return err
				}
				values = append(values, resp.Msg.Value)
				if n := len(bytes.TrimRight(resp.Msg.Value, "\r\n")); n < 4 {
					fmt.Fprintf(os.Stderr, "palyra: warning: --env %s: the secret is %d bytes long; every occurrence of it in the output is masked\n", r.name, n)
				}
				if bytes.IndexByte(resp.Msg.Value, 0) >= 0 {
					conn.Close()
					return usagef("--env %s: the secret holds a NUL byte, which no environment variable can", r.name)
				}
			}
			conn.Close()
			return runChild(path, args, refs, values)
		},
	}
	cmd.Flags().StringArrayVar(&specs, "env", nil, "NAME=vault://SCOPE/KEY[#N]: set NAME to the secret in CMD's environment (repeatable)")
	return cmd
}

// runChild runs the command with the secrets in its environment and its
// output masked, and returns its exit status as an exitStatus (nil for 0).
func runChild(path string, args []string, refs []envRef, values [][]byte) error {
	masks := map[string]string{}
	env := os.Environ()
	for i, r := range refs {
		label := "[" + vault.URI(r.ref, r.version) + "]"
		v := string(values[i])
		if _, dup := masks[v]; !dup && v != "" {
			masks[v] = label
		}
		// A value stored with a trailing newline (echo) is often printed
		// without it.
		if t := strings.TrimRight(v, "\r\n"); t != v && t != "" {
			if _, dup := masks[t]; !dup {
				masks[t] = label
			}
		}
		env = setEnv(env, r.name, v)
	}
	red := redact.New(masks, false)
	defer red.Zero()

	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	cmd := &exec.Cmd{Path: path, Args: args, Env: env, Stdin: os.Stdin, Stdout: outW, Stderr: errW}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, os.Interrupt)
	defer signal.Stop(sigs)
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return fmt.Errorf("start %s: %w", args[0], err)
	}
	for i := range values {
		clear(values[i])
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				// Ctrl-C reached the child through the terminal's process
				// group; palyra stays to pass the rest of its output on.
				if s != os.Interrupt {
					cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var copyErr [2]error
	for i, p := range []struct {
		r *os.File
		w io.Writer
	}{{outR, os.Stdout}, {errR, os.Stderr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			copyErr[i] = pump(p.r, red.Writer(p.w))
		}()
	}
	wg.Wait()
	werr := cmd.Wait()
	close(done)
	var ee *exec.ExitError
	switch {
	case errors.As(werr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return exitStatus(128 + int(ws.Signal()))
		}
		return exitStatus(ee.ExitCode())
	case werr != nil:
		return werr
	}
	return errors.Join(copyErr[0], copyErr[1])
}

// pump copies the child's output from r through the masking writer w until
// EOF, then flushes w. A failed write (palyra's output closed) stops the
// copy; r is closed then, so the child sees a broken pipe as it would
// without palyra.
func pump(r *os.File, w io.WriteCloser) error {
	defer r.Close()
	buf := make([]byte, 256<<10)
	defer clear(buf) // it held the child's output, secrets included
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				w.Close()
				return werr
			}
		}
		if err == io.EOF {
			return w.Close()
		}
		if err != nil {
			w.Close()
			return err
		}
	}
}

// setEnv returns env with NAME=value, replacing any NAME= entry.
func setEnv(env []string, name, value string) []string {
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return append(out, name+"="+value)
}
