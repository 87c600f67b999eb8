//go:build !windows

package config

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFIFO: a named pipe where the file should be is refused at once; an
// open would wait for a writer forever.
func TestFIFO(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := load(t, Options{File: path})
	if err == nil || !strings.Contains(err.Error(), path+" is not a regular file") {
		t.Fatalf("err = %v", err)
	}
}
