package users

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

const sample = `# comment
root:x:0:0:root:/root:/bin/bash
alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash
alias:x:1000:1000::/home/alias:/bin/sh
+nisuser::::::
broken line
nouid:x::0::/:/bin/sh
neg:x:-1:0::/:/bin/sh
big:x:4294967296:0::/:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`

func TestTable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(p, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	tbl := NewTable(p)
	for uid, want := range map[uint32]string{
		0: "root", 1000: "alice", 65534: "nobody", 1001: "1001", 4294967295: "4294967295",
	} {
		if got := tbl.Name(uid); got != want {
			t.Errorf("Name(%d) = %q, want %q", uid, got, want)
		}
	}
	// A changed file is read again once the recheck interval passed.
	if err := os.WriteFile(p, []byte(sample+"bob:x:1001:1001::/home/bob:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := tbl.snap.Load()
	tbl.snap.Store(&snapshot{names: s.names, stamp: s.stamp, checked: time.Now().Add(-2 * recheck)})
	if got := tbl.Name(1001); got != "bob" {
		t.Errorf("after the change, Name(1001) = %q, want bob", got)
	}
	// A missing file names nobody, and is not an error.
	if got := NewTable(filepath.Join(t.TempDir(), "none")).Name(0); got != "0" {
		t.Errorf("missing file: Name(0) = %q", got)
	}
}

func TestConcurrent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "passwd")
	os.WriteFile(p, []byte(sample), 0o644)
	tbl := NewTable(p)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint32(0); i < 2000; i++ {
				if got := tbl.Name(1000); got != "alice" {
					t.Errorf("Name(1000) = %q", got)
					return
				}
				tbl.Name(100000 + i)
			}
		}()
	}
	wg.Wait()
}

// TestSystem: the zero Cache reads the system's /etc/passwd.
func TestSystem(t *testing.T) {
	var c Cache
	if got := c.Name(0); got != "root" {
		t.Errorf("Name(0) = %q, want root", got)
	}
	const unknown = 4_000_000_123
	if got := c.Name(unknown); got != strconv.FormatUint(unknown, 10) {
		t.Errorf("Name(%d) = %q, want the number", uint32(unknown), got)
	}
}

func BenchmarkName(b *testing.B) {
	var c Cache
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		c.Name(100000 + i%65536)
		i++
	}
}
