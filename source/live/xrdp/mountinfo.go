package xrdp

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// mount is one line of /proc/self/mountinfo, the fields attribution needs.
// (fanotify parses the same file for other fields; the FUSE mount's
// user_id lives in the super options, which it does not keep.)
type mount struct {
	id     int
	point  string // unescaped
	fsType string // with the FUSE subtype: "fuse.xrdp-chansrv"
	source string
	// userID is the FUSE super option user_id: the uid of whoever
	// mounted it, for chansrv the session's user. -1 when absent.
	userID int64
}

// chansrv reports whether m is a client-drive mount of xrdp's chansrv,
// which mounts with fsname and subtype "xrdp-chansrv".
func (m *mount) chansrv() bool {
	return m.fsType == "fuse.xrdp-chansrv" || (strings.HasPrefix(m.fsType, "fuse") && m.source == "xrdp-chansrv")
}

// parseMountinfo reads the mountinfo format (proc(5)). A malformed line is
// an error naming it: the kernel writes this file.
func parseMountinfo(b []byte, name string) ([]mount, error) {
	var out []mount
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" {
			continue
		}
		// 36 35 0:52 / /home/a/thinclient_drives rw,nosuid,nodev,relatime shared:1 - fuse.xrdp-chansrv xrdp-chansrv rw,user_id=1000,group_id=1000
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
		m := mount{id: id, point: unescape(f[4]), fsType: g[0], source: unescape(g[1]), userID: -1}
		if len(g) > 2 {
			for opt := range strings.SplitSeq(g[2], ",") {
				if v, ok := strings.CutPrefix(opt, "user_id="); ok {
					if n, err := strconv.ParseUint(v, 10, 32); err == nil {
						m.userID = int64(n)
					}
				}
			}
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("%s: line %d: %w", name, line+1, err)
	}
	return out, nil
}

// unescape undoes the octal escapes (\040 for space, \011, \012, \134) the
// kernel writes in mountinfo paths.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
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
	for i := range len(s) {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// holding returns the innermost mount whose point is p or a directory above
// it: the filesystem p lives on.
func holding(mounts []mount, p string) (mount, bool) {
	var best mount
	found := false
	for _, m := range mounts {
		// Of mounts stacked on one point the last listed hides the
		// others: the kernel lists mounts in the order they were made.
		if (p == m.point || strings.HasPrefix(p, strings.TrimSuffix(m.point, "/")+"/")) && (!found || len(m.point) >= len(best.point)) {
			best, found = m, true
		}
	}
	return best, found
}
