// Package mandoc writes man pages of a cobra command tree with cobra's own
// generator (github.com/spf13/cobra/doc). Each binary adds [Command] to its
// tree as the hidden command "__gen-man DIR"; cmd/palyra-docs builds the
// binaries and runs it, so the pages are generated from the very tree the
// binary parses its arguments with, and the binaries' packages stay main.
package mandoc

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/palyra/palyra/internal/version"
)

// CommandName is the hidden command that writes the man pages.
const CommandName = "__gen-man"

// Command returns the hidden command "__gen-man DIR", which writes one man
// page per available command of its root's tree into DIR (created 0755 if
// absent), in the given section: root.SECTION, root-sub.SECTION, … The
// date is $SOURCE_DATE_EPOCH's when set (reproducible pages), else today's.
func Command(section string) *cobra.Command {
	return &cobra.Command{
		Use:    CommandName + " DIR",
		Short:  "Write the man pages of every command into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return Generate(c.Root(), section, args[0])
		},
	}
}

// Generate writes the man pages of root's tree into dir.
func Generate(root *cobra.Command, section, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil { // #nosec G301 -- man pages are public, installed for everyone
		return err
	}
	root.DisableAutoGenTag = true
	header := &doc.GenManHeader{
		Section: section,
		Source:  "Palyra " + version.Get().Version,
		Manual:  "Palyra Manual",
	}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	return nil
}
