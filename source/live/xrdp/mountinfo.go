package xrdp

import (
	"strings"

	"github.com/tsclientwatch/tsclientwatch/internal/mountinfo"
)

// chansrv reports whether m is a client-drive mount of xrdp's chansrv,
// which mounts with fsname and subtype "xrdp-chansrv".
func chansrv(m mountinfo.Mount) bool {
	return m.FSType == "fuse.xrdp-chansrv" || (strings.HasPrefix(m.FSType, "fuse") && m.Source == "xrdp-chansrv")
}

// holding returns the innermost mount whose point is p or a directory above
// it: the filesystem p lives on.
func holding(mounts []mountinfo.Mount, p string) (mountinfo.Mount, bool) {
	var best mountinfo.Mount
	found := false
	for _, m := range mounts {
		// Of mounts stacked on one point the last listed hides the
		// others: the kernel lists mounts in the order they were made.
		if (p == m.Point || strings.HasPrefix(p, strings.TrimSuffix(m.Point, "/")+"/")) && (!found || len(m.Point) >= len(best.Point)) {
			best, found = m, true
		}
	}
	return best, found
}
