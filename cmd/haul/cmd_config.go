package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newConfigCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the effective configuration",
		Example: `  haul config show
  haul config show --profile prod --json`,
	}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print every setting with its value and where it came from (secrets masked)",
		Example: `  haul config show
  HAUL_SERVER=https://media.example.com haul config show --profile prod
  haul config show --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := app.Config()
			settings := cfg.Settings()
			if cfg.JSON {
				enc := json.NewEncoder(app.IO.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"file": cfg.File, "profile": cfg.Profile, "settings": settings})
			}
			file := cfg.File
			if file == "" {
				file = "(none)"
			}
			fmt.Fprintf(app.IO.Out, "config file: %s\n", file)
			if cfg.Profile != "" {
				fmt.Fprintf(app.IO.Out, "profile:     %s\n", cfg.Profile)
			}
			fmt.Fprintln(app.IO.Out)
			tw := tabwriter.NewWriter(app.IO.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE\tENV")
			for _, s := range settings {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key, s.Value, s.Source, s.Env)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(show)
	return cmd
}
