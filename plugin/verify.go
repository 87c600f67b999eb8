package plugin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// parseChecksum decodes a SHA-256 given as 64 hex digits.
func parseChecksum(s string) ([]byte, error) {
	sum, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("plugin sha256 %q is not a SHA-256 checksum (want 64 hex digits)", s)
	}
	return sum, nil
}

// checkFile refuses a plugin file that is not safe to run and returns the
// path to execute: path with every symbolic link resolved, so that what was
// checked is what runs even if a link is re-pointed later. It refuses a
// file that is not a regular file, that someone other than root or this
// process's user could change (see checkWriters), or that does not match
// the expected checksum. It runs before every launch, so a binary swapped
// after the first launch is refused on relaunch.
func checkFile(path string, sum []byte) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("plugin %s: %w", path, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("plugin %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("plugin %s is not a regular file (mode %s)", path, fi.Mode())
	}
	if err := checkWriters(path, real, fi); err != nil {
		return "", err
	}
	if sum == nil {
		return real, nil
	}
	f, err := os.Open(real)
	if err != nil {
		return "", fmt.Errorf("plugin %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("plugin %s: computing checksum: %w", path, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, sum) {
		return "", fmt.Errorf("%w: plugin %s has SHA-256 checksum %x, want %x", ErrChecksum, path, got, sum)
	}
	return real, nil
}

// ErrChecksum is returned (wrapped) by Launch when the plugin file does not
// have the expected SHA-256 checksum.
var ErrChecksum = errors.New("plugin checksum mismatch")
