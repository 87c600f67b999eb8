//go:build !windows

package config

import (
	"fmt"
	"os"
	"syscall"
)

// checkOwner refuses a configuration file that someone other than root or
// this process's user could change. The file decides which plugin binary
// runs (plugin.path with plugin.allow_unverified), and the program usually
// runs as root, so a file others can write hands them root. The directories
// above it are not checked here (see docs/security.md for installing them
// safely): refusing a checkout in a shared directory would stop far more
// harmless uses than it protects.
func checkOwner(path string, fi os.FileInfo) error {
	euid := uint32(os.Geteuid())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && st.Uid != euid {
		return fmt.Errorf("%s is owned by uid %d, neither root nor this process's user (uid %d), who could change what it configures, including which plugin runs (want a file owned by root or uid %d)", path, st.Uid, euid, euid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o): they could change what it configures, including which plugin runs (want chmod go-w %s)", path, fi.Mode().Perm(), path)
	}
	return nil
}
