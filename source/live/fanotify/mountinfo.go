// Package fanotify is the Linux fallback live watcher: fanotify
// FAN_OPEN_EXEC marks on the xrdp client-drive mounts report every program
// started from them, with the path the kernel opened.
//
// It sees only the marked mounts, so it cannot report execs elsewhere, and
// the event fires while execve is still running: the new program's argv is
// not there yet, so CommandLine is left empty rather than filled with the
// parent's.
package fanotify

import (
	"path"
	"slices"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/mountinfo"
)

// DefaultFSTypes are the filesystem types (as mountinfo spells them) that
// are always xrdp client-drive mounts.
var DefaultFSTypes = []string{"fuse.xrdp-chansrv"}

// Mount is one line of /proc/self/mountinfo.
type Mount = mountinfo.Mount

// Select returns the mounts that may be xrdp client-drive mounts: FUSE
// mounts (fuse, fuse.*) whose type is one of fsTypes or whose mount
// point's last component is one of names (xrdp's FuseMountName,
// "thinclient_drives" by default). xrdp's chansrv always serves client
// drives through FUSE, and the rule ignores the xrdp form on any other
// filesystem, so a bind mount or a local directory of that name is not
// watched: its events could never be detections.
func Select(mounts []Mount, names, fsTypes []string) []Mount {
	var out []Mount
	for _, m := range mounts {
		if !detector.IsFUSE(m.FSType) {
			continue
		}
		if slices.Contains(fsTypes, m.FSType) || slices.Contains(names, path.Base(m.Point)) {
			out = append(out, m)
		}
	}
	return out
}
