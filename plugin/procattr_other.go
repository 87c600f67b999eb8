//go:build !linux

package plugin

import "os/exec"

// setProcAttr does nothing outside Linux: there is no parent-death signal,
// and the plugin's parent watchdog ends an orphaned plugin.
func setProcAttr(*exec.Cmd) {}
