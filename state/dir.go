package state

import (
	"errors"
	"fmt"

	"github.com/tsclientwatch/tsclientwatch/internal/privdir"
)

// ErrUnsafeDir is wrapped by the error Open returns for a state directory
// that someone other than this process's user (or, on Windows, SYSTEM and
// Administrators) could change.
var ErrUnsafeDir = errors.New("unsafe state directory")

// prepareDir creates dir if needed, private to this process's user (0700;
// on Windows SYSTEM and Administrators only), and refuses an existing one
// that another user owns or others can write: whoever can write it can
// replace the database, and with it the detections osquery is told about
// and the positions reading resumes from. The rule is package privdir's,
// shared with the evidence directory.
func prepareDir(dir string) (string, error) {
	abs, err := privdir.Prepare(dir, "state directory")
	var unsafe *privdir.UnsafeError
	if errors.As(err, &unsafe) {
		return "", fmt.Errorf("%w %s: %v", ErrUnsafeDir, unsafe.Dir, unsafe.Reason)
	}
	return abs, err
}
