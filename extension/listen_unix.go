//go:build !windows

package extension

import (
	"fmt"
	"net"
	"os"
)

// listen makes the extension's unix socket at path, connectable by its
// owner only: connecting needs write permission, and whoever connects can
// read every detection (other users' command lines) and stop the
// extension. The umask makes it so from the start when the caller set one
// (tsclientwatch.ext sets 077); the chmod holds either way.
func listen(path string) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restrict %s to its owner: %w", path, err)
	}
	return ln, nil
}
