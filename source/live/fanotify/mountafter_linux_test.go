//go:build linux

package fanotify

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/internal/testfuse"
)

// TestMountsAfterStartAlwaysMarked reproduces the review's E7: mountinfo
// was opened with os.Open, which put it on Go's netpoller, and the kernel
// signals a mount change once per open file; whichever poller saw it first
// took it, so about one mount in three made after start was never marked.
// Every one of many mounts made after start must be marked, by the change
// notification alone (the periodic rescan is pushed out of the way).
func TestMountsAfterStartAlwaysMarked(t *testing.T) {
	root := hostileRoot(t)
	src := filepath.Join(root, "src")
	driveSource(t, src, 0)
	w, err := Open(Options{MountNames: []string{"thinclient_drives"}, WaitForMounts: true, RescanInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p := &pidSink{}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx, p.sink()) }()
	defer func() {
		cancel()
		<-runDone
	}()
	const rounds = 25
	missed := 0
	for i := 0; i < rounds; i++ {
		mnt := filepath.Join(root, "home", fmt.Sprintf("u%d", i), "thinclient_drives")
		if err := exec.Command("mkdir", "-p", mnt).Run(); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("bindfs", src, mnt).CombinedOutput(); err != nil {
			t.Fatalf("bindfs: %v\n%s", err, out)
		}
		marked := false
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if slices.Contains(w.Mounts(), mnt) {
				marked = true
				break
			}
		}
		if marked {
			// Marks are in place once Mounts lists the mount.
			pid := execAs(t, 0, filepath.Join(mnt, "C:", "tool"))
			if _, ok := p.wait(pid)[pid]; !ok {
				t.Errorf("round %d: exec on %s not reported", i, mnt)
			}
		} else {
			missed++
		}
		if err := testfuse.Unmount(mnt); err != nil {
			t.Fatal(err)
		}
	}
	if missed > 0 {
		t.Errorf("%d of %d mounts made after start were not marked within 5 s", missed, rounds)
	}
}

// TestPeriodicRescan: mountinfo is also read every RescanInterval, so a
// mount is marked even when no change notification arrives (here the
// "mountinfo" is a regular file, which never signals one).
func TestPeriodicRescan(t *testing.T) {
	root := hostileRoot(t)
	src := filepath.Join(root, "src")
	driveSource(t, src, 0)
	mi := filepath.Join(root, "mountinfo")
	copyMountinfo := func() {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mi, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyMountinfo()
	w, err := Open(Options{MountNames: []string{"thinclient_drives"}, WaitForMounts: true, Mountinfo: mi, RescanInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p := &pidSink{}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx, p.sink()) }()
	defer func() {
		cancel()
		<-runDone
	}()
	mnt := filepath.Join(root, "home", "u", "thinclient_drives")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bindfs", src, mnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { testfuse.Unmount(mnt) })
	copyMountinfo()
	waitMarked(t, w, mnt)
	pid := execAs(t, 0, filepath.Join(mnt, "C:", "tool"))
	if _, ok := p.wait(pid)[pid]; !ok {
		t.Errorf("exec on %s not reported", mnt)
	}
}
