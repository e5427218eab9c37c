package main

import "github.com/spf13/cobra"

// commandsFromFeatures lists the feature commands. Each feature adds its
// constructor here (one line each, to keep merges trivial).
func commandsFromFeatures(app *App) []*cobra.Command {
	return []*cobra.Command{
		// fetch, verify (downloader)
		// serve, admin (server)
		newServeCmd(app),
		newAdminCmd(app),
		// export, get, upload, assets, jobs, exports (client)
		// grant, webhook, events (grants and webhooks)
	}
}
