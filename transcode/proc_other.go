//go:build !linux

package transcode

import "os/exec"

// dieWithParent is a no-op where the kernel offers no parent-death
// signal; a killed server's ffmpeg then runs until it finishes or its
// output is abandoned.
func dieWithParent(cmd *exec.Cmd) {}
