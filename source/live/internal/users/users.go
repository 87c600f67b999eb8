// Package users turns uids into user names for the live watchers, looking
// each uid up once.
package users

import (
	"os/user"
	"strconv"
)

// maxEntries bounds the cache: uids are attacker-influenced (any user can
// start processes), so an unbounded map could grow without end.
const maxEntries = 4096

// Cache maps uids to names. The zero value is ready to use. It is not safe
// for concurrent use: each watcher's reading goroutine owns one.
type Cache struct {
	names map[uint32]string
}

// Name returns uid's user name, or the uid in decimal when it has none.
func (c *Cache) Name(uid uint32) string {
	if n, ok := c.names[uid]; ok {
		return n
	}
	n := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(n); err == nil {
		n = u.Username
	}
	if c.names == nil {
		c.names = make(map[uint32]string)
	}
	if len(c.names) < maxEntries {
		c.names[uid] = n
	}
	return n
}
