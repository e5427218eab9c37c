// Command haul downloads and exports media from a content platform, and
// serves the platform's API for small self-hosted installs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, newSystemIO())
	stop()
	os.Exit(code)
}
