//go:build !windows

package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// checkWriters refuses a plugin that anyone but root or this process's user
// could change before it runs. Whoever can write the file, or rename or
// replace it in any directory on its path, runs code as the host, and
// go-plugin's own checksum check (hashicorp/go-plugin v1.8.0 client.go:
// SecureConfig.Check opens the path, then certificates are generated, then
// cmd.Start executes the same path) leaves a window in which a file swapped
// by path is not the file that was hashed. So, on the resolved path:
//   - the file must be owned by root or this user and not writable by group
//     or others;
//   - every directory from its own up to / must be owned by root or this
//     user, and not writable by group or others unless it has the sticky
//     bit (like /tmp: there only a file's owner may rename or delete it,
//     and the owners were checked).
func checkWriters(path, real string, fi os.FileInfo) error {
	euid := uint32(os.Geteuid())
	trusted := func(uid uint32) bool { return uid == 0 || uid == euid }
	owner := func(fi os.FileInfo) (uint32, bool) {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return 0, false
		}
		return st.Uid, true
	}
	if uid, ok := owner(fi); ok && !trusted(uid) {
		return fmt.Errorf("plugin %s is owned by uid %d, neither root nor this process's user (uid %d), who could replace it; refusing to run it", path, uid, euid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("plugin %s is writable by group or others (mode %04o); refusing to run it (chmod go-w %s)", path, fi.Mode().Perm(), real)
	}
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		di, err := os.Lstat(dir)
		if err != nil {
			return fmt.Errorf("plugin %s: %w", path, err)
		}
		if uid, ok := owner(di); ok && !trusted(uid) {
			return fmt.Errorf("plugin %s: directory %s is owned by uid %d, neither root nor this process's user (uid %d), who could replace the plugin; refusing to run it", path, dir, uid, euid)
		}
		if di.Mode().Perm()&0o022 != 0 && di.Mode()&os.ModeSticky == 0 {
			return fmt.Errorf("plugin %s: directory %s is writable by group or others without the sticky bit (mode %s), so the plugin could be replaced between its checksum check and its start; refusing to run it (chmod go-w %s)", path, dir, di.Mode(), dir)
		}
		if parent := filepath.Dir(dir); parent == dir {
			return nil
		}
	}
}
