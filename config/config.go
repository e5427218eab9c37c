// Package config turns flags, HAUL_* environment variables and the config
// file into one effective configuration, remembering where each value came
// from. It is the only package that uses viper; library packages receive
// plain option structs copied from a Config by the commands.
//
// Precedence, highest first: a flag set on the command line, the HAUL_*
// environment variable, the selected profile in the config file, the top
// level of the config file, the flag's default.
//
// Keys are flag names with dashes turned into underscores: --limit-rate is
// key limit_rate, environment HAUL_LIMIT_RATE, and "limit_rate:" in the file.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// EnvPrefix prefixes every environment variable haul reads.
const EnvPrefix = "HAUL"

// Source says where a configuration value came from.
type Source string

// Sources of a value, highest precedence first.
const (
	SourceFlag    Source = "flag"
	SourceEnv     Source = "env"
	SourceProfile Source = "profile"
	SourceFile    Source = "file"
	SourceDefault Source = "default"
)

// ErrInvalid marks configuration errors: a malformed or missing config file,
// an unknown profile, a value of the wrong type. Commands exit 2 on them.
var ErrInvalid = errors.New("invalid configuration")

// Options say where to load configuration from.
type Options struct {
	// Flags are the parsed flags of the command being run, including the
	// inherited global flags. Every flag becomes a key.
	Flags *pflag.FlagSet
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
	// File is the config file given with --config; when empty the default
	// $XDG_CONFIG_HOME/haul/config.yaml is used if it exists.
	File string
	// Profile selects a section under "profiles:" in the file; when empty,
	// HAUL_PROFILE or the file's top-level "profile:" key is used.
	Profile string
}

// Config is the effective configuration of one command run.
type Config struct {
	// Server is the base URL of the haul API.
	Server string
	// Token is the API key sent as a Bearer token.
	Token string
	// Profile is the selected profile, empty when none.
	Profile string
	// File is the config file that was read, empty when none.
	File string
	// JSON asks for machine-readable output.
	JSON bool
	// NoProgress turns progress bars off.
	NoProgress bool
	// Verbose is the number of -v flags.
	Verbose int

	v       *viper.Viper
	flags   *pflag.FlagSet
	getenv  func(string) string
	file    map[string]any
	profile map[string]any
	keys    []string
}

// secretKeys are masked by Settings.
var secretKeys = map[string]bool{"token": true, "secret": true, "password": true}

// DefaultFile returns the default config file path:
// $XDG_CONFIG_HOME/haul/config.yaml, else ~/.config/haul/config.yaml.
func DefaultFile(getenv func(string) string) string {
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" {
		return filepath.Join(dir, "haul", "config.yaml")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".config", "haul", "config.yaml")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".config", "haul", "config.yaml")
	}
	return ""
}

// Key turns a flag name into its configuration key.
func Key(flagName string) string { return strings.ReplaceAll(flagName, "-", "_") }

// fileKeys spells the config file's keys as keys: dashes become
// underscores, at the top level and inside each profile (profile names
// stay as written). A key written both ways keeps the underscore one.
func fileKeys(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, val := range m {
		if k == "profiles" {
			if profiles, ok := val.(map[string]any); ok {
				ps := make(map[string]any, len(profiles))
				for name, p := range profiles {
					if pm, ok := p.(map[string]any); ok {
						p = fileKeys(pm)
					}
					ps[name] = p
				}
				val = ps
			}
		}
		key := Key(k)
		if _, dup := out[key]; dup && key != k {
			continue
		}
		out[key] = val
	}
	return out
}

// ServerURL normalizes a --server value: no trailing slash, and a bare
// host[:port] gets a scheme, http:// for loopback hosts (a local haul
// serve) and https:// for any other host, so an API key never goes out in
// clear text unless the user writes http:// himself.
func ServerURL(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if s == "" || strings.Contains(s, "://") {
		return s
	}
	host, _, _ := strings.Cut(s, "/")
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	if ip := net.ParseIP(name); strings.EqualFold(name, "localhost") || (ip != nil && ip.IsLoopback()) {
		return "http://" + s
	}
	return "https://" + s
}

// EnvVar returns the environment variable that sets key.
func EnvVar(key string) string { return EnvPrefix + "_" + strings.ToUpper(key) }

// Load builds the effective configuration.
func Load(opts Options) (*Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	v := viper.New()
	c := &Config{v: v, flags: opts.Flags, getenv: getenv}

	file, explicit := opts.File, opts.File != ""
	if !explicit {
		file = getenv(EnvPrefix + "_CONFIG")
		explicit = file != ""
	}
	if !explicit {
		file = DefaultFile(getenv)
	}
	if file != "" {
		raw, err := os.ReadFile(file)
		switch {
		case err == nil:
			v.SetConfigType("yaml")
			if err := v.ReadConfig(strings.NewReader(string(raw))); err != nil {
				return nil, fmt.Errorf("%w: config file %s: %s", ErrInvalid, file, yamlMessage(err))
			}
			// Keys may be spelled like the flags (rate-limit) or like the
			// keys (rate_limit); viper only knows the latter.
			settings := fileKeys(v.AllSettings())
			v = viper.New()
			if err := v.MergeConfigMap(settings); err != nil {
				return nil, fmt.Errorf("%w: config file %s: %v", ErrInvalid, file, err)
			}
			c.v = v
			c.File = file
			c.file = settings
		case errors.Is(err, os.ErrNotExist) && !explicit:
			// No config file is fine.
		default:
			return nil, fmt.Errorf("%w: config file %s: %v", ErrInvalid, file, err)
		}
	}

	profile := opts.Profile
	if profile == "" {
		profile = getenv(EnvPrefix + "_PROFILE")
	}
	if profile == "" {
		profile = v.GetString("profile")
	}
	if profile != "" {
		profiles, _ := c.file["profiles"].(map[string]any)
		p, ok := profiles[strings.ToLower(profile)].(map[string]any)
		if !ok {
			where := "no config file"
			if c.File != "" {
				where = "config file " + c.File
			}
			return nil, fmt.Errorf("%w: profile %q not found in %s; define it under \"profiles:\"", ErrInvalid, profile, where)
		}
		if err := v.MergeConfigMap(p); err != nil {
			return nil, fmt.Errorf("%w: profile %q: %v", ErrInvalid, profile, err)
		}
		c.profile = p
		c.Profile = profile
	}

	seen := map[string]bool{}
	if opts.Flags != nil {
		var bindErr error
		opts.Flags.VisitAll(func(f *pflag.Flag) {
			key := Key(f.Name)
			if seen[key] || f.Name == "help" || f.Name == "config" || f.Name == "profile" {
				return
			}
			seen[key] = true
			c.keys = append(c.keys, key)
			if err := v.BindPFlag(key, f); err != nil && bindErr == nil {
				bindErr = err
			}
		})
		if bindErr != nil {
			return nil, fmt.Errorf("bind flags: %w", bindErr)
		}
	}
	for _, key := range []string{"server", "token"} {
		if !seen[key] {
			c.keys = append(c.keys, key)
			seen[key] = true
		}
	}
	sort.Strings(c.keys)
	// The environment sits between flags and the file. viper's Set would
	// beat flags too, so it is applied only where no flag was given; and
	// Getenv (not os.Getenv) is the only way the environment is read.
	for _, key := range c.keys {
		if val, ok := lookupEnv(getenv, EnvVar(key)); ok && c.Source(key) == SourceEnv {
			v.Set(key, val)
		}
	}

	var err error
	c.Server = ServerURL(v.GetString("server"))
	c.Token = strings.TrimSpace(v.GetString("token"))
	if c.JSON, err = c.boolValue("json"); err != nil {
		return nil, err
	}
	if c.NoProgress, err = c.boolValue("no_progress"); err != nil {
		return nil, err
	}
	if c.Verbose, err = c.intValue("verbose"); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) boolValue(key string) (bool, error) {
	if c.v.Get(key) == nil {
		return false, nil
	}
	switch s := strings.ToLower(strings.TrimSpace(fmt.Sprint(c.v.Get(key)))); s {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off", "":
		return false, nil
	default:
		return false, fmt.Errorf("%w: %s=%q (from %s) is not a boolean", ErrInvalid, key, s, c.Source(key))
	}
}

func (c *Config) intValue(key string) (int, error) {
	if c.v.Get(key) == nil {
		return 0, nil
	}
	var n int
	s := strings.TrimSpace(fmt.Sprint(c.v.Get(key)))
	if _, err := fmt.Sscan(s, &n); err != nil {
		return 0, fmt.Errorf("%w: %s=%q (from %s) is not a whole number", ErrInvalid, key, s, c.Source(key))
	}
	return n, nil
}

// String returns the value of key as a string.
func (c *Config) String(key string) string { return c.v.GetString(key) }

// Int returns the value of key as an int, or an ErrInvalid error naming the
// key and its source when it is not a whole number.
func (c *Config) Int(key string) (int, error) { return c.intValue(key) }

// Bool returns the value of key as a bool, or an ErrInvalid error.
func (c *Config) Bool(key string) (bool, error) { return c.boolValue(key) }

// Duration returns the value of key as a duration ("30s", "5m", or a
// number of seconds), or an ErrInvalid error.
func (c *Config) Duration(key string) (time.Duration, error) {
	s := strings.TrimSpace(c.v.GetString(key))
	if s == "" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	var secs float64
	if _, err := fmt.Sscan(s, &secs); err == nil {
		return time.Duration(secs * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("%w: %s=%q (from %s) is not a duration like 30s or 5m", ErrInvalid, key, s, c.Source(key))
}

// StringSlice returns the value of key as a list of strings.
func (c *Config) StringSlice(key string) []string { return c.v.GetStringSlice(key) }

// IsSet reports whether key was set anywhere other than a flag default.
func (c *Config) IsSet(key string) bool { return c.Source(key) != SourceDefault }

// Source reports where the effective value of key came from.
func (c *Config) Source(key string) Source {
	if c.flags != nil {
		for _, name := range []string{key, strings.ReplaceAll(key, "_", "-")} {
			if f := c.flags.Lookup(name); f != nil && f.Changed {
				return SourceFlag
			}
		}
	}
	if _, ok := lookupEnv(c.getenv, EnvVar(key)); ok {
		return SourceEnv
	}
	if _, ok := c.profile[key]; ok {
		return SourceProfile
	}
	if _, ok := c.file[key]; ok {
		return SourceFile
	}
	return SourceDefault
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// Setting is one effective value, for display.
type Setting struct {
	// Key is the configuration key.
	Key string `json:"key"`
	// Value is the effective value, masked when secret.
	Value string `json:"value"`
	// Source says where the value came from.
	Source Source `json:"source"`
	// Env is the environment variable that sets this key.
	Env string `json:"env"`
}

// Settings lists every known key with its effective value (secrets masked)
// and its source, sorted by key.
func (c *Config) Settings() []Setting {
	out := make([]Setting, 0, len(c.keys))
	for _, key := range c.keys {
		val := fmt.Sprint(c.v.Get(key))
		if s, ok := c.v.Get(key).([]string); ok {
			val = strings.Join(s, ",")
		}
		if secretKeys[key] || strings.HasSuffix(key, "_token") || strings.HasSuffix(key, "_secret") {
			val = Mask(val)
		}
		out = append(out, Setting{Key: key, Value: val, Source: c.Source(key), Env: EnvVar(key)})
	}
	return out
}

// Mask hides all but the last four characters of a secret.
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	if len(secret) <= 8 {
		return "****"
	}
	return "****" + secret[len(secret)-4:]
}

// yamlMessage shortens a YAML parse error while keeping its line number.
func yamlMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "yaml: "); i >= 0 {
		msg = msg[i+len("yaml: "):]
	}
	return msg
}
