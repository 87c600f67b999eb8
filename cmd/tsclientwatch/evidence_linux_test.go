//go:build linux

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/internal/testfuse"
)

const nobody = 65534

// evidenceFixture is a host with two client-drive mounts laid out like
// xrdp's: alice's, a bindfs of src holding D:/payload (a copy of
// /bin/true), D:/second (another copy, one byte longer) and D:/big (past
// max_file_bytes); and bob's, a FUSE mount holding E:/slow, which bob
// (nobody) runs: its daemon never answers root's opens, the evidence
// reader's, as a client drive that hangs. (Holding root's READs instead
// is not deterministic here: the pages bob's exec mapped may still be
// cached when the reader comes, and then no READ reaches the daemon.)
type evidenceFixture struct {
	root, evDir, cfg      string
	payload, second, big  string
	slow                  string
	stall                 *testfuse.Mount
	maxFile               int64
	payloadSum, secondSum string
}

func newEvidenceFixture(t *testing.T) *evidenceFixture {
	t.Helper()
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "live evidence test needs root for eBPF and FUSE")
	}
	if _, err := exec.LookPath("bindfs"); err != nil {
		testdir.SkipOutsideCI(t, "live evidence test needs bindfs (apt-get install bindfs)")
	}
	root, err := os.MkdirTemp("", "tswevidence")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if root, err = filepath.EvalSymlinks(root); err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o755)
	f := &evidenceFixture{root: root, evDir: filepath.Join(root, "evidence"), maxFile: 64 << 10}
	bin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(bin))+1 > f.maxFile {
		t.Fatalf("/bin/true is %d bytes, past the test's max_file_bytes %d", len(bin), f.maxFile)
	}
	src, mnt := filepath.Join(root, "src"), filepath.Join(root, "home", "alice", "thinclient_drives")
	testfuse.Mkdir(t, filepath.Join(src, "D:"), 0, 0)
	testfuse.Mkdir(t, mnt, 0, 0)
	second := append(append([]byte(nil), bin...), 0) // trailing bytes do not stop an ELF
	big := append(append([]byte(nil), bin...), make([]byte, 2*f.maxFile)...)
	for name, b := range map[string][]byte{"payload": bin, "second": second, "big": big} {
		if err := os.WriteFile(filepath.Join(src, "D:", name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.payloadSum, f.secondSum = hexSum(bin), hexSum(second)
	if out, err := exec.Command("bindfs", src, mnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { testfuse.Unmount(mnt) })
	f.payload, f.second, f.big = filepath.Join(mnt, "D:", "payload"), filepath.Join(mnt, "D:", "second"), filepath.Join(mnt, "D:", "big")

	slowSrc, slowMnt := filepath.Join(root, "slowsrc"), filepath.Join(root, "home", "bob", "thinclient_drives")
	testfuse.Mkdir(t, filepath.Join(slowSrc, "E:"), nobody, nobody)
	testfuse.Mkdir(t, slowMnt, nobody, nobody)
	if err := os.WriteFile(filepath.Join(slowSrc, "E:", "slow"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	f.stall = testfuse.New(t, slowSrc, slowMnt, testfuse.Options{Owner: nobody, Group: nobody, AllowOther: true, StallRoot: true})
	t.Cleanup(f.stall.Release)
	f.slow = filepath.Join(slowMnt, "E:", "slow")

	f.cfg = filepath.Join(root, "config.yaml")
	// The watcher sees every exec on the host, other tests' floods
	// included: enough workers and queue that theirs do not starve ours.
	cfg := fmt.Sprintf("evidence:\n  dir: %s\n  max_file_bytes: %d\n  timeout: 5s\n  concurrency: 8\n  queue: 65536\n", f.evDir, f.maxFile)
	if err := os.WriteFile(f.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// runAs starts path as uid and waits for it.
func runAs(t *testing.T, uid int, path string) {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Dir = "/"
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run %s as %d: %v\n%s", path, uid, err, out)
	}
}

// TestWatchEvidenceLive: watch --format ndjson, eBPF, a bindfs
// thinclient_drives mount. A program started from it is printed with its
// SHA-256 (the file's), its size and a 0600 copy named by that hash in
// evidence.dir; a program over max_file_bytes is printed with its size,
// without hash or copy. A program whose read never ends (bob's mount does
// not answer the reader) is printed without evidence once evidence.timeout
// passes, and does not hold back the detection that follows it: that one
// is printed first, with its hash.
func TestWatchEvidenceLive(t *testing.T) {
	f := newEvidenceFixture(t)
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{"--config", f.cfg, "watch", "--format", "ndjson", "--mechanism", "ebpf"}, strings.NewReader(""), &stdout, &stderr)
	}()
	waitFor(t, &stderr, "watching process starts with ebpf")
	runAs(t, 0, f.payload)
	waitFor(t, &stdout, f.payload)
	runAs(t, 0, f.big)
	waitFor(t, &stdout, f.big)
	runAs(t, nobody, f.slow)
	runAs(t, 0, f.second)
	waitFor(t, &stdout, f.second)
	waitFor(t, &stdout, f.slow)
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	var order []string
	byPath := map[string]map[string]any{}
	for _, r := range ndjsonLines(t, stdout.String()) {
		p := r["path"].(string)
		if strings.HasPrefix(p, f.root) {
			order = append(order, p)
			byPath[p] = r
		}
	}
	if want := []string{f.payload, f.big, f.second, f.slow}; strings.Join(order, "\n") != strings.Join(want, "\n") {
		t.Errorf("printed in the order\n%s\nwant\n%s (the hung read printed after the detection behind it)", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range []struct {
		path, sum string
	}{{f.payload, f.payloadSum}, {f.second, f.secondSum}} {
		r := byPath[c.path]
		copyPath := filepath.Join(f.evDir, c.sum)
		if r["sha256"] != c.sum || r["evidence_path"] != copyPath || r["size"] == nil {
			t.Errorf("%s: sha256 %v size %v evidence_path %v; want %s and its copy", c.path, r["sha256"], r["size"], r["evidence_path"], c.sum)
			continue
		}
		fi, err := os.Stat(copyPath)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("copy %s: %v (mode %v), want 0600", copyPath, err, fi.Mode())
			continue
		}
		if b, err := os.ReadFile(copyPath); err != nil || hexSum(b) != c.sum || float64(len(b)) != r["size"] {
			t.Errorf("copy %s does not hold the program: %v", copyPath, err)
		}
	}
	if r := byPath[f.big]; r["sha256"] != "" || r["evidence_path"] != "" || r["size"] != float64(fileSize(t, f.big)) {
		t.Errorf("too large: sha256 %v size %v evidence_path %v; want its size only", r["sha256"], r["size"], r["evidence_path"])
	}
	if r := byPath[f.slow]; r["sha256"] != "" || r["evidence_path"] != "" {
		t.Errorf("hung read: sha256 %v evidence_path %v; want none", r["sha256"], r["evidence_path"])
	}
	// Other tests' programs may be copied too (the watcher sees the
	// whole host): every copy is private and none is executable.
	ents, _ := os.ReadDir(f.evDir)
	for _, e := range ents {
		if fi, err := e.Info(); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("evidence.dir entry %s: %v, mode %v; want 0600", e.Name(), err, fi.Mode())
		}
	}
	// The counters on stderr cover the whole host: at least ours.
	m := regexp.MustCompile(`(?m)^evidence: (\d+) read, (\d+) kept, (\d+) too large, (\d+) timed out`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no evidence summary on stderr:\n%s", stderr.String())
	}
	for i, least := range []int{2, 2, 1, 1} {
		if n, _ := strconv.Atoi(m[i+1]); n < least {
			t.Errorf("evidence summary %q: want at least 2 read, 2 kept, 1 too large, 1 timed out", m[0])
		}
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
