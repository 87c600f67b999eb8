//go:build !windows

package privdir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepare(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, tt := range []struct {
		name  string
		setup func(dir string) error
		want  string // "" accepted; else a substring of the *UnsafeError
	}{
		{"created with parents", func(string) error { return nil }, ""},
		{"existing private", func(d string) error { return os.Mkdir(d, 0o700) }, ""},
		{"group-writable", func(d string) error {
			if err := os.Mkdir(d, 0o700); err != nil {
				return err
			}
			return os.Chmod(d, 0o770)
		}, "writable by group or others (mode 0770)"},
		{"world-writable", func(d string) error {
			if err := os.Mkdir(d, 0o700); err != nil {
				return err
			}
			return os.Chmod(d, 0o703)
		}, "writable by group or others (mode 0703)"},
		{"another user's", func(d string) error {
			if os.Geteuid() != 0 {
				return errSkip
			}
			if err := os.Mkdir(d, 0o700); err != nil {
				return err
			}
			return os.Chown(d, 65534, 65534)
		}, "owned by uid 65534"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(root, strings.ReplaceAll(tt.name, " ", "_"), "sub")
			os.MkdirAll(filepath.Dir(dir), 0o755)
			if err := tt.setup(dir); errors.Is(err, errSkip) {
				t.Skip("SKIPPED: needs root to chown")
			} else if err != nil {
				t.Fatal(err)
			}
			abs, err := Prepare(dir, "test directory")
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(abs)
				if err != nil || fi.Mode().Perm() != 0o700 || !fi.IsDir() {
					t.Fatalf("%s: %v %v, want a 0700 directory", abs, fi.Mode(), err)
				}
				return
			}
			var ue *UnsafeError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "unsafe test directory "+dir+": ") {
				t.Fatalf("Prepare: %v, want an *UnsafeError saying %q", err, tt.want)
			}
		})
	}
	if _, err := Prepare("", "test directory"); err == nil {
		t.Error("empty path accepted")
	}
	f := filepath.Join(root, "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := Prepare(f, "test directory"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file: %v", err)
	}
}

var errSkip = errors.New("skip")
