package plugin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tsclientwatch/tsclientwatch/internal/safefile"
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
// checked is what runs even if a link is re-pointed later. It runs before
// every launch, so a binary swapped after the first launch is refused on
// relaunch.
//
// Whoever can change the file, or rename or replace it in any directory on
// its path, runs code as the host; and go-plugin's own checksum check
// (hashicorp/go-plugin v1.8.0 client.go: SecureConfig.Check opens the path,
// then certificates are generated, then cmd.Start executes the same path)
// leaves a window in which a file swapped by path is not the file that was
// hashed. So the file is opened with safefile, which refuses it unless only
// root or Administrators (or this process's own user) could change it or
// any directory up to the root (Unix: owner and mode, sticky directories
// allowed; Windows: owner and DACL), and the checksum is computed on that
// same open file.
func checkFile(path string, sum []byte) (string, error) {
	f, real, err := safefile.Open(path)
	if err != nil {
		return "", fmt.Errorf("plugin %s: %w; refusing to run it", path, err)
	}
	defer f.Close()
	if sum == nil {
		return real, nil
	}
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
