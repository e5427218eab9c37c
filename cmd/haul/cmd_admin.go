package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/server"
	"github.com/haulhq/haul/store"
)

// adminOptions are the flags every `haul admin` command shares.
type adminOptions struct {
	Backends backendOptions
	JSON     bool
	// API, when set, makes the tenant and key commands go through the
	// server's /v1/tenants and /v1/keys (an admin API key) instead of the
	// store: no --data or --db was given, there is no store at the default
	// data directory, and a server is configured.
	API apiClientFunc
	// NoStore says why there is no store to open: the default data
	// directory holds none, and it is not created behind the user's back
	// (a fresh store there would hold tenants and keys no server knows).
	NoStore string
	// NewStoreNotice, when set, is printed on stderr before the default
	// data directory's store is created.
	NewStoreNotice string
	// ErrOut receives NewStoreNotice.
	ErrOut io.Writer
}

func newAdminCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage tenants and API keys of a haul server's store",
		Long: `Manage tenants and API keys directly in a server's store: the SQLite
database under --data (the server may be running), or --db.

Without --data and --db, and with no store in ./haul-data, the tenant and
key commands talk to the server named by --server (or HAUL_SERVER) through
its API instead, with an admin API key (--token or HAUL_TOKEN). With no
server either, they create the store in ./haul-data (for a server to be
started there) and say so.

API keys are shown once, when made; only their hash is stored.

EXIT STATUS
  0  done
  1  runtime error (no such tenant or key, store unreachable)
  2  usage error (bad scope, bad tenant name)
  4  the API key was refused (through the API: it needs the admin scope)`,
		Example: `  haul admin tenant create acme
  haul admin key create --tenant acme --scopes read,export --name ci
  haul admin key list --tenant acme
  haul admin key revoke key_01JD… --tenant acme
  haul admin signing-key rotate --grace 24h`,
	}
	pf := cmd.PersistentFlags()
	pf.String("data", "./haul-data", "data directory of the server")
	pf.String("db", "", "metadata store URL (default: SQLite at DATA/haul.db)")
	cmd.AddCommand(newAdminTenantCmd(app), newAdminKeyCmd(app), newAdminSigningKeyCmd(app), newAdminMigrateStoreCmd(app))
	return cmd
}

func adminOpts(app *App) adminOptions {
	cfg := app.Config()
	opts := adminOptions{Backends: backendOptions{Data: cfg.String("data"), DB: cfg.String("db")}, JSON: cfg.JSON, ErrOut: app.IO.ErrOut}
	if cfg.IsSet("data") || cfg.IsSet("db") {
		return opts
	}
	if _, err := os.Stat(filepath.Join(opts.Backends.Data, "haul.db")); err == nil {
		return opts
	}
	if cfg.Server != "" {
		opts.API = apiClient(app)
		opts.NoStore = fmt.Sprintf("this command works on the store, and there is none at %s: pass --data DIR (the server's data directory) or --db URL", opts.Backends.Data)
		return opts
	}
	// Neither a store nor a server: make the store, so tenants and keys can
	// be set up before the first `haul serve` in this directory; say so,
	// since a server elsewhere would not see them.
	opts.NewStoreNotice = fmt.Sprintf("haul: no store at %s yet; creating one (a server started with --data %s uses it; to manage a running server elsewhere pass --data DIR, --db URL or --server URL)\n", opts.Backends.Data, opts.Backends.Data)
	return opts
}

// withAdminStore opens the store, runs fn and closes it.
func withAdminStore(ctx context.Context, opts adminOptions, fn func(st store.Store) error) error {
	if opts.NoStore != "" {
		return usageErrorf("%s", opts.NoStore)
	}
	if opts.NewStoreNotice != "" && opts.ErrOut != nil {
		fmt.Fprint(opts.ErrOut, opts.NewStoreNotice)
	}
	st, err := openStore(ctx, opts.Backends)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

func printJSON(app *App, v any) error {
	enc := json.NewEncoder(app.IO.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newAdminTenantCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Create and list tenants", Example: "  haul admin tenant create acme\n  haul admin tenant list"}
	create := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a tenant",
		Example: "  haul admin tenant create acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAdminTenantCreate(cmd.Context(), app, adminOpts(app), args[0])
		},
	}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List tenants",
		Example: "  haul admin tenant list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAdminTenantList(cmd.Context(), app, adminOpts(app))
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}

type tenantOut struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func runAdminTenantCreate(ctx context.Context, app *App, opts adminOptions, name string) error {
	if !server.ValidTenantName(name) {
		return usageErrorf("tenant name %q: use 1 to 64 of a-z, 0-9, '-' and '_'", name)
	}
	if opts.API != nil {
		return apiAdminTenantCreate(ctx, app, opts, name)
	}
	return withAdminStore(ctx, opts, func(st store.Store) error {
		t := &store.Tenant{Name: name}
		if err := st.CreateTenant(ctx, t); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("tenant %q exists already", name)
			}
			return fmt.Errorf("create tenant: %w", err)
		}
		if opts.JSON {
			return printJSON(app, tenantOut{t.ID, t.Name, t.CreatedAt.UTC()})
		}
		fmt.Fprintf(app.IO.Out, "created tenant %s (%s)\n", t.Name, t.ID)
		return nil
	})
}

func runAdminTenantList(ctx context.Context, app *App, opts adminOptions) error {
	if opts.API != nil {
		out, err := apiAdminTenantList(ctx, opts)
		if err != nil {
			return err
		}
		return printTenants(app, opts, out)
	}
	return withAdminStore(ctx, opts, func(st store.Store) error {
		list, err := st.ListTenants(ctx)
		if err != nil {
			return fmt.Errorf("list tenants: %w", err)
		}
		out := make([]tenantOut, 0, len(list))
		for _, t := range list {
			out = append(out, tenantOut{t.ID, t.Name, t.CreatedAt.UTC()})
		}
		return printTenants(app, opts, out)
	})
}

func printTenants(app *App, opts adminOptions, out []tenantOut) error {
	if opts.JSON {
		return printJSON(app, out)
	}
	tw := tabwriter.NewWriter(app.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tCREATED")
	for _, t := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.ID, t.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func newAdminKeyCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Create, list and revoke API keys", Example: "  haul admin key create --tenant default --scopes read"}
	pf := cmd.PersistentFlags()
	pf.String("tenant", server.DefaultTenant, "tenant name or ID")

	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key (printed once)",
		Long: `Create an API key for a tenant. The key is printed once on stdout; only
its hash is stored. Scopes: admin (everything, plus tenants and keys), write
(assets), export (downloads, exports, grants, webhooks), read.`,
		Example: "  haul admin key create --tenant acme --scopes read,export --name ci\n  KEY=$(haul admin key create --scopes write)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			scopes, _ := cmd.Flags().GetStringSlice("scopes")
			name, _ := cmd.Flags().GetString("name")
			tenant, _ := cmd.Flags().GetString("tenant")
			return runAdminKeyCreate(cmd.Context(), app, adminOpts(app), tenant, name, scopes)
		},
	}
	create.Flags().StringSlice("scopes", []string{store.ScopeRead}, "scopes: admin, write, export, read (comma-separated)")
	create.Flags().String("name", "", "label for the key")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List a tenant's API keys",
		Example: "  haul admin key list --tenant acme",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tenant, _ := cmd.Flags().GetString("tenant")
			return runAdminKeyList(cmd.Context(), app, adminOpts(app), tenant)
		},
	}
	revoke := &cobra.Command{
		Use:     "revoke KEY_ID",
		Short:   "Revoke an API key",
		Example: "  haul admin key revoke key_01JD… --tenant acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tenant, _ := cmd.Flags().GetString("tenant")
			return runAdminKeyRevoke(cmd.Context(), app, adminOpts(app), tenant, args[0])
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

type keyOut struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant_id"`
	Name       string     `json:"name,omitempty"`
	Scopes     []string   `json:"scopes"`
	Prefix     string     `json:"prefix"`
	Key        string     `json:"key,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func viewKeyOut(k *store.APIKey) keyOut {
	return keyOut{ID: k.ID, TenantID: k.TenantID, Name: k.Name, Scopes: k.Scopes, Prefix: k.Prefix,
		CreatedAt: k.CreatedAt.UTC(), LastUsedAt: optTime(k.LastUsedAt), RevokedAt: optTime(k.RevokedAt)}
}

func findTenant(ctx context.Context, st store.Store, nameOrID string) (*store.Tenant, error) {
	t, err := st.GetTenantByName(ctx, nameOrID)
	if errors.Is(err, store.ErrNotFound) {
		t, err = st.GetTenant(ctx, nameOrID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no tenant %q (see haul admin tenant list)", nameOrID)
	}
	return t, err
}

func runAdminKeyCreate(ctx context.Context, app *App, opts adminOptions, tenant, name string, scopeList []string) error {
	scopes, err := server.ParseScopes(scopeList)
	if err != nil {
		return usageErrorf("--scopes: %v", err)
	}
	if opts.API != nil {
		return apiAdminKeyCreate(ctx, app, opts, tenant, name, scopes)
	}
	return withAdminStore(ctx, opts, func(st store.Store) error {
		t, err := findTenant(ctx, st, tenant)
		if err != nil {
			return err
		}
		secret, k, err := server.NewAPIKey(t.ID, name, scopes)
		if err != nil {
			return err
		}
		if err := st.CreateAPIKey(ctx, k); err != nil {
			return fmt.Errorf("create key: %w", err)
		}
		v := viewKeyOut(k)
		v.Key = secret
		return printNewKey(app, opts, v, t.Name)
	})
}

// printNewKey shows a key just made: the secret alone on stdout (so
// KEY=$(haul admin key create …) works) and a notice on stderr, or with
// --json the key object including the secret.
func printNewKey(app *App, opts adminOptions, v keyOut, tenantName string) error {
	if opts.JSON {
		return printJSON(app, v)
	}
	fmt.Fprintln(app.IO.Out, v.Key)
	fmt.Fprintf(app.IO.ErrOut, "created key %s for tenant %s with scopes %s; the key above is shown only once\n", v.ID, tenantName, strings.Join(v.Scopes, ","))
	return nil
}

func runAdminKeyList(ctx context.Context, app *App, opts adminOptions, tenant string) error {
	if opts.API != nil {
		out, err := apiAdminKeyList(ctx, opts, tenant)
		if err != nil {
			return err
		}
		return printKeys(app, opts, out)
	}
	return withAdminStore(ctx, opts, func(st store.Store) error {
		t, err := findTenant(ctx, st, tenant)
		if err != nil {
			return err
		}
		keys, err := st.ListAPIKeys(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("list keys: %w", err)
		}
		out := make([]keyOut, 0, len(keys))
		for _, k := range keys {
			out = append(out, viewKeyOut(k))
		}
		return printKeys(app, opts, out)
	})
}

func printKeys(app *App, opts adminOptions, out []keyOut) error {
	if opts.JSON {
		return printJSON(app, out)
	}
	tw := tabwriter.NewWriter(app.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPREFIX\tNAME\tSCOPES\tCREATED\tSTATUS")
	for _, k := range out {
		status := "active"
		if k.RevokedAt != nil {
			status = "revoked " + k.RevokedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Name, strings.Join(k.Scopes, ","), k.CreatedAt.Format(time.RFC3339), status)
	}
	return tw.Flush()
}

func runAdminKeyRevoke(ctx context.Context, app *App, opts adminOptions, tenant, id string) error {
	if opts.API != nil {
		return apiAdminKeyRevoke(ctx, app, opts, tenant, id)
	}
	return withAdminStore(ctx, opts, func(st store.Store) error {
		t, err := findTenant(ctx, st, tenant)
		if err != nil {
			return err
		}
		k, err := st.RevokeAPIKey(ctx, t.ID, id, time.Now())
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no key %q in tenant %s", id, t.Name)
		}
		if err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
		if opts.JSON {
			return printJSON(app, viewKeyOut(k))
		}
		fmt.Fprintf(app.IO.Out, "revoked key %s of tenant %s\n", k.ID, t.Name)
		return nil
	})
}

func newAdminSigningKeyCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "signing-key", Short: "Rotate the secret that signs download URLs", Example: "  haul admin signing-key rotate"}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new URL-signing secret current",
		Long: `Make a new URL-signing secret current. URLs signed with the previous
secret stay valid for --grace; running servers pick the new secret up within
a minute.`,
		Example: "  haul admin signing-key rotate --grace 2h",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			grace, _ := cmd.Flags().GetDuration("grace")
			return runAdminSigningKeyRotate(cmd.Context(), app, adminOpts(app), grace)
		},
	}
	rotate.Flags().Duration("grace", 24*time.Hour, "how long URLs signed with the old secret stay valid")
	cmd.AddCommand(rotate)
	return cmd
}

func runAdminSigningKeyRotate(ctx context.Context, app *App, opts adminOptions, grace time.Duration) error {
	if grace < 0 {
		return usageErrorf("--grace must not be negative")
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	return withAdminStore(ctx, opts, func(st store.Store) error {
		k, err := st.RotateSigningKey(ctx, secret, grace, time.Now())
		if err != nil {
			return fmt.Errorf("rotate signing key: %w", err)
		}
		if opts.JSON {
			return printJSON(app, map[string]any{"id": k.ID, "created_at": k.CreatedAt.UTC(), "previous_valid_for": grace.String()})
		}
		fmt.Fprintf(app.IO.Out, "new URL-signing key %s; URLs signed before stay valid for %s\n", k.ID, grace)
		return nil
	})
}
