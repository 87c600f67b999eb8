// Package privdir prepares a directory only this process's user may
// change: the state directory holding the detection database, and the
// evidence directory holding copies of programs run from client drives.
// Whoever can write such a directory can replace what the program trusts
// (the database) or plant files next to what it keeps (the evidence), so
// an existing directory another user owns, or others can write, is refused
// rather than repaired: it may already hold their files.
//
// Unix: created 0700 (missing parents 0755, as install -d makes them),
// refused when owned by another uid or writable by group or others.
// Windows: created with a protected DACL granting SYSTEM, Administrators
// and the running user (SYSTEM itself under osqueryd) full control, nobody
// else; an existing one must pass checkDirSDDL and safefile's rule for
// every directory above it.
package privdir

import (
	"fmt"
	"os"
	"path/filepath"
)

// UnsafeError is the error Prepare returns for a directory that someone
// other than this process's user (or, on Windows, SYSTEM and
// Administrators) could change.
type UnsafeError struct {
	What   string // what the directory is for ("state directory")
	Dir    string // the absolute path asked for
	Reason error  // who could change it, and what to run to fix it
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("unsafe %s %s: %v", e.What, e.Dir, e.Reason)
}

func (e *UnsafeError) Unwrap() error { return e.Reason }

// Prepare creates dir if needed, private to this process's user, and
// refuses an existing one that another user owns or others can write (an
// *UnsafeError). what names the directory in errors ("state directory").
// It returns the absolute path. A symbolic link to a directory is
// accepted, and the directory it leads to is what is checked: an
// administrator may keep the data on another disk.
func Prepare(dir, what string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("%s: no path given", what)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", what, dir, err)
	}
	if err := makeDir(abs); err != nil {
		return "", fmt.Errorf("create %s %s: %w", what, abs, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", what, abs, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", what, abs, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s %s: %s is not a directory", what, abs, real)
	}
	if err := checkDir(real, fi); err != nil {
		return "", &UnsafeError{What: what, Dir: abs, Reason: err}
	}
	return abs, nil
}
