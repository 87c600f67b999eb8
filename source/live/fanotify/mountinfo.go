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
	"bufio"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// DefaultFSTypes are the filesystem types (as mountinfo spells them) that
// are always xrdp client-drive mounts.
var DefaultFSTypes = []string{"fuse.xrdp-chansrv"}

// Mount is one line of /proc/self/mountinfo, the fields this package needs.
type Mount struct {
	ID     int
	Point  string // mount point, unescaped
	FSType string // with the FUSE subtype: "fuse.xrdp-chansrv"
	Source string
	// UID and GID are a FUSE mount's owner (user_id=, group_id= in the
	// super options): without allow_other only they may enter it, root
	// included. -1 when absent.
	UID, GID int
}

// ParseMountinfo reads the mountinfo format (proc(5)). name is used in
// errors. A malformed line is an error naming it: the kernel writes this
// file, so a bad line means the input is not mountinfo at all.
func ParseMountinfo(r io.Reader, name string) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" {
			continue
		}
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(text, " - ")
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 2 {
			return out, fmt.Errorf("%s: line %d: not a mountinfo line: %q", name, line, text)
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			return out, fmt.Errorf("%s: line %d: mount id %q: %w", name, line, f[0], err)
		}
		m := Mount{ID: id, Point: unescape(f[4]), FSType: g[0], Source: unescape(g[1]), UID: -1, GID: -1}
		if len(g) > 2 {
			m.UID, m.GID = superID(g[2], "user_id="), superID(g[2], "group_id=")
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("%s: line %d: %w", name, line+1, err)
	}
	return out, nil
}

// superID returns the decimal value of key (e.g. "user_id=") in the comma
// separated super options, -1 when absent or malformed.
func superID(opts, key string) int {
	for _, o := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(o, key); ok {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return -1
			}
			return int(n)
		}
	}
	return -1
}

// unescape undoes the octal escapes (\040 for space, \011, \012, \134)
// the kernel writes in mountinfo paths.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			v, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return s[0] <= '3'
}

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
