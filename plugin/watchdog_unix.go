//go:build !windows

package plugin

import (
	"fmt"
	"os"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// watchParent exits the plugin once the process that started it is gone. On
// Unix an orphan is re-parented (to init or a subreaper), so a changed parent
// pid is the signal. Polling is cheap and needs no cooperation from the host,
// which may have been SIGKILLed.
func watchParent(log hclog.Logger, every time.Duration) {
	ppid := os.Getppid()
	if ppid <= 1 {
		return // already orphaned or started by init: nothing to watch
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for range t.C {
			if now := os.Getppid(); now != ppid {
				hostGone(log, fmt.Sprintf("parent pid changed from %d to %d", ppid, now))
				return
			}
		}
	}()
}
