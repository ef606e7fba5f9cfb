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
	cmd := asGroup(&cobra.Command{Use: "vault", Short: "Store and use secrets in the encrypted vault"})
	cmd.AddCommand(
		&cobra.Command{
			Use:        "put SCOPE/KEY",
			SuggestFor: []string{"set", "add", "store"},
			Short:      "Store a new version of a secret, read from stdin (never from arguments)",
			Args:       exactArgs(1),
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
			Args:  exactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				r, err := call(c.Context(), g, vaultSvc, palyrav1connect.VaultServiceClient.Get, &palyrav1.VaultGetRequest{Ref: args[0]})
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(map[string]any{"ref": args[0], "value_base64": r.Value})
				}
				_, err = os.Stdout.Write(r.Value)
				return err
			},
		},
		vaultListCmd(g),
		&cobra.Command{
			Use:        "rm SCOPE/KEY",
			SuggestFor: []string{"delete", "del", "remove"},
			Short:      "Delete every version of a secret",
			Args:       exactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				if _, err := call(c.Context(), g, vaultSvc, palyrav1connect.VaultServiceClient.Delete, &palyrav1.VaultDeleteRequest{Ref: args[0]}); err != nil {
					return err
				}
				return g.report(map[string]any{"deleted": args[0]}, "deleted %s", args[0])
			},
		},
	)
	return cmd
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
