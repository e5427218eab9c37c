package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func flagSet(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("server", "", "")
	fs.String("token", "", "")
	fs.Bool("json", false, "")
	fs.Bool("no-progress", false, "")
	fs.CountP("verbose", "v", "")
	fs.IntP("jobs", "j", 8, "")
	fs.String("limit-rate", "", "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const sampleFile = `server: https://file.example
jobs: 3
limit_rate: 1M
profiles:
  prod:
    server: https://prod.example
    token: prod-secret-token-1234
`

func TestPrecedence(t *testing.T) {
	file := writeFile(t, sampleFile)
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		file       string
		profile    string
		wantServer string
		wantSource Source
		wantJobs   int
		jobsSource Source
	}{
		{name: "default only", wantServer: "", wantSource: SourceDefault, wantJobs: 8, jobsSource: SourceDefault},
		{name: "file beats default", file: file, wantServer: "https://file.example", wantSource: SourceFile, wantJobs: 3, jobsSource: SourceFile},
		{name: "profile beats file", file: file, profile: "prod", wantServer: "https://prod.example", wantSource: SourceProfile, wantJobs: 3, jobsSource: SourceFile},
		{name: "env beats profile", file: file, profile: "prod", env: map[string]string{"HAUL_SERVER": "https://env.example", "HAUL_JOBS": "5"},
			wantServer: "https://env.example", wantSource: SourceEnv, wantJobs: 5, jobsSource: SourceEnv},
		{name: "flag beats env", file: file, profile: "prod", args: []string{"--server", "https://flag.example/", "-j", "2"},
			env: map[string]string{"HAUL_SERVER": "https://env.example", "HAUL_JOBS": "5"}, wantServer: "https://flag.example", wantSource: SourceFlag, wantJobs: 2, jobsSource: SourceFlag},
		{name: "profile from env", file: file, env: map[string]string{"HAUL_PROFILE": "prod"}, wantServer: "https://prod.example", wantSource: SourceProfile, wantJobs: 3, jobsSource: SourceFile},
		{name: "file from HAUL_CONFIG", env: map[string]string{"HAUL_CONFIG": file}, wantServer: "https://file.example", wantSource: SourceFile, wantJobs: 3, jobsSource: SourceFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{"XDG_CONFIG_HOME": t.TempDir()}
			for k, v := range tt.env {
				e[k] = v
			}
			c, err := Load(Options{Flags: flagSet(t, tt.args...), Getenv: env(e), File: tt.file, Profile: tt.profile})
			if err != nil {
				t.Fatal(err)
			}
			if c.Server != tt.wantServer || c.Source("server") != tt.wantSource {
				t.Errorf("server = %q from %s, want %q from %s", c.Server, c.Source("server"), tt.wantServer, tt.wantSource)
			}
			jobs, err := c.Int("jobs")
			if err != nil {
				t.Fatal(err)
			}
			if jobs != tt.wantJobs || c.Source("jobs") != tt.jobsSource {
				t.Errorf("jobs = %d from %s, want %d from %s", jobs, c.Source("jobs"), tt.wantJobs, tt.jobsSource)
			}
		})
	}
}

func TestDefaultFileFromXDG(t *testing.T) {
	xdg := t.TempDir()
	if err := os.MkdirAll(filepath.Join(xdg, "haul"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(xdg, "haul", "config.yaml"), []byte("server: https://xdg.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Options{Flags: flagSet(t), Getenv: env(map[string]string{"XDG_CONFIG_HOME": xdg})})
	if err != nil {
		t.Fatal(err)
	}
	if c.Server != "https://xdg.example" || c.File != filepath.Join(xdg, "haul", "config.yaml") {
		t.Fatalf("server %q file %q", c.Server, c.File)
	}
}

func TestMalformedFileNamesFileAndLine(t *testing.T) {
	file := writeFile(t, "server: https://x\njobs: [1, 2\nfoo: bar\n")
	_, err := Load(Options{Flags: flagSet(t), Getenv: env(nil), File: file})
	if err == nil {
		t.Fatal("want error")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v is not ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "line") {
		t.Errorf("error %q should name the file and the line", err)
	}
}

func TestErrors(t *testing.T) {
	file := writeFile(t, sampleFile)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"missing explicit file", Options{File: filepath.Join(t.TempDir(), "nope.yaml")}, "nope.yaml"},
		{"unknown profile", Options{File: file, Profile: "staging"}, `profile "staging" not found`},
		{"bad bool", Options{Getenv: env(map[string]string{"HAUL_JSON": "maybe"})}, "json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Flags = flagSet(t)
			if tt.opts.Getenv == nil {
				tt.opts.Getenv = env(nil)
			}
			_, err := Load(tt.opts)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestSettingsMaskSecrets(t *testing.T) {
	file := writeFile(t, sampleFile)
	c, err := Load(Options{Flags: flagSet(t), Getenv: env(nil), File: file, Profile: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range c.Settings() {
		if s.Key == "token" {
			found = true
			if strings.Contains(s.Value, "prod-secret") || s.Value != "****1234" || s.Source != SourceProfile {
				t.Errorf("token setting = %+v", s)
			}
		}
	}
	if !found {
		t.Fatal("token missing from settings")
	}
}

func TestDuration(t *testing.T) {
	c, err := Load(Options{Flags: flagSet(t), Getenv: env(map[string]string{"HAUL_WAIT": "30s", "HAUL_LIMIT_RATE": "x"})})
	if err != nil {
		t.Fatal(err)
	}
	_ = c
	for in, want := range map[string]string{"30s": "30s", "90": "1m30s", "": "0s"} {
		fs := flagSet(t)
		fs.String("wait", in, "")
		c, err := Load(Options{Flags: fs, Getenv: env(nil)})
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.Duration("wait")
		if err != nil || d.String() != want {
			t.Errorf("Duration(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
}

// TestFileKeysSpelledLikeFlags: a config file may spell keys like the
// flags (limit-rate, no-progress) or like the keys (limit_rate); both
// apply, in profiles too, and the underscore spelling wins when both are
// written.
func TestFileKeysSpelledLikeFlags(t *testing.T) {
	file := writeFile(t, `limit-rate: 2M
no-progress: true
profiles:
  my-prod:
    limit-rate: 5M
  both:
    limit-rate: 1M
    limit_rate: 9M
`)
	tests := []struct {
		profile, want string
	}{{"", "2M"}, {"my-prod", "5M"}, {"both", "9M"}}
	for _, tt := range tests {
		c, err := Load(Options{Flags: flagSet(t), Getenv: env(map[string]string{"XDG_CONFIG_HOME": t.TempDir()}), File: file, Profile: tt.profile})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.String("limit_rate"); got != tt.want {
			t.Errorf("profile %q: limit_rate = %q, want %q (source %s)", tt.profile, got, tt.want, c.Source("limit_rate"))
		}
		if !c.NoProgress || c.Source("no_progress") != SourceFile {
			t.Errorf("profile %q: no-progress from the file not applied (source %s)", tt.profile, c.Source("no_progress"))
		}
	}
}

// TestServerURL: a bare host:port gets http:// on loopback and https://
// elsewhere; full URLs only lose their trailing slash.
func TestServerURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "",
		"https://media.example.com/":  "https://media.example.com",
		"http://10.0.0.5:8080":        "http://10.0.0.5:8080",
		"127.0.0.1:8080":              "http://127.0.0.1:8080",
		"localhost:8080/":             "http://localhost:8080",
		"[::1]:8080":                  "http://[::1]:8080",
		"localhost":                   "http://localhost",
		"media.example.com":           "https://media.example.com",
		"media.example.com:8443/haul": "https://media.example.com:8443/haul",
		" 10.0.0.5:8080 ":             "https://10.0.0.5:8080",
	} {
		if got := ServerURL(in); got != want {
			t.Errorf("ServerURL(%q) = %q, want %q", in, got, want)
		}
	}
}
