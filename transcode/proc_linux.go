package transcode

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill cmd when haul dies, even by
// SIGKILL, so an abandoned ffmpeg never keeps encoding a job that another
// worker will claim once the lease expires.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
