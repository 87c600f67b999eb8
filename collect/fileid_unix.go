//go:build !windows

package collect

import (
	"os"
	"syscall"
)

// fileID returns the device and inode of an open file: what identifies it
// across renames.
func fileID(f *os.File, fi os.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Ino), true
}
