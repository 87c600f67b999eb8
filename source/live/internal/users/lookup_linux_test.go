//go:build linux

package users

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// readSyscalls returns the read(2) calls this process has made
// (/proc/self/io syscr).
func readSyscalls(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscr: "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatal("no syscr in /proc/self/io")
	return 0
}

// TestSubuidRangeLookupsAreCheap reproduces the review's D2 finding: a
// user with a subuid range (65536 uids) can run processes under every one
// of them; with a lookup through the user database (cgo and NSS) per uid
// not in a 4096-entry cache, every exec past that cost a lookup on the
// reader's goroutine. Naming them all must not read the database once per
// uid.
func TestSubuidRangeLookupsAreCheap(t *testing.T) {
	var c Cache
	c.Name(0) // load once
	before := readSyscalls(t)
	for uid := uint32(100000); uid < 165536; uid++ {
		if got := c.Name(uid); got != strconv.FormatUint(uint64(uid), 10) && got == "" {
			t.Fatalf("Name(%d) empty", uid)
		}
	}
	n := readSyscalls(t) - before
	t.Logf("naming 65536 subuids made %d read calls", n)
	if n > 1000 {
		t.Errorf("naming 65536 subuids made %d read calls", n)
	}
}
