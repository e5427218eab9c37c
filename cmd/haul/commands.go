package main

import "github.com/spf13/cobra"

// commandsFromFeatures lists the feature commands. Each feature adds its
// constructor here (one line each, to keep merges trivial).
func commandsFromFeatures(app *App) []*cobra.Command {
	return []*cobra.Command{
		newFetchCmd(app),  // downloader
		newVerifyCmd(app), // downloader
		// serve, admin (server)
		newServeCmd(app),
		newAdminCmd(app),
		// export, get, upload, assets, jobs, exports (client)
		newExportCmd(app, nil),
		newGetCmd(app, nil),
		newUploadCmd(app, nil),
		newAssetsCmd(app),
		newJobsCmd(app),
		newExportsCmd(app),
		// grant, webhook, events (grants and webhooks)
		newGrantCmd(app),
		newWebhookCmd(app),
		newEventsCmd(app, nil),
	}
}
