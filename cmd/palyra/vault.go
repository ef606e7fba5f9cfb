package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"
	"github.com/palyra/palyra/internal/vault"
)

func vaultCmd(g *globals) *cobra.Command {
	cmd := asGroup(&cobra.Command{Use: "vault", Short: "Store and use secrets in the encrypted vault",
		Example: "  printf %s \"$OPENAI_API_KEY\" | palyra vault put global/openai_api_key\n  palyra vault get global/openai_api_key\n  palyra vault list"})
	cmd.AddCommand(
		&cobra.Command{
			Use:        "put SCOPE/KEY",
			SuggestFor: []string{"set", "add", "store"},
			Short:      "Store a new version of a secret, read from stdin (never from arguments)",
			Long: "Store a new version of the secret SCOPE/KEY. The value is read from stdin, never from an\n" +
				"argument (arguments end up in shell history and in every process listing).\n\n" +
				"From a pipe or a file the bytes are stored exactly as read, up to EOF (at most 64 KiB): nothing\n" +
				"is trimmed, so `printf %s \"$KEY\"` stores the key alone while `echo \"$KEY\"` stores it with a\n" +
				"trailing newline. From a terminal the value is read without echo up to Enter, and the newline\n" +
				"is not stored. An empty value is refused.",
			Example: "  printf %s \"$OPENAI_API_KEY\" | palyra vault put global/openai_api_key\n" +
				"  palyra vault put user:alice/gh_token < token.txt\n" +
				"  palyra vault put global/openai_api_key        # on a terminal: prompts, without echo",
			Args: func(cmd *cobra.Command, args []string) error {
				if len(args) > 1 {
					// Never echo the extra arguments: they are likely the value.
					return usagef("%s takes the value from stdin, not as an argument (it would be in shell history and process listings): printf %%s \"$VALUE\" | %s SCOPE/KEY", cmd.CommandPath(), cmd.CommandPath())
				}
				return exactArgs(1)(cmd, args)
			},
			RunE: func(c *cobra.Command, args []string) error {
				if _, err := vault.ParseRef(args[0]); err != nil {
					return usageError{err}
				}
				value, err := readSecret()
				if err != nil {
					return err
				}
				r, err := call(c.Context(), g, vaultSvc, palyrav1connect.VaultServiceClient.Put, &palyrav1.VaultPutRequest{Ref: args[0], Value: value})
				clear(value)
				if err != nil {
					return err
				}
				return g.report(map[string]any{"ref": args[0], "version": r.Version}, "stored %s (version %d)", args[0], r.Version)
			},
		},
		&cobra.Command{
			Use:   "get SCOPE/KEY",
			Short: "Write a secret's value to stdout, byte for byte (with --json: base64 in a JSON object)",
			Long: "Write the latest version of the secret SCOPE/KEY to stdout. Piped or redirected, the bytes are\n" +
				"exactly those stored, nothing added; on a terminal a newline is added after a value that does\n" +
				"not end with one, so the prompt starts on its own line.",
			Example: "  palyra vault get global/openai_api_key\n" +
				"  OPENAI_API_KEY=$(palyra vault get global/openai_api_key)\n" +
				"  palyra vault get user:alice/gh_token --json",
			Args: exactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				r, err := call(c.Context(), g, vaultSvc, palyrav1connect.VaultServiceClient.Get, &palyrav1.VaultGetRequest{Ref: args[0]})
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(map[string]any{"ref": args[0], "value_base64": r.Value})
				}
				return writeValue(os.Stdout, term.IsTerminal(int(os.Stdout.Fd())), r.Value)
			},
		},
		vaultListCmd(g),
		&cobra.Command{
			Use:        "rm SCOPE/KEY",
			SuggestFor: []string{"delete", "del", "remove"},
			Short:      "Delete every version of a secret",
			Example:    "  palyra vault rm global/openai_api_key",
			Args:       exactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				if _, err := call(c.Context(), g, vaultSvc, palyrav1connect.VaultServiceClient.Delete, &palyrav1.VaultDeleteRequest{Ref: args[0]}); err != nil {
					return err
				}
				return g.report(map[string]any{"deleted": args[0]}, "deleted %s", args[0])
			},
		},
	)
	cmd.AddCommand(vaultProviderCmd(g))
	return cmd
}

// writeValue writes a secret's value to w: byte for byte, plus a newline
// when w is a terminal and the value does not end with one.
func writeValue(w io.Writer, terminal bool, v []byte) error {
	if _, err := w.Write(v); err != nil {
		return err
	}
	if terminal && (len(v) == 0 || v[len(v)-1] != '\n') {
		_, err := w.Write([]byte{'\n'})
		return err
	}
	return nil
}

// readSecret reads the value from stdin: without echo from a terminal, else
// every byte up to EOF (at most vault.MaxValueBytes).
func readSecret() ([]byte, error) {
	if term.IsTerminal(int(os.Stdin.Fd())) {
		fmt.Fprint(os.Stderr, "value (not echoed): ")
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		if err == nil && len(b) == 0 {
			return nil, usagef("empty value; nothing stored")
		}
		return b, err
	}
	b, err := io.ReadAll(io.LimitReader(os.Stdin, vault.MaxValueBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	if len(b) > vault.MaxValueBytes {
		return nil, usagef("value on stdin exceeds %d bytes", vault.MaxValueBytes)
	}
	if len(b) == 0 {
		// Almost always an unset variable piped in; never store it silently.
		return nil, usagef("empty value on stdin; nothing stored")
	}
	return b, nil
}

func vaultListCmd(g *globals) *cobra.Command {
	var (
		limit int
		after string
	)
	cmd := &cobra.Command{
		Use:        "list [SCOPE]",
		SuggestFor: []string{"ls"},
		Short:      "List secret names (never values), in one scope or all",
		Long: "List secret names and versions, never values, ordered by reference.\n\n" +
			"Without --limit every page is fetched. With --limit N one page of at most N (1..1000)\n" +
			"is printed, and the reference to pass as --after for the next page is printed on stderr.",
		Example: "  palyra vault list\n  palyra vault list global --limit 50\n  palyra vault list --limit 50 --after global/openai_api_key",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s takes at most one scope", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if limit < 0 || limit > 1000 {
				return usagef("--limit %d: want 1..1000", limit)
			}
			req := &palyrav1.VaultListRequest{After: after, Limit: int32(limit)}
			if len(args) == 1 {
				req.Scope = args[0]
			}
			conn, err := g.dial(c.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			var all []*palyrav1.SecretEntry
			next := ""
			for {
				r, err := conn.Vault.List(c.Context(), connect.NewRequest(req))
				if err != nil {
					return err
				}
				all = append(all, r.Msg.Secrets...)
				next = r.Msg.NextAfter
				if limit > 0 || next == "" {
					break
				}
				req.After = next
			}
			if g.json {
				out := []map[string]any{}
				for _, s := range all {
					out = append(out, map[string]any{"ref": s.Ref, "version": s.Version, "updated": time.Unix(s.UpdatedUnix, 0).UTC().Format(time.RFC3339)})
				}
				if limit > 0 {
					return printJSON(map[string]any{"secrets": out, "next_after": next})
				}
				return printJSON(out)
			}
			for _, s := range all {
				fmt.Printf("%s\tv%d\t%s\n", s.Ref, s.Version, time.Unix(s.UpdatedUnix, 0).UTC().Format(time.RFC3339))
			}
			if limit > 0 && next != "" {
				fmt.Fprintf(os.Stderr, "more: palyra vault list --limit %d --after %s\n", limit, next)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "print one page of at most this many secrets (1..1000)")
	cmd.Flags().StringVar(&after, "after", "", "start after this SCOPE/KEY (from the previous page)")
	return cmd
}
