package main

import "github.com/spf13/cobra"

// newWebhookCmd groups the webhook commands: endpoint management against
// the server, and a local receiver for integrators.
func newWebhookCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Manage webhook endpoints and receive webhooks locally",
		Long: `Manage the endpoints that receive haul's webhooks, inspect and replay their
deliveries, and run a local receiver that verifies Standard Webhooks
signatures and prints each event.`,
		Example: `  haul webhook listen --secret whsec_... --forward-to http://localhost:3000/hooks`,
	}
	cmd.AddCommand(newWebhookListenCmd(app))
	return cmd
}
