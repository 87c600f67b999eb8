package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrUnsafeDir is wrapped by the error Open returns for a state directory
// that someone other than this process's user (or, on Windows, SYSTEM and
// Administrators) could change.
var ErrUnsafeDir = errors.New("unsafe state directory")

// prepareDir creates dir if needed, private to this process's user (0700;
// on Windows SYSTEM and Administrators only), and refuses an existing one
// that another user owns or others can write: whoever can write it can
// replace the database, and with it the detections osquery is told about
// and the positions reading resumes from.
func prepareDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("state directory: no path given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := makeDir(abs); err != nil {
		return "", fmt.Errorf("create state directory %s: %w", abs, err)
	}
	// Check what the path leads to: an administrator may keep the state on
	// another disk through a symbolic link.
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("state directory %s: %w", abs, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("state directory %s: %w", abs, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("state directory %s: %s is not a directory", abs, real)
	}
	if err := checkDir(real, fi); err != nil {
		return "", fmt.Errorf("%w %s: %v", ErrUnsafeDir, abs, err)
	}
	return abs, nil
}
