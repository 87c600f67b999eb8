package users

import (
	"os/user"
	"strconv"
	"testing"
)

func TestName(t *testing.T) {
	var c Cache
	root, err := user.LookupId("0")
	if err != nil {
		t.Fatalf("uid 0 has no user on this system: %v", err)
	}
	if got := c.Name(0); got != root.Username {
		t.Errorf("Name(0) = %q, want %q", got, root.Username)
	}
	const nobody = 4_000_000_123 // no account has this uid
	if got := c.Name(nobody); got != strconv.FormatUint(nobody, 10) {
		t.Errorf("Name(%d) = %q, want the number", uint32(nobody), got)
	}
	for i := range uint32(maxEntries + 10) {
		c.Name(3_000_000_000 + i)
	}
	if len(c.names) != maxEntries {
		t.Errorf("cache holds %d entries, want the bound %d", len(c.names), maxEntries)
	}
}
