package plugin

import (
	"os/exec"
	"syscall"
)

// setProcAttr asks the kernel to kill the plugin when the host dies, even by
// SIGKILL, which no cleanup code in the host survives. (The signal follows
// the death of the thread that forked; the plugin's parent watchdog covers
// the rare case of that thread exiting first.)
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
