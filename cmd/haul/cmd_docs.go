package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func newDocsCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "docs",
		Short:   "Generate reference documentation",
		Example: "  haul docs man ./man",
	}
	man := &cobra.Command{
		Use:     "man DIR",
		Short:   "Write man pages for every command into DIR",
		Example: "  haul docs man ./man && man ./man/haul-fetch.1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", dir, err)
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			header := &doc.GenManHeader{Title: "HAUL", Section: "1", Source: "haul " + version, Manual: "haul manual"}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return fmt.Errorf("generate man pages: %w", err)
			}
			fmt.Fprintf(app.IO.ErrOut, "man pages written to %s\n", dir)
			return nil
		},
	}
	cmd.AddCommand(man)
	return cmd
}
