//go:build !windows

package config

import (
	"os"
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

// TestFileOwnerAndMode: a configuration file others could write is refused,
// since it decides which plugin runs.
func TestFileOwnerAndMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		mode  os.FileMode
		owner int // -1: as created
		want  string
	}{
		{"private", 0o600, -1, ""},
		{"readable by all", 0o644, -1, ""},
		{"group-writable", 0o664, -1, "is writable by group or others (mode 0664)"},
		{"world-writable", 0o646, -1, "is writable by group or others (mode 0646)"},
		{"owned by another user", 0o644, 65534, "is owned by uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.owner >= 0 && os.Geteuid() != 0 {
				t.Skip("needs root to give a file away")
			}
			path := writeFile(t, "c.yaml", "log: {level: debug}\n")
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			if tc.owner >= 0 {
				if err := os.Chown(path, tc.owner, -1); err != nil {
					t.Fatal(err)
				}
			}
			_, err := load(t, Options{File: path})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), path+" "+tc.want) || !strings.Contains(err.Error(), "(want ") {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
