//go:build windows

package plugin

import (
	"fmt"
	"os"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"golang.org/x/sys/windows"
)

// watchParent exits the plugin once the process that started it is gone.
// Windows does not re-parent orphans, so the plugin opens a handle on its
// parent while it is alive (which also pins the pid against reuse) and waits
// for it to be signalled.
func watchParent(log hclog.Logger, _ time.Duration) {
	ppid := os.Getppid()
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(ppid))
	if err != nil {
		log.Warn("cannot watch the host process; the plugin will not notice if it dies", "ppid", ppid, "error", err)
		return
	}
	go func() {
		defer windows.CloseHandle(h)
		ev, err := windows.WaitForSingleObject(h, windows.INFINITE)
		if err != nil {
			log.Warn("waiting for the host process failed", "ppid", ppid, "error", err)
			return
		}
		hostGone(log, fmt.Sprintf("parent process %d exited (wait result %#x)", ppid, ev))
	}()
}
