package main

import (
	"fmt"
	"io"
	"os"
	"strings"
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
		Example: "  printf %s \"$OPENAI_API_KEY\" | palyra vault put global/openai_api_key\n  palyra vault get global/openai_api_key\n  palyra vault list\n" +
			"  palyra vault history global/openai_api_key\n  palyra vault status\n  palyra vault rotate-kek"})
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
			Use:   "get SCOPE/KEY[#N]",
			Short: "Write a secret's value to stdout, byte for byte (with --json: base64 in a JSON object)",
			Long: "Write the latest version of the secret SCOPE/KEY, or version N of SCOPE/KEY#N, to stdout.\n" +
				"Piped or redirected, the bytes are exactly those stored, nothing added; on a terminal a newline\n" +
				"is added after a value that does not end with one, so the prompt starts on its own line.\n" +
				"Exit codes: 4 if the secret or that version does not exist (or fell out of retention).",
			Example: "  palyra vault get global/openai_api_key\n" +
				"  palyra vault get global/openai_api_key#2     # an older version (see vault history)\n" +
				"  OPENAI_API_KEY=$(palyra vault get global/openai_api_key)\n" +
				"  palyra vault get user:alice/gh_token --json",
			Args: exactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				r, err := call(c.Context(), g, vaultSvc, palyrav1connect.VaultServiceClient.Get, &palyrav1.VaultGetRequest{Ref: args[0]})
				if err != nil {
					return err
				}
				defer clear(r.Value)
				if g.json {
					return printJSON(map[string]any{"ref": args[0], "version": r.Version, "value_base64": r.Value})
				}
				return writeValue(os.Stdout, term.IsTerminal(int(os.Stdout.Fd())), r.Value)
			},
		},
		vaultListCmd(g),
		vaultRmCmd(g),
		vaultHistoryCmd(g),
		vaultStatusCmd(g),
		vaultRotateCmd(g),
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

func vaultRmCmd(g *globals) *cobra.Command {
	var version int64
	cmd := &cobra.Command{
		Use:        "rm SCOPE/KEY",
		SuggestFor: []string{"delete", "del", "remove"},
		Short:      "Delete every version of a secret, or one with --version",
		Long: "Delete every version of the secret SCOPE/KEY, or only version N with --version N. The removed\n" +
			"envelopes are erased from vault.db and its write-ahead log (secure_delete and a WAL checkpoint;\n" +
			"docs/vault-format.md). Exit codes: 4 if the secret or that version does not exist.",
		Example: "  palyra vault rm global/openai_api_key\n  palyra vault rm global/openai_api_key --version 2",
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if version < 0 {
				return usagef("--version %d: want a version >= 1", version)
			}
			r, err := call(c.Context(), g, vaultSvc, palyrav1connect.VaultServiceClient.Delete, &palyrav1.VaultDeleteRequest{Ref: args[0], Version: version})
			if err != nil {
				return err
			}
			if version > 0 {
				return g.report(map[string]any{"deleted": args[0], "version": version, "removed": r.Removed}, "deleted %s version %d", args[0], version)
			}
			return g.report(map[string]any{"deleted": args[0], "removed": r.Removed}, "deleted %s", args[0])
		},
	}
	cmd.Flags().Int64Var(&version, "version", 0, "delete only this version (default: every version)")
	return cmd
}

func vaultHistoryCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "history SCOPE/KEY",
		Short: "List a secret's kept versions: number, time, size and writer (never values)",
		Long: "List the kept versions of the secret SCOPE/KEY, oldest first: version number, when it was\n" +
			"stored (UTC), the value's size in bytes and the principal that wrote it (\"-\" for versions\n" +
			"written before writers were recorded). Values are never shown; read one with\n" +
			"`palyra vault get SCOPE/KEY#N`. Exit codes: 4 if the secret does not exist.",
		Example: "  palyra vault history global/openai_api_key\n  palyra vault history global/openai_api_key --json",
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			r, err := call(c.Context(), g, vaultSvc, palyrav1connect.VaultServiceClient.History, &palyrav1.VaultHistoryRequest{Ref: args[0]})
			if err != nil {
				return err
			}
			if g.json {
				out := []map[string]any{}
				for _, v := range r.Versions {
					out = append(out, map[string]any{"version": v.Version, "created": time.Unix(v.CreatedUnix, 0).UTC().Format(time.RFC3339), "size": v.Size, "principal": v.Principal})
				}
				return printJSON(out)
			}
			for _, v := range r.Versions {
				p := v.Principal
				if p == "" {
					p = "-"
				}
				fmt.Printf("v%d\t%s\t%d bytes\t%s\n", v.Version, time.Unix(v.CreatedUnix, 0).UTC().Format(time.RFC3339), v.Size, p)
			}
			return nil
		},
	}
}

func vaultStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the vault's master-key provider, KEKs, retention and counts",
		Long: "Show the master-key provider, each KEK in use with the number of envelopes it protects and\n" +
			"which one is active (new writes use it), the retention (versions kept per secret), the number\n" +
			"of secrets and versions, and whether a KEK rotation is in progress. Needs vault.admin on\n" +
			"Vault::\"*\" (exit code 3 otherwise).",
		Example: "  palyra vault status\n  palyra vault status --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := call(c.Context(), g, vaultSvc, palyrav1connect.VaultServiceClient.Status, &palyrav1.VaultStatusRequest{})
			if err != nil {
				return err
			}
			if g.json {
				keks := []map[string]any{}
				for _, k := range r.Keks {
					keks = append(keks, map[string]any{"kek_id": k.KekId, "envelopes": k.Envelopes, "active": k.Active})
				}
				return printJSON(map[string]any{"provider": r.Provider, "keks": keks, "retention": r.Retention,
					"secrets": r.Secrets, "versions": r.Versions, "rotation_in_progress": r.RotationInProgress})
			}
			fmt.Printf("provider:   %s\n", r.Provider)
			for _, k := range r.Keks {
				active := ""
				if k.Active {
					active = " (active)"
				}
				fmt.Printf("kek:        %s\t%d envelopes%s\n", k.KekId, k.Envelopes, active)
			}
			fmt.Printf("retention:  %d versions\n", r.Retention)
			fmt.Printf("secrets:    %d\n", r.Secrets)
			fmt.Printf("versions:   %d\n", r.Versions)
			fmt.Printf("rotation:   %s\n", map[bool]string{true: "in progress", false: "none"}[r.RotationInProgress])
			return nil
		},
	}
}

func vaultRotateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-kek",
		Short: "Make a new KEK active and re-wrap every DEK under it (values are never decrypted)",
		Long: "Derive the next KEK generation from the master key (id mk1:vault-kek:N), make it active, and\n" +
			"re-wrap every envelope's DEK under it, 500 envelopes per transaction; values are never\n" +
			"decrypted. The new KEK is recorded before re-wrapping starts, so an interrupted rotation is\n" +
			"finished when palyrad next starts, or by the next rotate-kek. Old KEKs are retired once no\n" +
			"envelope uses them. Needs vault.admin on Vault::\"*\" (exit code 3 otherwise).",
		Example: "  palyra vault rotate-kek\n  palyra vault rotate-kek --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := call(c.Context(), g, vaultSvc, palyrav1connect.VaultServiceClient.RotateKEK, &palyrav1.VaultRotateKEKRequest{})
			if err != nil {
				return err
			}
			retired := r.Retired
			if retired == nil {
				retired = []string{}
			}
			return g.report(map[string]any{"kek_id": r.KekId, "rewrapped": r.Rewrapped, "retired": retired},
				"active KEK %s; %d DEKs re-wrapped; retired: %s", r.KekId, r.Rewrapped, strings.Join(append([]string{}, retired...), ", "))
		},
	}
}
