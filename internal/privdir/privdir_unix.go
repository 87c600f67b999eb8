//go:build !windows

package privdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

func makeDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrNotExist) {
		// Parents too, like install -d: only the last is private.
		if err = os.MkdirAll(dir, 0o755); err == nil {
			err = os.Chmod(dir, 0o700)
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

// checkDir refuses a directory not owned by this process's user or
// writable by group or others.
func checkDir(dir string, fi os.FileInfo) error {
	euid := uint32(os.Geteuid())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != euid {
		return fmt.Errorf("owned by uid %d, not by this process's user (uid %d), who alone may keep files there (want chown %d %s)", st.Uid, euid, euid, dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("writable by group or others (mode %04o), who could replace the files in it (want chmod 700 %s)", fi.Mode().Perm(), dir)
	}
	return nil
}
