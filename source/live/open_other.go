//go:build !linux && !windows

package live

import (
	"context"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// preference is empty: there is no live mechanism here (macOS would need
// Endpoint Security, which needs an Apple entitlement).
var preference []string

func openOne(_ context.Context, m string, _ Options) (Watcher, error) {
	return nil, unsupported(m)
}

// attributor: nothing here tells sessions apart.
func attributor(Options) func(*detector.Event) { return nil }
