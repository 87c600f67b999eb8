package etw

import "time"

// userCache resolves SIDs to account names, remembering each answer for a
// while: LookupAccountSid is an LSA call that can take seconds against an
// unreachable domain controller, and a name can change (renamed account),
// so answers expire. Failed lookups are remembered for less time. It is
// used by the worker goroutine only.
type userCache struct {
	lookup         func(sid string) (string, error)
	ttl, failedTTL time.Duration
	now            func() time.Time
	entries        map[string]cachedUser
}

type cachedUser struct {
	name    string
	expires time.Time
}

func newUserCache(lookup func(string) (string, error), ttl, failedTTL time.Duration, now func() time.Time) *userCache {
	return &userCache{lookup: lookup, ttl: ttl, failedTTL: failedTTL, now: now, entries: make(map[string]cachedUser)}
}

// name returns DOMAIN\name for sid, or sid itself when it cannot be
// resolved.
func (c *userCache) name(sid string) string {
	now := c.now()
	if e, ok := c.entries[sid]; ok && now.Before(e.expires) {
		return e.name
	}
	n, err := c.lookup(sid)
	ttl := c.ttl
	if err != nil || n == "" {
		n, ttl = sid, c.failedTTL
	}
	if len(c.entries) >= maxCachedUsers {
		c.evict(now)
	}
	c.entries[sid] = cachedUser{name: n, expires: now.Add(ttl)}
	return n
}

// evict drops expired entries, or everything if none has expired: SIDs
// come from events any local user can cause, so the map must stay bounded.
func (c *userCache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	if len(c.entries) >= maxCachedUsers {
		clear(c.entries)
	}
}
