// Package users turns uids into user names for the live watchers, from
// /etc/passwd, without cgo or NSS.
//
// os/user, in a cgo build, asks the C library (getpwuid_r), which goes
// through every NSS module configured: files, but also sssd, LDAP or
// winbind, whose misses can take a network round trip. The uids come from
// the processes being watched, and a user with a subuid range can run
// processes under 65536 uids of their choosing; one lookup per new uid on
// the reader's goroutine let them slow it down at will. Here the whole
// table is read once, re-read when the file changes (checked at most once
// a second), and every lookup is a map access. The price: accounts that
// exist only in a directory service (sssd, LDAP, winbind users missing
// from /etc/passwd) are shown by number; `getent passwd <uid>` names them.
package users

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// recheck is how often the file's identity is checked for a change.
const recheck = time.Second

// maxBytes bounds how much of the file is read.
const maxBytes = 16 << 20

// Table maps uids to names from one passwd(5) file. It is safe for
// concurrent use.
type Table struct {
	path string
	mu   sync.Mutex // serializes reloads; lookups never wait on it
	snap atomic.Pointer[snapshot]
}

type snapshot struct {
	names   map[uint32]string
	stamp   stamp
	checked time.Time
}

// stamp identifies one version of the file.
type stamp struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

// NewTable reads names from the passwd(5) file at path.
func NewTable(path string) *Table { return &Table{path: path} }

var system = NewTable("/etc/passwd")

// Cache names uids for a watcher. The zero value is ready, safe for
// concurrent use, and reads the system's /etc/passwd (one table shared by
// the whole process).
type Cache struct{ t *Table }

// Name returns uid's user name, or the uid in decimal when it has none.
func (c *Cache) Name(uid uint32) string {
	t := c.t
	if t == nil {
		t = system
	}
	return t.Name(uid)
}

// Name returns uid's user name, or the uid in decimal when the file has
// none (or cannot be read).
func (t *Table) Name(uid uint32) string {
	if n, ok := t.current().names[uid]; ok {
		return n
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// current returns the table, reloading it when the file changed. A lookup
// that finds a reload in progress uses the table it has.
func (t *Table) current() *snapshot {
	s := t.snap.Load()
	now := time.Now()
	if s != nil && now.Sub(s.checked) < recheck && !now.Before(s.checked) {
		return s
	}
	if s != nil {
		if !t.mu.TryLock() {
			return s
		}
	} else {
		t.mu.Lock()
	}
	defer t.mu.Unlock()
	if s2 := t.snap.Load(); s2 != s {
		return s2 // reloaded while we waited
	}
	st, err := statFile(t.path)
	if err == nil && s != nil && st == s.stamp {
		t.snap.Store(&snapshot{names: s.names, stamp: s.stamp, checked: now})
		return t.snap.Load()
	}
	names := map[uint32]string{}
	if err == nil {
		names = load(t.path)
	}
	t.snap.Store(&snapshot{names: names, stamp: st, checked: now})
	return t.snap.Load()
}

func statFile(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	st := stamp{size: fi.Size(), mtime: fi.ModTime()}
	st.dev, st.ino = fileID(fi)
	return st, nil
}

// load parses passwd(5) lines, name:password:uid:gid:gecos:home:shell.
// Malformed lines are skipped; the first name for a uid wins, as getpwuid
// returns it.
func load(path string) map[uint32]string {
	names := map[uint32]string{}
	f, err := os.Open(path)
	if err != nil {
		return names
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxBytes))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue // comments and NIS compat entries
		}
		name, rest, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			continue
		}
		_, rest, ok = strings.Cut(rest, ":") // password
		if !ok {
			continue
		}
		uidField, _, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		uid, err := strconv.ParseUint(uidField, 10, 32)
		if err != nil {
			continue
		}
		if _, dup := names[uint32(uid)]; !dup {
			names[uint32(uid)] = name
		}
	}
	return names
}
