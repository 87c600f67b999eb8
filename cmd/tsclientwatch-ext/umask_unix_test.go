//go:build unix

package main

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRestrictUmask: after restrictUmask, a unix socket (as osquery-go
// creates the extension's) is reachable by its owner only.
func TestRestrictUmask(t *testing.T) {
	old := syscall.Umask(0) // the worst case a service manager may hand over
	defer syscall.Umask(old)
	restrictUmask()
	dir, err := os.MkdirTemp("", "tsw")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "osquery.em.17")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("extension socket mode %04o, want no group or other bits", perm)
	}
}
