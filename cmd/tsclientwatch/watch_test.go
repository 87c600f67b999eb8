package main

import (
	"bytes"
	"context"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWatchUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"watch", "--format", "xml"}, `--format "xml" is not an output format`},
		{[]string{"watch", "--mechanism", "kprobe"}, `--mechanism "kprobe" is not a mechanism`},
		{[]string{"watch", "extra"}, "unknown command"},
	} {
		r := runCLI(t, nil, tt.args...)
		if r.code != exitError || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: code %d stderr %q, want %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	foreign := "etw"
	if runtime.GOOS == "windows" {
		foreign = "ebpf"
	}
	r := runCLI(t, nil, "watch", "--mechanism", foreign)
	if r.code != exitError || !strings.Contains(r.stderr, "not available on "+runtime.GOOS) {
		t.Errorf("watch --mechanism %s: code %d stderr %q", foreign, r.code, r.stderr)
	}
}

// syncBuffer lets the test read what the command writes while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until s holds want; the deadline only stops a broken
// watcher from hanging the test.
func waitFor(t *testing.T, s *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %q; output so far:\n%s", want, s.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWatchLive runs "watch" against a real FUSE mount laid out like
// xrdp's, for each Linux mechanism: a program started from the mount is
// printed as NDJSON, the same program elsewhere is not, and Ctrl-C
// (context cancellation) flushes and exits 0.
func TestWatchLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("live Linux mechanisms only")
	}
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "live test needs root for eBPF and fanotify")
	}
	if _, err := exec.LookPath("bindfs"); err != nil {
		testdir.SkipOutsideCI(t, "live test needs bindfs (apt-get install bindfs)")
	}
	root := t.TempDir()
	src := filepath.Join(root, "src")
	mnt := filepath.Join(root, "home", "alice", "thinclient_drives")
	for _, d := range []string{filepath.Join(src, "D:"), mnt, filepath.Join(root, "elsewhere")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(src, "D:", "payload"), filepath.Join(root, "elsewhere", "payload")} {
		if err := os.WriteFile(p, bin, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("bindfs", src, mnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	tool := filepath.Join(mnt, "D:", "payload")

	for _, mech := range []string{"ebpf", "fanotify"} {
		t.Run(mech, func(t *testing.T) {
			var stdout, stderr syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() {
				done <- runContext(ctx, []string{"watch", "--format", "ndjson", "--mechanism", mech}, strings.NewReader(""), &stdout, &stderr)
			}()
			waitFor(t, &stderr, "watching process starts with "+mech)
			if err := exec.Command(filepath.Join(root, "elsewhere", "payload")).Run(); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("./payload", "--from-mount")
			cmd.Dir = filepath.Join(mnt, "D:")
			if err := cmd.Run(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, &stdout, tool)
			cancel()
			if code := <-done; code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
			}
			recs := ndjsonLines(t, stdout.String())
			var mine []map[string]any
			for _, r := range recs {
				if strings.HasPrefix(r["path"].(string), root) {
					mine = append(mine, r)
				}
			}
			if len(mine) != 1 || mine[0]["path"] != tool || mine[0]["client_drive"] != "D:" || mine[0]["share_path"] != "/payload" || mine[0]["source"] != mech || mine[0]["form"] != "xrdp" ||
				mine[0]["fs_type"] != "fuse" || mine[0]["path_truncated"] != false {
				t.Fatalf("detections under %s: %v", root, mine)
			}
			if !strings.Contains(stderr.String(), mech+": ") || !strings.Contains(stderr.String(), " lost") {
				t.Errorf("no summary on stderr:\n%s", stderr.String())
			}
		})
	}
}
