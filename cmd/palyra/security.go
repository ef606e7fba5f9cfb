package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/secaudit"
	"github.com/palyra/palyra/internal/statedir"
)

func securityCmd(g *globals) *cobra.Command {
	c := asGroup(&cobra.Command{
		Use:   "security",
		Short: "Inspect the installation's security",
		Example: "  palyra --state-dir ~/.local/state/palyra security audit\n" +
			"  palyra security audit --json",
	})
	c.AddCommand(securityAuditCmd(g))
	return c
}

func securityAuditCmd(g *globals) *cobra.Command {
	var configPath string
	c := &cobra.Command{
		Use:   "audit",
		Short: "Inspect the state directory, configuration and running daemon; print findings and their fixes",
		Long: "Inspect an installation and print findings, each with a severity (high, medium, low, info),\n" +
			"what was found and the fix. Works with palyrad stopped (files only) and running (it is also\n" +
			"asked over the admin socket: status, certificate expiry, listeners, its process's core limit).\n\n" +
			"Checks: permissions and owners of the state directory and its files; state.json against the\n" +
			"files; the master key provider (file: low, the key beside the data; passphrase: Argon2id below\n" +
			"t=2 m=64MiB p=1 is high); listeners off loopback; TLS 1.3 only; CA (< 90 days medium, < 7 days\n" +
			"high), server (< 1h high) and device certificates; the policy directory (STATE_DIR/policies or\n" +
			"policy_dir) loaded with its test cases as palyrad would; the audit journal and its checkpoints;\n" +
			"core dumps.\n\n" +
			"Exit status: 1 when any finding is high (a one-line summary on stderr; with --json, stdout still\n" +
			"holds the findings and stderr is empty), else 0; 2 bad usage.",
		Example: "  palyra --state-dir ~/.local/state/palyra security audit\n" +
			"  palyra security audit --config /etc/palyra/config.toml --json",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if g.identity != "" {
				return usagef("security audit inspects a local installation: use --state-dir, not --identity")
			}
			cfg, err := config.Load(configPath)
			if err != nil {
				return usageError{err}
			}
			if g.stateDir == "" && cfg.StateDir != "" {
				g.stateDir = cfg.StateDir
			}
			l, err := g.layout()
			if err != nil {
				return err
			}
			live, note := probeDaemon(ctx, g, l)
			fs := secaudit.Run(ctx, secaudit.Options{Layout: l, Config: cfg, Live: live})
			if note != "" {
				fs = append(fs, secaudit.Finding{Check: "daemon", Severity: secaudit.Info, Found: note})
			}
			secaudit.Sort(fs)
			if g.json {
				if err := printJSON(map[string]any{"state_dir": l.Dir, "running": live != nil, "high": secaudit.HasHigh(fs), "findings": fs}); err != nil {
					return err
				}
			} else {
				printFindings(l, live != nil, fs)
			}
			if n := countHigh(fs); n > 0 {
				if g.json {
					// stdout holds the findings, "high": true among them.
					return exitStatus(1)
				}
				return fmt.Errorf("security audit: %d high finding(s); fix them and audit again", n)
			}
			return nil
		},
	}
	c.Flags().StringVar(&configPath, "config", "", "palyrad's configuration file (TOML), to check what it sets")
	return c
}

func countHigh(fs []secaudit.Finding) int {
	n := 0
	for _, f := range fs {
		if f.Severity == secaudit.High {
			n++
		}
	}
	return n
}

func printFindings(l statedir.Layout, running bool, fs []secaudit.Finding) {
	mode := "palyrad stopped: files only"
	if running {
		mode = "palyrad running"
	}
	fmt.Printf("security audit of %s (%s)\n", l.Dir, mode)
	counts := map[secaudit.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
		fmt.Printf("%-6s %-15s %s\n", strings.ToUpper(string(f.Severity)), f.Check, f.Found)
		if f.Fix != "" {
			fmt.Printf("       %-15s fix: %s\n", "", f.Fix)
		}
	}
	fmt.Printf("%d high, %d medium, %d low, %d info\n", counts[secaudit.High], counts[secaudit.Medium], counts[secaudit.Low], counts[secaudit.Info])
}

// probeDaemon asks the daemon of l, if one runs, for what only it knows.
// It returns nil when none answers, and a note on why when one was
// expected but did not answer.
func probeDaemon(ctx context.Context, g *globals, l statedir.Layout) (*secaudit.Live, string) {
	if _, err := os.Stat(l.Socket); errors.Is(err, fs.ErrNotExist) {
		return nil, ""
	}
	if err := l.Check(); err != nil {
		return nil, "the admin socket was not used: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := call(ctx, g, daemonSvc, palyrav1connect.DaemonServiceClient.Status, &palyrav1.StatusRequest{})
	if err != nil {
		if o := classify(g.diagnose(ctx, err)); o.exit != 5 {
			return nil, "the daemon did not answer status: " + o.line
		}
		return nil, ""
	}
	live := &secaudit.Live{
		TCP: m.Listeners.GetTcp(), QUIC: m.Listeners.GetQuic(),
		ServerCertNotAfter: time.Unix(m.ServerCertNotAfterUnix, 0),
	}
	live.PID, _ = socketPeerPID(l.Socket)
	if live.TCP != "" {
		live.TLS12Tried = true
		live.TLS12Err = tls12Handshake(ctx, live.TCP)
	}
	return live, ""
}

// socketPeerPID is the pid of the process listening on the Unix socket at
// path (SO_PEERCRED).
func socketPeerPID(path string) (int, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return int(cred.Pid), nil
}

// tls12Handshake attempts a TLS 1.2 handshake with addr and returns its
// error: nil means the daemon accepted TLS 1.2.
func tls12Handshake(ctx context.Context, addr string) error {
	d := tls.Dialer{Config: &tls.Config{
		// #nosec G402 -- a probe that only tests whether the daemon accepts
		// TLS 1.2; nothing is sent over it and no certificate is trusted.
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
	}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}
