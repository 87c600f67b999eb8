// Package recovered turns a recovered panic into an error that says where
// it happened, so a watcher can end cleanly and report it instead of taking
// the process (the osquery extension) down.
package recovered

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
)

// Error describes the panic value r, recovered in what (e.g. "the ETW event
// callback"), with the innermost frame of this module that panicked. Call it
// from the deferred function that called recover.
func Error(what string, r any) error {
	if site := site(); site != "" {
		return fmt.Errorf("panic in %s at %s: %v", what, site, r)
	}
	return fmt.Errorf("panic in %s: %v", what, r)
}

// site finds the first frame below the runtime's panic machinery that
// belongs to this module, as "dir/file.go:line".
func site() string {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	panicking := false
	for {
		f, more := frames.Next()
		switch {
		case strings.HasPrefix(f.Function, "runtime."):
			panicking = true // gopanic, goPanicIndex, sigpanic...
		case panicking && strings.HasPrefix(f.Function, "github.com/tsclientwatch/tsclientwatch/"):
			return filepath.Base(filepath.Dir(f.File)) + "/" + filepath.Base(f.File) + ":" + fmt.Sprint(f.Line)
		}
		if !more {
			return ""
		}
	}
}
