//go:build linux

package ebpf

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
)

// TestLoadBothAttachments loads and attaches each program, so the raw
// tracepoint fallback (never picked on a kernel with BTF) also passes the
// verifier.
func TestLoadBothAttachments(t *testing.T) {
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "loading BPF programs needs root")
	}
	spec, err := loadExec()
	if err != nil {
		t.Fatal(err)
	}
	fput, err := kallsymsAddr("/proc/kallsyms", "____fput")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"tp_btf", "raw_tracepoint"} {
		w := &Watcher{fputFn: fput}
		if err := w.load(spec, mode); err != nil {
			t.Errorf("%s: %v", mode, err)
			continue
		}
		if err := w.Close(); err != nil {
			t.Errorf("%s: close: %v", mode, err)
		}
	}
}

func TestKallsymsAddr(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, content string
		want          uint64
		wantErr       string
	}{
		{"found", "ffffffff816dafa0 t __fput\nffffffff816db2b0 t ____fput\n", 0xffffffff816db2b0, ""},
		{"module symbol", "ffffffffc0001000 t ____fput\t[mod]\nffffffff816db2b0 t ____fput\n", 0xffffffff816db2b0, ""},
		{"hidden", "0000000000000000 t ____fput\n", 0, "hidden"},
		{"absent", "ffffffff816dafa0 t __fput\n", 0, "no symbol"},
	} {
		p := filepath.Join(dir, tt.name)
		os.WriteFile(p, []byte(tt.content), 0o644)
		got, err := kallsymsAddr(p, "____fput")
		if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: %#x, %v; want %#x, %q", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
	if os.Geteuid() == 0 {
		if _, err := kallsymsAddr("/proc/kallsyms", "____fput"); err != nil {
			t.Errorf("this kernel: %v", err)
		}
	}
}

// recordFlag re-records testdata/script_exec.bin, the real ring buffer
// sample TestDecodeRecorded decodes. It needs root and bindfs:
//
//	go test -run TestRecordSample ./source/live/ebpf/ -record
var recordFlag = flag.Bool("record", false, "re-record testdata/script_exec.bin from a real exec")

// TestRecordSample runs `./run.sh a b` (a #!/bin/sh script) from
// /tmp/tswrec/home/u/thinclient_drives/C:/tools on a bindfs mount and saves
// the raw record the program sent for it. The fixed directory keeps the
// recorded paths stable from one recording to the next.
func TestRecordSample(t *testing.T) {
	if !*recordFlag {
		t.Skip("run with -record to re-record testdata/script_exec.bin")
	}
	const root = "/tmp/tswrec"
	src := filepath.Join(root, "src")
	mnt := filepath.Join(root, "home", "u", "thinclient_drives")
	dir := filepath.Join(mnt, "C:", "tools")
	os.RemoveAll(root)
	t.Cleanup(func() { os.RemoveAll(root) })
	for _, d := range []string{filepath.Join(src, "C:", "tools"), mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "C:", "tools", "run.sh"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bindfs", src, mnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })

	w, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := exec.Command("./run.sh", "a", "b")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run.sh: %v\n%s", err, out)
	}
	pid := uint32(cmd.ProcessState.Pid())
	w.rd.SetDeadline(time.Now().Add(10 * time.Second))
	var rec ringbuf.Record
	for {
		if err := w.rd.ReadInto(&rec); err != nil {
			t.Fatalf("no record for pid %d: %v", pid, err)
		}
		r, err := Decode(rec.RawSample)
		if err == nil && r.PID == pid && bytes.Contains(rec.RawSample, []byte("run.sh")) {
			t.Logf("recorded %+v", r)
			break
		}
	}
	if err := os.WriteFile(filepath.Join("testdata", "script_exec.bin"), rec.RawSample, 0o644); err != nil {
		t.Fatal(err)
	}
}
