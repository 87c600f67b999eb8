package fanotify

import "time"

// dirTTL bounds how long a cached directory path is trusted. A directory
// renamed on the client drive keeps its handle, so for up to this long an
// exec inside it is reported under the old name (still below the same
// mount, so still a detection). Under a storm from one directory this is
// one handle resolution per second instead of one per event.
const dirTTL = time.Second

// dirMax bounds the cache; when full it starts over.
const dirMax = 4096

// dirCache maps directory handles (filesystem id + file handle) to paths.
// It is used by Run's goroutine only.
type dirCache struct {
	m   map[string]dirEntry
	key []byte
}

type dirEntry struct {
	path string
	at   time.Time
}

func (c *dirCache) setKey(fsid [8]byte, handle []byte) {
	c.key = append(append(c.key[:0], fsid[:]...), handle...)
}

// get returns the path cached for the handle if it is younger than dirTTL
// at now.
func (c *dirCache) get(fsid [8]byte, handle []byte, now time.Time) (string, bool) {
	c.setKey(fsid, handle)
	e, ok := c.m[string(c.key)] // no allocation for the lookup
	if !ok || now.Sub(e.at) >= dirTTL || now.Before(e.at) {
		return "", false
	}
	return e.path, true
}

func (c *dirCache) put(fsid [8]byte, handle []byte, path string, now time.Time) {
	if c.m == nil || len(c.m) >= dirMax {
		c.m = make(map[string]dirEntry)
	}
	c.setKey(fsid, handle)
	c.m[string(c.key)] = dirEntry{path: path, at: now}
}

// reset forgets every path (mounts changed).
func (c *dirCache) reset() { c.m = nil }
