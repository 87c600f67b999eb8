package plugin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
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

// checkFile refuses a plugin file that is not safe to run: not a regular
// file, writable by group or others (anyone who can write it can run code
// as the host), or not matching the expected checksum. It runs before every
// launch, so a binary swapped after the first launch is refused on relaunch.
func checkFile(path string, sum []byte) error {
	fi, err := os.Stat(path) // follow links: what matters is what gets executed
	if err != nil {
		return fmt.Errorf("plugin %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("plugin %s is not a regular file (mode %s)", path, fi.Mode())
	}
	// Windows has no meaningful permission bits here (every writable file
	// reports 0666); its ACLs are out of reach of os.FileMode, so the
	// checksum is the protection there.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("plugin %s is writable by group or others (mode %04o); refusing to run it (chmod go-w %s)", path, fi.Mode().Perm(), path)
	}
	if sum == nil {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("plugin %s: computing checksum: %w", path, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, sum) {
		return fmt.Errorf("%w: plugin %s has SHA-256 checksum %x, want %x", ErrChecksum, path, got, sum)
	}
	return nil
}

// ErrChecksum is returned (wrapped) by Launch when the plugin file does not
// have the expected SHA-256 checksum.
var ErrChecksum = errors.New("plugin checksum mismatch")
