package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runHaul runs the command tree in-process with the given environment.
func runHaul(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["XDG_CONFIG_HOME"]; !ok {
		env["XDG_CONFIG_HOME"] = t.TempDir()
	}
	io, out, errOut := testIO()
	code = run(context.Background(), args, func(k string) string { return env[k] }, io)
	return code, out.String(), errOut.String()
}

func TestVersionJSON(t *testing.T) {
	code, out, _ := runHaul(t, nil, "version", "--json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if v.Version == "" || v.GoVersion == "" {
		t.Fatalf("incomplete: %+v", v)
	}
}

func TestMalformedConfigExits2(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(file, []byte("server: x\n  token: : y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runHaul(t, nil, "--config", file, "config", "show")
	if code != exitUsage {
		t.Fatalf("exit %d, want 2; stderr %s", code, stderr)
	}
	if !strings.Contains(stderr, file) || !strings.Contains(stderr, "line 2") {
		t.Fatalf("stderr should name the file and line: %s", stderr)
	}
}

func TestConfigShowSourcesAndMasking(t *testing.T) {
	env := map[string]string{"HAUL_TOKEN": "supersecretvalue9876", "HAUL_SERVER": "https://env.example"}
	code, out, stderr := runHaul(t, env, "config", "show", "--server", "https://flag.example")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(out, "supersecret") {
		t.Fatalf("secret leaked:\n%s", out)
	}
	for _, want := range []string{"https://flag.example", "flag", "****9876", "env", "HAUL_TOKEN"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"no-such-command"}, {"version", "--no-such-flag"}, {"version", "extra"}} {
		code, _, stderr := runHaul(t, nil, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
}

func TestHelpListsCommands(t *testing.T) {
	code, out, _ := runHaul(t, nil, "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"version", "completion", "config", "docs"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestManPages(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runHaul(t, nil, "docs", "man", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "haul.1")); err != nil {
		t.Fatal(err)
	}
}

// TestEveryCommandHasExamples walks the whole command tree: every command a
// user can reach, including cobra's completion command, shows examples in
// its --help.
func TestEveryCommandHasExamples(t *testing.T) {
	io, _, _ := testIO()
	app := &App{IO: io, Getenv: func(string) string { return "" }}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(app))
}
