package main

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/daemon"
)

func auditCmd(g *globals) *cobra.Command {
	cmd := asGroup(&cobra.Command{Use: "audit", Short: "Inspect the tamper-evident audit journal"})
	cmd.AddCommand(&cobra.Command{
		Use:   "verify",
		Short: "Recompute the journal's hash chain and check its signed checkpoints (works with the daemon running or stopped)",
		Args:  exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if g.identity != "" {
				return usagef("audit verify reads the local journal: use --state-dir, not --identity")
			}
			l, err := g.layout()
			if err != nil {
				return err
			}
			res, err := daemon.VerifyAudit(c.Context(), l)
			var broken *audit.BrokenError
			if errors.As(err, &broken) {
				if g.json {
					printJSON(map[string]any{"ok": false, "first_bad_record": broken.Seq, "error": err.Error()})
				}
				return fmt.Errorf("%w: %v", errIntegrity, err)
			}
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(map[string]any{"ok": true, "records": res.Records, "head": hex.EncodeToString(res.Head[:]), "checkpoints": res.Checkpoints})
			}
			fmt.Printf("audit journal intact: %d records, %d signed checkpoints, head %s\n", res.Records, res.Checkpoints, hex.EncodeToString(res.Head[:]))
			return nil
		},
	})
	return cmd
}
