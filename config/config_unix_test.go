//go:build !windows

package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
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
				testdir.SkipOutsideCI(t, "needs root to give a file away")
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

// TestParentDirectories: review H3. Every directory above the file, up to
// /, must be one only root or this user can change; a world-writable one
// needs the sticky bit (like /tmp). A link is resolved first, and its
// target's directories are the ones that count.
func TestParentDirectories(t *testing.T) {
	t.Parallel()
	const nobody = 65534
	for _, tc := range []struct {
		name     string
		mode     os.FileMode
		owner    int // -1: as created
		want     string
		needRoot bool
	}{
		{"private", 0o700, -1, "", false},
		{"sticky and world-writable", 0o777 | os.ModeSticky, -1, "", false},
		{"world-writable", 0o777, -1, "is writable by group or others without the sticky bit", false},
		{"group-writable", 0o775, -1, "is writable by group or others without the sticky bit", false},
		{"owned by another user", 0o755, nobody, "is owned by uid 65534, neither root nor this process's user", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.needRoot && os.Geteuid() != 0 {
				testdir.SkipOutsideCI(t, "needs root to give a directory away")
			}
			dir := filepath.Join(t.TempDir(), "etc")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "c.yaml")
			if err := os.WriteFile(path, []byte("log: {level: debug}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			if tc.owner >= 0 {
				if err := os.Chown(dir, tc.owner, -1); err != nil {
					t.Fatal(err)
				}
			}
			// Through a link in a private directory: the target's
			// directories decide.
			link := filepath.Join(t.TempDir(), "link.yaml")
			if err := os.Symlink(path, link); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, link} {
				cfg, err := load(t, Options{File: p})
				if tc.want == "" {
					if err != nil || cfg.Log.Level != "debug" {
						t.Fatalf("%s: %v", p, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), "directory "+dir+" "+tc.want) || !strings.Contains(err.Error(), "(want ") {
					t.Fatalf("%s: err = %v, want one saying directory %s %s", p, err, dir, tc.want)
				}
			}
		})
	}
}
