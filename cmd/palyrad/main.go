// Command palyrad is the Palyra daemon: it owns the machine's device
// identity, its certificate authority, the encrypted vault and the audit
// journal, and serves the API over mTLS on TCP and QUIC and over the local
// admin socket. It runs in the foreground; SIGINT or SIGTERM stop it
// gracefully. It writes STATE_DIR/palyrad.addr when ready.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/config"
	"github.com/palyra/palyra/internal/daemon"
	"github.com/palyra/palyra/internal/harden"
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
	var configPath, stateDir, listen string
	var recreate []string
	var recordState bool
	cmd := &cobra.Command{
		Use:   "palyrad",
		Short: "The Palyra security daemon",
		Long: "The Palyra security daemon. Runs in the foreground; SIGINT or SIGTERM stop it gracefully.\n" +
			"Writes STATE_DIR/palyrad.addr when ready. Environment: PALYRA_STATE_DIR, PALYRA_LISTEN,\n" +
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
			cfg, err := config.Load(configPath)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("state-dir") {
				cfg.StateDir = stateDir
			}
			if cmd.Flags().Changed("listen") {
				cfg.Listen = listen
			}
			if cfg.StateDir == "" {
				if cfg.StateDir, err = statedir.Default(); err != nil {
					return err
				}
			}
			log := newLogger(cfg.Daemon, os.Stderr)
			opts := []daemon.Option{daemon.Recreate(recreate...)}
			if recordState {
				opts = append(opts, daemon.RecordState())
			}
			d, err := daemon.Open(cmd.Context(), cfg, log, opts...)
			if err != nil {
				return err
			}
			if err := d.Run(cmd.Context()); err != nil {
				// A first start that never served leaves nothing behind.
				d.Discard()
				return err
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
	cmd.Flags().StringSliceVar(&recreate, "recreate", nil, "recovery: begin these missing parts of the state directory empty (vault.db, audit.db, devices.db; comma-separated); their content is lost")
	cmd.Flags().BoolVar(&recordState, "record-state", false, "recovery: accept a state directory without state.json (made by palyrad 0.1, or its record deleted) and record what it holds now")
	cmd.Flags().StringVar(&configPath, "config", "", "TOML configuration file (unknown keys are errors)")
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

// newLogger is the configured logger, writing to w, with the shapes of
// common credentials masked in every record (internal/redact): the logger
// does not know the vault's values, so patterns are all it can mask.
func newLogger(cfg config.Daemon, w io.Writer) *slog.Logger {
	return slog.New(redact.Handler(cfg.NewLogger(w).Handler(), redact.Patterns()))
}
