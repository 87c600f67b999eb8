//go:build linux

package live

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// TestXrdpAttributionLive runs a program from a FUSE mount of subtype
// xrdp-chansrv, served (as far as /proc can tell) by an xrdp-chansrv process
// on display N whose parent is a root "xrdp-sesman": copies of sh and sleep
// under those names, which is all the resolver reads. xrdp-sesman's log
// (a file the test writes, named by Options.XrdpSesmanLog) holds the
// session's "Starting session" line. The watcher's event must carry the
// display as session id and the client address from the log.
func TestXrdpAttributionLive(t *testing.T) {
	for _, mech := range []string{EBPF, Fanotify} {
		t.Run(mech, func(t *testing.T) { xrdpLive(t, mech) })
	}
}

func xrdpLive(t *testing.T, mechanism string) {
	needRoot(t)
	root, err := os.MkdirTemp("", "tswxrdp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if root, err = filepath.EvalSymlinks(root); err != nil {
		t.Fatal(err)
	}
	src, mnt, bin := filepath.Join(root, "src"), filepath.Join(root, "home", "root", "thinclient_drives"), filepath.Join(root, "bin")
	for _, d := range []string{filepath.Join(src, "C:"), mnt, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, "/bin/sleep", filepath.Join(src, "C:", "tool"))
	copyFile(t, "/bin/sh", filepath.Join(bin, "xrdp-sesman"))
	copyFile(t, "/bin/sleep", filepath.Join(bin, "xrdp-chansrv"))
	if out, err := exec.Command("bindfs", "-o", "subtype=xrdp-chansrv", src, mnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})

	// A display no other test uses; the session process and its chansrv.
	display := 40000 + rand.IntN(20000)
	env := append(os.Environ(), fmt.Sprintf("DISPLAY=:%d.0", display))
	sesman := exec.Command(filepath.Join(bin, "xrdp-sesman"), "-c", filepath.Join(bin, "xrdp-chansrv")+` 300 & echo $!; wait`)
	sesman.Env = env
	out, err := sesman.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sesman.Start(); err != nil {
		t.Fatal(err)
	}
	var chansrv int
	if _, err := fmt.Fscan(out, &chansrv); err != nil || chansrv <= 0 {
		t.Fatalf("chansrv pid: %d, %v", chansrv, err)
	}
	t.Cleanup(func() {
		if p, err := os.FindProcess(chansrv); err == nil {
			p.Kill()
		}
		sesman.Process.Kill()
		sesman.Wait()
	})
	log := filepath.Join(root, "xrdp-sesman.log")
	line := fmt.Sprintf("[20240501-10:00:00] [INFO ] Starting session: session_pid %d, display :%d.0, width 1024, height 768, bpp 24, client ip ::ffff:10.7.7.7:50312 - socket: 12, user name root\n",
		sesman.Process.Pid, display)
	if err := os.WriteFile(log, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}

	w, err := Open(context.Background(), Options{Mechanism: mechanism, MountNames: detector.DefaultConfig().XrdpMountNames,
		WaitForMounts: true, XrdpSesmanLog: log})
	if err != nil {
		t.Fatalf("Open(%s): %v", mechanism, err)
	}
	c := &collector{root: root, cond: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, c.sink()) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		w.Close()
	}()
	// Run the tool from the drive in the session (its DISPLAY settles it
	// should another test's fake chansrv of root be about).
	var evs []detector.Event
	for try := 0; try < 50 && len(evs) == 0; try++ {
		// fanotify marks mounts as they appear: run until it reports.
		tool := exec.Command(filepath.Join(mnt, "C:", "tool"), "0.3")
		tool.Env = env
		if out, err := tool.CombinedOutput(); err != nil {
			t.Fatalf("run the tool: %v\n%s", err, out)
		}
		evs = c.wait(1)
	}
	if len(evs) == 0 {
		t.Fatal("no event from the mount")
	}
	ev := evs[0]
	if ev.SessionID != detector.SessionOf(uint32(display)) || ev.ClientAddress != "10.7.7.7" || ev.Attribution != "xrdp-log" ||
		ev.LogonTime != time.Date(2024, 5, 1, 10, 0, 0, 0, time.Local).Unix() {
		t.Errorf("event: session %s client %q (%s) logon time %d; want %d, 10.7.7.7 (xrdp-log)", ev.SessionID, ev.ClientAddress, ev.Attribution, ev.LogonTime, display)
	}
}
