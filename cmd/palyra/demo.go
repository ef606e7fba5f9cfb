package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/demo"
)

func demoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the whole flow against an ephemeral daemon in a temporary directory",
		Long: "Starts a daemon in a temporary directory and runs enroll, put, remote get over TCP and QUIC,\n" +
			"a call without a client certificate, revoke, the revoked device refused, and audit verify.\n" +
			"Exits 0 only when every step behaves. Its output is a narration for people: it has no --json form,\n" +
			"and it takes no --state-dir or --identity (its daemon and device are its own).",
		Example: "  palyra demo",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if g.json || g.stateDir != "" || g.identity != "" {
				return usagef("demo runs its own daemon and narrates each step for people: it takes no --json, --state-dir or --identity")
			}
			// If stdout is a pipe closed early (| head), fail the writes
			// instead of dying on SIGPIPE, so the temporary state
			// directory — master key included — is still removed.
			signal.Ignore(syscall.SIGPIPE)
			return demo.Run(c.Context(), os.Stdout)
		},
	}
}
