//go:build linux

package fanotify

import (
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"os"
	"strings"
	"testing"
)

func TestOpenNoMount(t *testing.T) {
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "needs root")
	}
	mi := t.TempDir() + "/mountinfo"
	os.WriteFile(mi, []byte("22 1 0:21 / / rw - ext4 /dev/sda1 rw\n"), 0o644)
	_, err := Open(Options{MountNames: []string{"thinclient_drives"}, Mountinfo: mi})
	if err == nil || !strings.Contains(err.Error(), "no xrdp client-drive mount found") || !strings.Contains(err.Error(), "FUSE mounts of types fuse.xrdp-chansrv") {
		t.Fatalf("err = %v", err)
	}
	w, err := Open(Options{MountNames: []string{"thinclient_drives"}, Mountinfo: mi, WaitForMounts: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}
