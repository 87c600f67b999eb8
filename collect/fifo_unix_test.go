//go:build unix

package collect

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/config"
)

// TestFIFOSourcesNeverBlock: review H1. A followed path that is a FIFO is
// refused at once (a FIFO's open waits for a writer inside open(2)); a
// replayed one waits for its writer but Close still stops it. Either way no
// goroutine is left behind (goleak in TestMain).
func TestFIFOSourcesNeverBlock(t *testing.T) {
	dir := t.TempDir()
	followed := filepath.Join(dir, "follow.fifo")
	replayed := filepath.Join(dir, "replay.fifo")
	for _, p := range []string{followed, replayed} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	release := func(p string) {
		if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}
	defer release(replayed) // an abandoned open(2) of the replay returns
	defer release(followed)

	h := start(t, Options{Sources: []config.SourceConfig{fileSource(followed, true), fileSource(replayed, false)}})
	waitFor(t, "the followed FIFO to be refused", func() bool { return h.status(0).State == StateFailed })
	if st := h.status(0); !strings.Contains(st.LastError, followed+": not a regular file") {
		t.Errorf("followed FIFO status = %+v", st)
	}
	closed := make(chan struct{})
	go func() { h.c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		release(replayed)
		t.Fatal("Close did not stop the replay blocked on a FIFO")
	}
}
