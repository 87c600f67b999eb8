package store

import (
	"os/exec"
	"testing"
	"time"
)

// unmount takes down a test's tmpfs: a few tries while something lets go
// of it, then lazily, so a mount never outlives the test.
func unmount(t *testing.T, dir string) {
	t.Helper()
	var out []byte
	var err error
	for range 10 {
		if out, err = exec.Command("umount", dir).CombinedOutput(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
		t.Errorf("umount %s: %v: %s; umount -l: %v: %s", dir, err, out, err2, out2)
	}
}
