//go:build !unix

package sqlite

import "os"

// lockJobs never claims sole ownership where flock is missing: leases
// decide.
func lockJobs(*os.File) (bool, error) { return false, nil }

func shareJobs(*os.File) error { return nil }
