// Command palyrad is the Palyra daemon: it owns the machine's device
// identity, its certificate authority, the encrypted vault and the audit
// journal, and serves the API over mTLS on TCP and QUIC and over the local
// admin socket. It runs in the foreground; SIGINT or SIGTERM stop it
// gracefully; SIGHUP reloads the operator policies. It writes
// STATE_DIR/palyrad.addr when ready.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/daemon"
	"github.com/palyra/palyra/internal/harden"
	"github.com/palyra/palyra/internal/mandoc"
	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/statedir"
	"github.com/palyra/palyra/internal/version"
)

func main() {
	// Before any secret is loaded: no core dumps, no ptrace by peers.
	if _, err := harden.Process(); err != nil {
		fmt.Fprintln(os.Stderr, "palyrad: "+err.Error()+" (set "+harden.EnvAllowCoreDumps+"=1 to run without this protection)")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads the operator policies; caught from the start, so one
	// sent while the daemon starts does not kill it (the reload waits
	// until it is ready).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var configPath, stateDir, listen string
	var recreate []string
	var recordState bool
	cmd := &cobra.Command{
		Use:   "palyrad",
		Short: "The Palyra security daemon",
		Long: "The Palyra security daemon. Runs in the foreground; SIGINT or SIGTERM stop it gracefully;\n" +
			"SIGHUP reloads the operator policies, as `palyra policy reload` does (docs/policies.md).\n" +
			"Writes STATE_DIR/palyrad.addr when ready.\n\n" +
			"Configuration: --config FILE, else the file $PALYRA_CONFIG names (both must exist), else\n" +
			"$XDG_CONFIG_HOME/palyra/config.toml or ~/.config/palyra/config.toml when it exists (built-in\n" +
			"defaults when it does not); a file not named by --config must belong to you (or root) and\n" +
			"not be writable by others. Environment: PALYRA_STATE_DIR, PALYRA_LISTEN,\n" +
			"PALYRA_LOG_LEVEL override the config file; flags override both.\n\n" +
			"The state directory knows what it holds (state.json): palyrad refuses to start when a part is\n" +
			"missing or replaced, naming it, instead of re-creating it. --recreate begins a missing\n" +
			"database empty, on purpose.\n\n" +
			"Exit codes: 0 clean stop, 1 error, 3 another palyrad holds the state directory.",
		Version:       version.Get().String(),
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, file, err := configure(configPath, flagValue(cmd, "state-dir", stateDir), flagValue(cmd, "listen", listen))
			if err != nil {
				return err
			}
			log := newLogger(cfg.Daemon, os.Stderr)
			if file != "" {
				log.Info("configuration read", "file", file)
			}
			opts := []daemon.Option{daemon.Recreate(recreate...)}
			if recordState {
				opts = append(opts, daemon.RecordState())
			}
			_, statErr := os.Stat(cfg.StateDir)
			d, err := daemon.Open(cmd.Context(), cfg, log, opts...)
			if err != nil {
				return err
			}
			go reloadOnHangup(cmd.Context(), d, hup, log)
			if err := d.Run(cmd.Context()); err != nil {
				// A first start that never served leaves nothing behind.
				d.Discard()
				if _, err := os.Stat(cfg.StateDir); errors.Is(statErr, fs.ErrNotExist) && errors.Is(err, fs.ErrNotExist) {
					log.Info("removed the state directory this start created: the start failed, nothing is left", "dir", cfg.StateDir)
				}
				return listenHint(err, cfg.Listen)
			}
			d.Close()
			return nil
		},
	}
	cmd.SetVersionTemplate("palyrad {{.Version}}\n")
	cmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print palyrad's version, commit, Go version and platform",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Println("palyrad " + version.Get().String()) },
	})
	cmd.AddCommand(mandoc.Command("8")) // hidden: palyrad __gen-man DIR, for cmd/palyra-docs
	cmd.Flags().StringSliceVar(&recreate, "recreate", nil, "recovery: begin these missing parts of the state directory empty (vault.db, audit.db, devices.db, approvals.db; comma-separated); their content is lost")
	cmd.Flags().BoolVar(&recordState, "record-state", false, "recovery: accept a state directory without state.json (made by palyrad 0.1, or its record deleted) and record what it holds now")
	cmd.Flags().StringVar(&configPath, "config", "", "TOML configuration file (unknown keys are errors; default $PALYRA_CONFIG, else $XDG_CONFIG_HOME/palyra/config.toml or ~/.config/palyra/config.toml if present)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory (default $PALYRA_STATE_DIR, $XDG_STATE_HOME/palyra or ~/.local/state/palyra)")
	cmd.Flags().StringVar(&listen, "listen", config.DefaultListen, "TCP and QUIC (UDP) listen address; port 0 picks a free port")
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "palyrad: "+err.Error())
		stop()
		if errors.Is(err, daemon.ErrLocked) {
			os.Exit(3)
		}
		os.Exit(1)
	}
}

// listenHint adds the next step to a listen failure because the address
// is taken (TCP or the QUIC UDP port): another process listens there.
func listenHint(err error, listen string) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return err
	}
	host, _, herr := net.SplitHostPort(listen)
	if herr != nil {
		host = "127.0.0.1"
	}
	return fmt.Errorf("%w; another process listens there: pass --listen %s (0 picks a free port)", err, net.JoinHostPort(host, "PORT"))
}

// configure is palyrad's configuration: the file config.LoadLocated finds
// for configPath (--config, possibly empty), then the flags --state-dir and
// --listen where given (nil when not), then the default state directory if
// nothing set one. It returns the file read, or "" for none.
func configure(configPath string, stateDir, listen *string) (config.Config, string, error) {
	cfg, file, err := config.LoadLocated(configPath)
	if err != nil {
		return config.Config{}, file, err
	}
	if stateDir != nil {
		cfg.StateDir = *stateDir
	}
	if listen != nil {
		cfg.Listen = *listen
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, file, err
	}
	if cfg.StateDir == "" {
		if cfg.StateDir, err = statedir.Default(); err != nil {
			return config.Config{}, file, err
		}
	}
	return cfg, file, nil
}

// flagValue is &value when the flag name was given, else nil.
func flagValue(cmd *cobra.Command, name string, value string) *string {
	if cmd.Flags().Changed(name) {
		return &value
	}
	return nil
}

// newLogger is the configured logger, writing to w, with the shapes of
// common credentials masked in every record (internal/redact): the logger
// does not know the vault's values, so patterns are all it can mask.
func newLogger(cfg config.Daemon, w io.Writer) *slog.Logger {
	return slog.New(redact.Handler(cfg.NewLogger(w).Handler(), redact.Patterns()))
}

// reloadOnHangup reloads d's operator policies on each signal from hup
// until ctx ends. The reload is the owner's Reload RPC on the admin socket,
// so the daemon decides, journals and logs it like any other; a failed
// call is also logged here.
func reloadOnHangup(ctx context.Context, d *daemon.Daemon, hup <-chan os.Signal, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if _, err := d.ReloadPolicies(ctx); err != nil {
				if ctx.Err() == nil {
					log.Warn("SIGHUP: policy reload failed", "err", err)
				}
			}
		}
	}
}
