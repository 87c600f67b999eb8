//go:build !windows

package plugin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// TestCheckWriters places the real plugin under directories with various
// owners and modes and checks who could swap it decides whether it runs.
func TestCheckWriters(t *testing.T) {
	bin, err := os.ReadFile(pluginPath)
	if err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	// put writes the plugin at root/sub/plugin, then applies the modes and
	// owners (applied after writing: umask does not touch Chmod).
	put := func(t *testing.T, dirMode, fileMode os.FileMode, dirOwner, fileOwner int) string {
		root := t.TempDir()
		dir := filepath.Join(root, "sub")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "plugin")
		if err := os.WriteFile(p, bin, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, x := range []struct {
			path  string
			mode  os.FileMode
			owner int
		}{{p, fileMode, fileOwner}, {dir, dirMode, dirOwner}} {
			if err := os.Chmod(x.path, x.mode); err != nil {
				t.Fatal(err)
			}
			if x.owner >= 0 {
				if err := os.Chown(x.path, x.owner, -1); err != nil {
					t.Fatal(err)
				}
			}
		}
		return p
	}
	for _, tc := range []struct {
		name                string
		dirMode, fileMode   os.FileMode
		dirOwner, fileOwner int    // -1: leave as created
		want                string // "" for accepted
		needRoot            bool
	}{
		{"private directory", 0o755, 0o755, -1, -1, "", false},
		{"read-only file", 0o755, 0o500, -1, -1, "", false},
		{"world-writable file", 0o755, 0o757, -1, -1, "writable by group or others (mode 0757)", false},
		{"group-writable file", 0o755, 0o775, -1, -1, "writable by group or others", false},
		{"world-writable directory", 0o777, 0o755, -1, -1, "without the sticky bit", false},
		{"group-writable directory", 0o775, 0o755, -1, -1, "without the sticky bit", false},
		{"sticky world-writable directory", 0o777 | os.ModeSticky, 0o755, -1, -1, "", false},
		{"file owned by another user", 0o755, 0o755, -1, nobody, "owned by uid 65534", true},
		{"directory owned by another user", 0o755, 0o755, nobody, -1, "directory", true},
		{"sticky directory, file of another user", 0o777 | os.ModeSticky, 0o755, -1, nobody, "owned by uid 65534", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needRoot && os.Geteuid() != 0 {
				t.Skip("needs root to give files away")
			}
			p := put(t, tc.dirMode, tc.fileMode, tc.dirOwner, tc.fileOwner)
			real, err := checkFile(p, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if real != p {
					t.Fatalf("resolved %s to %s", p, real)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error = %v, want one naming %s and saying %q", err, p, tc.want)
			}
		})
	}

	// A link is resolved once and the target is what gets checked and run:
	// a link in an unsafe directory to a safe file runs the safe file; a
	// link to an unsafe file is refused.
	safe := put(t, 0o755, 0o755, -1, -1)
	unsafe := put(t, 0o777, 0o755, -1, -1)
	links := t.TempDir()
	for name, target := range map[string]string{"to-safe": safe, "to-unsafe": unsafe} {
		if err := os.Symlink(target, filepath.Join(links, name)); err != nil {
			t.Fatal(err)
		}
	}
	if real, err := checkFile(filepath.Join(links, "to-safe"), nil); err != nil || real != safe {
		t.Fatalf("link to a safe plugin: %q, %v", real, err)
	}
	if _, err := checkFile(filepath.Join(links, "to-unsafe"), nil); err == nil || !strings.Contains(err.Error(), "sticky") {
		t.Fatalf("link to an unsafe plugin: %v", err)
	}

	// And Launch applies it.
	_, err = Launch(context.Background(), Options{Path: unsafe, SHA256: pluginSum, Config: detector.DefaultConfig()})
	if err == nil || !strings.Contains(err.Error(), "without the sticky bit") {
		t.Fatalf("Launch of a plugin in a world-writable directory: %v", err)
	}
}
