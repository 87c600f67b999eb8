//go:build windows && !amd64 && !arm64

package live

import "fmt"

// openETW: the ETW structures are only laid out for 64-bit Windows.
func openETW() (Watcher, error) {
	return nil, fmt.Errorf("%w: etw needs 64-bit Windows", ErrUnsupported)
}
