// Package mountinfo parses /proc/<pid>/mountinfo (proc(5)), for the live
// watchers that find client-drive mounts in it (fanotify, to mark them), the
// xrdp attribution (to find the mount a program ran from and its owner) and
// the evidence reader (to read a FUSE mount that lets only its owner in).
// Mount points are named by the RDP client's user, so they are unescaped
// exactly as the kernel escaped them and never interpreted further.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Mount is one line of mountinfo, the fields the watchers use.
type Mount struct {
	ID     int
	Point  string // mount point, unescaped
	FSType string // with the FUSE subtype: "fuse.xrdp-chansrv"
	Source string // unescaped
	// UID and GID are a FUSE mount's owner (user_id=, group_id= in the
	// super options): for xrdp's chansrv the session's user. Without
	// allow_other only they may enter it, root included. -1 when absent.
	UID, GID int
}

// Parse reads the mountinfo format. name is used in errors. A malformed
// line is an error naming it: the kernel writes this file, so a bad line
// means the input is not mountinfo at all. Lines longer than 1 MiB are an
// error too (the kernel caps a path at 4 KiB, escaped at four times that).
func Parse(r io.Reader, name string) ([]Mount, error) {
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
		// 36 35 0:52 / /home/a/thinclient_drives rw,nosuid shared:1 - fuse.xrdp-chansrv xrdp-chansrv rw,user_id=1000,group_id=1000
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
	for o := range strings.SplitSeq(opts, ",") {
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
		if s[i] == '\\' && i+4 <= len(s) && isOctalByte(s[i+1:i+4]) {
			v, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isOctalByte reports whether s is three octal digits of a byte value.
func isOctalByte(s string) bool {
	for i := range 3 {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return s[0] <= '3'
}
