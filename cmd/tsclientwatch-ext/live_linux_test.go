//go:build linux

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/internal/version"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

// TestNoConfigRunsLiveWatcher is the out-of-the-box install: no
// configuration file (none given, TSCLIENTWATCH_CONFIG unset, no default
// file), or a file that only tunes other settings. Through the Thrift
// socket, the extension registers with the build's version,
// tsclientwatch_status shows the live source running, and a program
// started from a real FUSE mount named thinclient_drives (bindfs, as xrdp's
// chansrv mounts client drives) appears in tsclient_executions.
func TestNoConfigRunsLiveWatcher(t *testing.T) {
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "the live watcher needs root (eBPF, fanotify)")
	}
	if _, err := exec.LookPath("bindfs"); err != nil {
		testdir.SkipOutsideCI(t, "needs bindfs (apt-get install bindfs)")
	}
	tuned := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(tuned, []byte("store:\n  expiry: 2h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"no configuration file", nil},
		{"file without a sources key", []string{"--config", tuned}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tool := clientDriveTool(t)
			o, logs := startInProcess(t, tt.args...)
			info, _ := o.WaitRegistered(patience)
			if info.Version != version.Get().Version {
				t.Errorf("registered version %q, want %q", info.Version, version.Get().Version)
			}
			live := waitRow(t, o, tables.StatusName, func(r map[string]string) bool {
				return r["type"] == "live" && r["state"] == "running"
			}, logs)
			t.Logf("tsclientwatch_status live row: %v", live)

			cmd := exec.Command(tool, "from-the-client")
			cmd.Dir = filepath.Dir(tool)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("run %s: %v\n%s", tool, err, out)
			}
			pid := strconv.Itoa(cmd.ProcessState.Pid())
			row := waitRow(t, o, tables.ExecutionsName, func(r map[string]string) bool { return r["pid"] == pid }, logs)
			if row["path"] != tool || row["form"] != "xrdp" || row["client_drive"] != "C:" || row["share_path"] != "/tools/tool" {
				t.Errorf("tsclient_executions row %v, want path %s, form xrdp, drive C:, share path /tools/tool", row, tool)
			}
			// Evidence (docs/evidence.md), on by default: the program was
			// read while it ran; the row shows its SHA-256 and size.
			prog, err := os.ReadFile(tool)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(prog); row["sha256"] != hex.EncodeToString(sum[:]) || row["size"] != strconv.Itoa(len(prog)) || row["evidence_path"] != "" {
				t.Errorf("evidence: sha256 %q size %q evidence_path %q; want %x, %d and no copy", row["sha256"], row["size"], row["evidence_path"], sum, len(prog))
			}
			ev := waitRow(t, o, tables.StatusName, func(r map[string]string) bool { return r["type"] == "evidence" }, logs)
			if ev["target"] != "hash only" || ev["evidence_read"] == "0" {
				t.Errorf("tsclientwatch_status evidence row %v, want hash only with a read counted", ev)
			}
			t.Logf("tsclient_executions row: %v", row)
		})
	}
}

// clientDriveTool mounts a bindfs of a temporary directory at
// <tmp>/home/u/thinclient_drives, as xrdp lays out client drives, and
// returns the path of a program on it (a copy of /bin/true at
// thinclient_drives/C:/tools/tool). The mount goes away when the test ends.
func clientDriveTool(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("", "tswext")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if root, err = filepath.EvalSymlinks(root); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "src")
	mnt := filepath.Join(root, "home", "u", "thinclient_drives")
	for _, d := range []string{filepath.Join(src, "C:", "tools"), mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	in, err := os.Open("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(filepath.Join(src, "C:", "tools", "tool"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bindfs", src, mnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs %s %s: %v\n%s", src, mnt, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil && !strings.Contains(string(out), "not mounted") {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	return filepath.Join(mnt, "C:", "tools", "tool")
}
