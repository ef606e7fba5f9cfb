// Command palyra is the command-line client of palyrad.
//
// With --state-dir (or the default state directory) it talks to the local
// daemon over its admin socket as the machine's owner; with --identity
// BUNDLE_DIR it talks to a daemon, possibly on another machine, over mutual
// TLS as the enrolled device whose bundle that is.
//
// Exit codes: 0 success; 1 failure; 2 bad usage or input; 3 unauthenticated,
// denied or refused; 4 not found; 5 daemon unreachable; 6 integrity failure
// (a tampered vault entry or audit journal). A failure prints one line on
// stderr, with --json a JSON object: {"error", "code", "exit"}.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/harden"
	"github.com/palyra/palyra/internal/mandoc"
	"github.com/palyra/palyra/internal/version"
)

type globals struct {
	stateDir  string
	identity  string
	transport string
	json      bool
	// dialed is set by dial: what a failed call was made to.
	dialed *dialed
}

func main() {
	// Before any secret is read: no core dumps, no ptrace by peers.
	if _, err := harden.Process(); err != nil {
		fmt.Fprintln(os.Stderr, "palyra: "+err.Error()+" (set "+harden.EnvAllowCoreDumps+"=1 to run without this protection)")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &globals{}
	root := newRoot(g)
	root.AddCommand(mandoc.Command("1")) // hidden: palyra __gen-man DIR, for cmd/palyra-docs
	err := g.diagnose(ctx, root.ExecuteContext(ctx))
	var status exitStatus
	if errors.As(err, &status) { // palyra run: the child's exit status, already reported by the child
		stop()
		os.Exit(int(status))
	}
	if err != nil {
		o := classify(err)
		o.line = cliRedactor.String(o.line)
		if g.json || wantsJSON(os.Args[1:]) {
			os.Stderr.Write(errorJSON(o))
		} else {
			fmt.Fprintln(os.Stderr, "palyra: "+o.line)
		}
		stop()
		os.Exit(o.exit)
	}
}

// wantsJSON reports whether args ask for --json, for an error raised
// before the flags were parsed (an unknown flag before --json).
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "--json=true", "--json=1":
			return true
		}
	}
	return false
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "palyra",
		Short: "Client for palyrad, the Palyra security daemon",
		Long: "Client for palyrad, the Palyra security daemon.\n\n" +
			"--state-dir: act as the machine's owner over the local admin socket.\n" +
			"--identity BUNDLE_DIR: act as that enrolled device over mTLS (--transport tcp|quic).\n" +
			"pair join: pair this machine over TCP or QUIC (--transport tcp|quic), no --identity needed.\n" +
			"Data goes to stdout; confirmations, progress and errors go to stderr.\n\n" +
			"Secret references are SCOPE/KEY; scopes: global, user:<name>, device:<ULID>, connector:<name>, tool:<name>.\n\n" +
			"Exit codes: 0 success, 1 failure, 2 bad usage or input, 3 unauthenticated/denied/refused,\n" +
			"4 not found, 5 daemon unreachable, 6 integrity failure. A failure prints one line on stderr; with --json,\n" +
			"the line is {\"error\": \"...\", \"code\": \"...\", \"exit\": N} and stdout stays empty.",
		Example: "  palyra --state-dir ~/.local/state/palyra status\n" +
			"  printf %s \"$OPENAI_API_KEY\" | palyra vault put global/openai_api_key\n" +
			"  palyra --identity ./laptop-bundle --transport quic vault get global/openai_api_key",
		Version:       version.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("palyra {{.Version}}\n")
	root.PersistentFlags().StringVar(&g.stateDir, "state-dir", "", "palyrad state directory, for local admin over the Unix socket (default $PALYRA_STATE_DIR, $XDG_STATE_HOME/palyra or ~/.local/state/palyra)")
	root.PersistentFlags().StringVar(&g.identity, "identity", "", "client bundle directory: act as that enrolled device over mTLS")
	root.PersistentFlags().StringVar(&g.transport, "transport", "tcp", "tcp (gRPC over TLS 1.3) or quic (HTTP/3), with --identity BUNDLE_DIR or for pair join (the owner's admin socket has none)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print machine-readable JSON (a failure: one JSON object on stderr)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		if f := c.Flag("transport"); f != nil && f.Changed && g.identity == "" && c.CommandPath() != "palyra pair join" {
			return usagef("--transport applies with --identity BUNDLE_DIR or to pair join only (the owner's admin socket has no transport to choose)")
		}
		return nil
	}
	root.AddCommand(statusCmd(g), vaultCmd(g), devicesCmd(g), auditCmd(g), approvalsCmd(g), demoCmd(g), versionCmd(g), runCmd(g), securityCmd(g), policyCmd(g), pairCmd(g), connectorsCmd(g), toolCmd(g))
	root.SetHelpCommand(helpCmd())
	// Cobra's completion group, made now rather than at Execute, so that it
	// too refuses an unknown shell.
	root.InitDefaultCompletionCmd()
	if c, _, err := root.Find([]string{"completion"}); err == nil && c != root {
		asGroup(c)
		c.Example = "  source <(palyra completion bash)"
		for _, sh := range c.Commands() {
			sh.Example = "  palyra completion " + sh.Name() + " > palyra-completion." + sh.Name()
		}
	}
	// Groups are runnable only to refuse unknown subcommands (asGroup):
	// their usage shows "palyra vault [command]", not a use line of their own.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	return asGroup(root)
}

// helpCmd replaces cobra's help command, which prints the root's help and
// exits 0 for a topic it does not know: here an unknown topic is an unknown
// command (exit 2), as it is without "help".
func helpCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  palyra help\n  palyra help vault put",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return groupArgs(cmd, rest)
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
	}
}

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d (see --help)", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}
