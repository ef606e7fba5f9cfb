package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/api/palyra/v1/palyrav1connect"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/offline"
)

func auditCmd(g *globals) *cobra.Command {
	cmd := asGroup(&cobra.Command{Use: "audit", Short: "Inspect the tamper-evident audit journal",
		Example: "  palyra audit verify\n  palyra audit list --action vault.read --since 1h\n  palyra audit tail -f"})
	cmd.AddCommand(auditListCmd(g), auditShowCmd(g), auditTailCmd(g), &cobra.Command{
		Use:     "verify",
		Short:   "Recompute the journal's hash chain and check its signed checkpoints (works with the daemon running or stopped)",
		Example: "  palyra --state-dir ~/.local/state/palyra audit verify\n  palyra audit verify --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if g.identity != "" {
				return usagef("audit verify reads the local journal: use --state-dir, not --identity")
			}
			l, err := g.localLayout()
			if err != nil {
				return err
			}
			res, err := offline.VerifyAudit(c.Context(), l)
			var broken *audit.BrokenError
			if errors.As(err, &broken) {
				// With --json too, a failure is the error object on stderr
				// alone; the message names the first bad record.
				return fmt.Errorf("%w: %v", errIntegrity, err)
			}
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(map[string]any{"ok": true, "records": res.Records, "head": hex.EncodeToString(res.Head[:]), "checkpoints": res.Checkpoints, "uncovered": res.Uncovered})
			}
			fmt.Printf("audit journal intact: %d records, %d signed checkpoints, head %s\n", res.Records, res.Checkpoints, hex.EncodeToString(res.Head[:]))
			if res.Uncovered > 0 {
				fmt.Printf("%d records after the latest checkpoint (palyrad signs one within a second, and on stop)\n", res.Uncovered)
			}
			return nil
		},
	})
	return cmd
}

func auditListCmd(g *globals) *cobra.Command {
	var (
		since, principal, action string
		after                    int64
		limit                    int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List journal records: decisions and the outcomes of the actions they allowed",
		Example: "  palyra audit list --limit 20\n" +
			"  palyra audit list --action vault.read --principal 'User::\"admin\"' --since 2026-11-30T00:00:00Z --json",
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if limit < 0 || limit > 1000 {
				return usagef("--limit %d: want 1..1000", limit)
			}
			req := &palyrav1.AuditListRequest{AfterSeq: after, Principal: principal, Action: action, Limit: int32(limit)}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				req.SinceUnix = t.Unix()
			}
			r, err := call(c.Context(), g, auditSvc, palyrav1connect.AuditServiceClient.List, req)
			if err != nil {
				return err
			}
			if g.json {
				out := make([]map[string]any, 0, len(r.Records))
				for _, rec := range r.Records {
					out = append(out, recordJSON(rec))
				}
				return printJSON(out)
			}
			for _, rec := range r.Records {
				fmt.Println(recordLine(rec))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only records at or after this time (RFC 3339, or a duration such as 1h meaning that long ago)")
	cmd.Flags().StringVar(&principal, "principal", "", "only decisions of this principal, e.g. 'Device::\"01J...\"'")
	cmd.Flags().StringVar(&action, "action", "", "only decisions on this action, e.g. vault.read")
	cmd.Flags().Int64Var(&after, "after", 0, "only records after this sequence number")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many records (1..1000)")
	return cmd
}

func auditShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "show SEQ",
		Short:   "Show one journal record and, for a decision, the outcome recorded for it",
		Example: "  palyra audit show 42\n  palyra audit show 42 --json",
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			seq, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || seq < 1 {
				return usagef("SEQ %q: want a record number (1, 2, ...)", args[0])
			}
			r, err := call(c.Context(), g, auditSvc, palyrav1connect.AuditServiceClient.Get, &palyrav1.AuditGetRequest{Seq: seq})
			if err != nil {
				return err
			}
			if g.json {
				out := map[string]any{"record": recordJSON(r.Record)}
				if r.Outcome != nil {
					out["outcome"] = recordJSON(r.Outcome)
				}
				return printJSON(out)
			}
			fmt.Println(recordLine(r.Record))
			if r.Outcome != nil {
				fmt.Println(recordLine(r.Outcome))
			}
			return nil
		},
	}
}

func auditTailCmd(g *globals) *cobra.Command {
	var follow bool
	var n int
	cmd := &cobra.Command{
		Use:     "tail",
		Short:   "Print the last records; with -f, keep printing new ones until interrupted",
		Example: "  palyra audit tail\n  palyra audit tail -f --json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if n < 0 || n > 1000 {
				return usagef("-n %d: want 0..1000", n)
			}
			conn, err := g.dial(c.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			print := func(rec *palyrav1.AuditRecord) error {
				if g.json {
					b, _ := json.Marshal(recordJSON(rec))
					_, err := fmt.Printf("%s\n", b)
					return err
				}
				_, err := fmt.Println(recordLine(rec))
				return err
			}
			var after int64
			if n > 0 {
				r, err := conn.Audit.List(c.Context(), connect.NewRequest(&palyrav1.AuditListRequest{Newest: true, Limit: int32(n)}))
				if err != nil {
					return err
				}
				for _, rec := range r.Msg.Records {
					if err := print(rec); err != nil {
						return err
					}
					after = rec.Seq
				}
			}
			if !follow {
				return nil
			}
			stream, err := conn.Audit.Tail(c.Context(), connect.NewRequest(&palyrav1.AuditTailRequest{AfterSeq: after}))
			if err != nil {
				return err
			}
			defer stream.Close()
			for stream.Receive() {
				if err := print(stream.Msg()); err != nil {
					return err
				}
			}
			if err := stream.Err(); err != nil && c.Context().Err() == nil {
				return err
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new records until interrupted")
	cmd.Flags().IntVarP(&n, "lines", "n", 10, "print the last N records first (0..1000)")
	return cmd
}
