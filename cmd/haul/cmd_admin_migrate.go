package main

import (
	"context"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/backend"
)

// migrateStoreOptions are the parsed flags of `haul admin migrate-store`.
type migrateStoreOptions struct {
	From    string
	ToDB    string
	ToBlobs string
	JSON    bool
}

func newAdminMigrateStoreCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate-store --from DATA_DIR --to-db URL --to-blobs URL",
		Short: "Move an embedded install to PostgreSQL and S3",
		Long: `Move an embedded install (SQLite haul.db and blobs/ under DATA_DIR) to the
scale-out backend: a PostgreSQL database (--to-db postgres://…) and a blob
store (--to-blobs s3://BUCKET[/prefix]?endpoint=…&region=…, credentials from
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the default AWS chain).

Blobs are copied first, each checked against its sha256 on the way in; blobs
already in the target are skipped, so an interrupted run can be repeated.
Then every row (tenants, keys, signing secrets, assets, renditions, jobs,
exports, grants, the audit log, webhooks and their outbox, idempotency keys)
is copied in one transaction, so a failure leaves the database untouched.
Finally row counts are compared table by table and every blob an asset or
rendition names is checked present with its size.

Stop haul serve on DATA_DIR first: writes made meanwhile are not moved. The
target database must hold no haul data (an empty database, or one a replica
migrated but never bootstrapped). Copy DATA_DIR/admin.key to the replicas'
--data if you want it there.

EXIT STATUS
  0  migrated and verified
  1  copying or verification failed (the target database is unchanged)
  2  bad flags`,
		Example: `  haul admin migrate-store --from ./haul-data \
    --to-db postgres://haul:secret@db:5432/haul \
    --to-blobs 's3://media/haul?endpoint=http://minio:9000&region=us-east-1'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := migrateStoreOptions{JSON: app.Config().JSON}
			opts.From, _ = cmd.Flags().GetString("from")
			opts.ToDB, _ = cmd.Flags().GetString("to-db")
			opts.ToBlobs, _ = cmd.Flags().GetString("to-blobs")
			if opts.From == "" || opts.ToDB == "" || opts.ToBlobs == "" {
				return usageErrorf("--from, --to-db and --to-blobs are required")
			}
			return runAdminMigrateStore(cmd.Context(), app, opts)
		},
	}
	f := cmd.Flags()
	f.String("from", "", "data directory of the embedded install")
	f.String("to-db", "", "target PostgreSQL URL")
	f.String("to-blobs", "", "target blob store URL")
	return cmd
}

func runAdminMigrateStore(ctx context.Context, app *App, opts migrateStoreOptions) error {
	rep, err := backend.MigrateStore(ctx, backend.MigrateOptions{
		From: opts.From, ToDB: opts.ToDB, ToBlobs: opts.ToBlobs,
		Progress: func(format string, args ...any) { fmt.Fprintf(app.IO.ErrOut, format+"\n", args...) },
	})
	if err != nil {
		return fmt.Errorf("migrate-store: %w", err)
	}
	if opts.JSON {
		return printJSON(app, rep)
	}
	tw := tabwriter.NewWriter(app.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS")
	tables := make([]string, 0, len(rep.Rows))
	for t := range rep.Rows {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		fmt.Fprintf(tw, "%s\t%d\n", t, rep.Rows[t])
	}
	tw.Flush()
	fmt.Fprintf(app.IO.Out, "blobs: %d in the source, %d copied (%d bytes), %d referenced and verified\n",
		rep.Blobs, rep.BlobsCopied, rep.Bytes, rep.Referenced)
	return nil
}
