package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// versionInfo is what `haul version --json` prints.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

func currentVersion() versionInfo {
	return versionInfo{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

// userAgent is sent with every HTTP request haul makes.
func userAgent() string { return "haul/" + version }

func newVersionCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit and build date",
		Example: "  haul version\n  haul version --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := currentVersion()
			if app.Config().JSON {
				enc := json.NewEncoder(app.IO.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			fmt.Fprintf(app.IO.Out, "haul %s", v.Version)
			if v.Commit != "" {
				fmt.Fprintf(app.IO.Out, " (commit %s", v.Commit)
				if v.Date != "" {
					fmt.Fprintf(app.IO.Out, ", built %s", v.Date)
				}
				fmt.Fprint(app.IO.Out, ")")
			}
			fmt.Fprintf(app.IO.Out, " %s %s\n", v.GoVersion, v.Platform)
			return nil
		},
	}
}
