package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/config"
)

// Build information, set with -ldflags by goreleaser and the Makefile.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// App is what every command shares: its streams, the environment, and the
// configuration and logger built once the flags are parsed.
type App struct {
	// IO are the command's streams.
	IO *IOStreams
	// Getenv reads the environment.
	Getenv func(string) string

	cfg    *config.Config
	logger *slog.Logger
}

// Config returns the effective configuration. It is loaded before any
// command's RunE runs.
func (a *App) Config() *config.Config {
	if a.cfg == nil {
		c, err := config.Load(config.Options{Getenv: a.Getenv})
		if err != nil {
			c = &config.Config{}
		}
		a.cfg = c
	}
	return a.cfg
}

// Logger returns the structured logger: text on stderr, JSON with --json,
// more detail with -v.
func (a *App) Logger() *slog.Logger {
	if a.logger == nil {
		a.logger = newLogger(a.IO, a.Config())
	}
	return a.logger
}

func newLogger(io *IOStreams, cfg *config.Config) *slog.Logger {
	level := slog.LevelInfo
	if cfg.Verbose > 0 {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.JSON {
		return slog.New(slog.NewJSONHandler(io.ErrOut, opts))
	}
	return slog.New(slog.NewTextHandler(io.ErrOut, opts))
}

// run builds the command tree, runs it and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, io *IOStreams) int {
	app := &App{IO: io, Getenv: getenv}
	root := newRootCmd(app)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCodeOf(err)
	var ce *codedError
	if !errors.As(err, &ce) && isUsageError(err) {
		code = exitUsage
	}
	if code == exitInterrupted {
		fmt.Fprintln(io.ErrOut, "haul: interrupted")
	} else {
		fmt.Fprintf(io.ErrOut, "haul: %v\n", err)
	}
	return code
}

// isUsageError recognises cobra's own argument and flag errors.
func isUsageError(err error) bool {
	if errors.Is(err, config.ErrInvalid) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "requires at most", "required flag", "if any flags in the group"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func newRootCmd(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:   "haul",
		Short: "Export and download media, verified and resumable; serve the API it speaks",
		Long: `haul downloads and exports media from a content platform with bounded
concurrency, resumable range requests, checksum verification and polite
backoff, and serves the same API for small self-hosted installs.

Configuration comes from flags, HAUL_* environment variables and the config
file ($XDG_CONFIG_HOME/haul/config.yaml), in that order of precedence.`,
		Example: `  haul fetch manifest.json -o downloads
  haul export --tag launch --format mp4_720p -o launch
  HAUL_SERVER=https://media.example.com haul assets list
  haul serve --addr 127.0.0.1:8080 --data ./haul-data`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			file, _ := cmd.Flags().GetString("config")
			profile, _ := cmd.Flags().GetString("profile")
			cfg, err := config.Load(config.Options{Flags: cmd.Flags(), Getenv: app.Getenv, File: file, Profile: profile})
			if err != nil {
				return withExit(exitUsage, err)
			}
			app.cfg = cfg
			app.logger = nil
			return nil
		},
	}
	root.SetOut(app.IO.Out)
	root.SetErr(app.IO.ErrOut)
	root.SetVersionTemplate("haul {{.Version}}\n")

	pf := root.PersistentFlags()
	pf.String("server", "", "base URL of the haul API (env HAUL_SERVER)")
	pf.String("token", "", "API key sent as a Bearer token (env HAUL_TOKEN)")
	pf.String("profile", "", "named profile from the config file (env HAUL_PROFILE)")
	pf.String("config", "", "config file (default $XDG_CONFIG_HOME/haul/config.yaml)")
	pf.Bool("json", false, "machine-readable JSON output")
	pf.Bool("no-progress", false, "do not draw progress bars")
	pf.CountP("verbose", "v", "more detail in logs (repeatable)")

	root.AddCommand(
		newVersionCmd(app),
		newConfigCmd(app),
		newDocsCmd(app),
	)
	root.AddCommand(commandsFromFeatures(app)...)
	addCompletionExamples(root)
	return root
}

// completionExamples show how to load each shell's script.
var completionExamples = map[string]string{
	"bash":       "  source <(haul completion bash)\n  haul completion bash > /etc/bash_completion.d/haul",
	"zsh":        "  haul completion zsh > \"${fpath[1]}/_haul\"",
	"fish":       "  haul completion fish > ~/.config/fish/completions/haul.fish",
	"powershell": "  haul completion powershell | Out-String | Invoke-Expression",
}

// addCompletionExamples creates cobra's completion command now (instead of
// lazily at Execute) so that it and its shells carry examples like every
// other command.
func addCompletionExamples(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = `  source <(haul completion bash)
  haul completion zsh > "${fpath[1]}/_haul"
  haul completion fish > ~/.config/fish/completions/haul.fish`
		for _, sh := range c.Commands() {
			sh.Example = completionExamples[sh.Name()]
			if sh.Example == "" {
				sh.Example = fmt.Sprintf("  haul completion %s > haul.completion", sh.Name())
			}
		}
	}
}
