package evidence

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves a goroutine behind: every
// read, abandoned ones included, must end once its file answers or its
// helper is killed, and Close must stop every worker.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
