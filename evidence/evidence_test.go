//go:build linux

package evidence

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// guard bounds how long a test waits for a done that should come much
// sooner; it only keeps a broken collector from hanging the test run.
const guard = 2 * time.Minute

// newCollector starts a collector closed when the test ends, with every
// done call counted so the test fails on a second call.
func newCollector(t *testing.T, cfg Config) *Collector {
	t.Helper()
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pending is one submitted request's result.
type pending struct {
	ch    chan Result
	calls atomic.Int32
}

func submit(t *testing.T, c *Collector, req Request) *pending {
	t.Helper()
	p := &pending{ch: make(chan Result, 2)}
	if !c.Submit(req, func(r Result) { p.calls.Add(1); p.ch <- r }) {
		t.Fatalf("Submit(%s): queue full", req.Path)
	}
	t.Cleanup(func() {
		if n := p.calls.Load(); n > 1 {
			t.Errorf("done called %d times for %s", n, req.Path)
		}
	})
	return p
}

func (p *pending) wait(t *testing.T) Result {
	t.Helper()
	select {
	case r := <-p.ch:
		return r
	case <-time.After(guard):
		t.Fatal("done not called")
		return Result{}
	}
}

func get(t *testing.T, c *Collector, req Request) Result {
	t.Helper()
	return submit(t, c, req).wait(t)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func random(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func hashOnly() Config {
	cfg := DefaultConfig()
	cfg.MaxFileBytes = 1 << 20
	return cfg
}

func TestHashRegular(t *testing.T) {
	t.Parallel()
	c := newCollector(t, hashOnly())
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		size int
		want Outcome
	}{
		{"empty", 0, Hashed},
		{"one byte", 1, Hashed},
		{"one buffer", 256 << 10, Hashed},
		{"one buffer and a byte", 256<<10 + 1, Hashed},
		{"exactly max_file_bytes", 1 << 20, Hashed},
		{"one byte over", 1<<20 + 1, TooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := random(t, tt.size)
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			writeFile(t, p, b)
			r := get(t, c, Request{Path: p})
			if r.Outcome != tt.want || r.Size != int64(tt.size) || r.Changed || r.EvidencePath != "" {
				t.Fatalf("%+v, want %s of %d bytes", r, tt.want, tt.size)
			}
			if tt.want == Hashed && (r.SHA256 != sum(b) || r.Err != nil) {
				t.Fatalf("sha256 %s err %v, want %s", r.SHA256, r.Err, sum(b))
			}
			if tt.want == TooLarge && (r.SHA256 != "" || !strings.Contains(r.Err.Error(), "more than evidence.max_file_bytes (1048576)")) {
				t.Fatalf("%+v", r)
			}
		})
	}
	k := c.Counters()
	if k.Read != 5 || k.TooLarge != 1 || k.Released != 1 || k.Waiting != 0 || k.Hung != 0 {
		t.Errorf("counters %+v", k)
	}
}

// startProgram copies the sleep binary to dir/name, starts it, and stops
// it when the test ends: its /proc/<pid>/exe is that copy.
func startProgram(t *testing.T, dir, name string) (*exec.Cmd, []byte) {
	t.Helper()
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatalf("sleep: %v", err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return start(t, p, "600"), b
}

// start starts a program the test just wrote, retrying while a fork in a
// parallel test still holds it open for writing (ETXTBSY, golang/go#22315).
func start(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	for i := 0; ; i++ {
		cmd := exec.Command(name, args...)
		err := cmd.Start()
		if err == nil {
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			return cmd
		}
		if !errors.Is(err, unix.ETXTBSY) || i == 50 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProcExe: the running program is read through /proc/<pid>/exe after
// its path was renamed or removed; a script is read through its path (its
// exe is the interpreter), and a process running some other program is
// not taken for the one the path names.
func TestProcExe(t *testing.T) {
	t.Parallel()
	collector := func(t *testing.T) *Collector {
		cfg := hashOnly()
		cfg.MaxFileBytes = 64 << 20
		cfg.Dir = filepath.Join(t.TempDir(), "evidence") // one each: a sidecar keeps the first sighting
		return newCollector(t, cfg)
	}
	for _, tt := range []struct {
		name   string
		change func(path string) error
	}{
		{"unchanged", func(string) error { return nil }},
		{"renamed", func(p string) error { return os.Rename(p, p+".moved") }},
		{"removed", os.Remove},
		{"replaced by other content", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.WriteFile(p, []byte("not the program"), 0o755)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cmd, b := startProgram(t, dir, "prog")
			p := filepath.Join(dir, "prog")
			if err := tt.change(p); err != nil {
				t.Fatal(err)
			}
			r := get(t, collector(t), Request{PID: int64(cmd.Process.Pid), Path: p})
			if r.Outcome != Hashed || r.SHA256 != sum(b) {
				t.Fatalf("%+v, want the program's hash %s", r, sum(b))
			}
			side := readSidecar(t, r.EvidencePath)
			if want := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe -> "; !strings.HasPrefix(side.ReadFrom, want) {
				t.Errorf("read_from %q, want it to start with %q", side.ReadFrom, want)
			}
		})
	}
	t.Run("script", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		script := []byte("#!/bin/sh\nsleep 600\ntrue\n")
		p := filepath.Join(dir, "s.sh")
		if err := os.WriteFile(p, script, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := start(t, p)
		r := get(t, collector(t), Request{PID: int64(cmd.Process.Pid), Path: p})
		if r.Outcome != Hashed || r.SHA256 != sum(script) {
			t.Fatalf("%+v, want the script's hash %s, not its interpreter's", r, sum(script))
		}
	})
	t.Run("another program", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		cmd, _ := startProgram(t, dir, "prog")
		// Gone, and on another filesystem than the program (as a client
		// drive's FUSE mount is): not the program the process runs.
		p := "/dev/evidence-test-gone/other.exe"
		r := get(t, collector(t), Request{PID: int64(cmd.Process.Pid), Path: p})
		if r.Outcome != Failed || !errors.Is(r.Err, os.ErrNotExist) {
			t.Fatalf("%+v, want Failed: the process runs another program and the path is gone", r)
		}
	})
}

// TestNotRegular: FIFOs, devices, sockets, directories and symbolic links,
// last on the path or on the way, are never read.
func TestNotRegular(t *testing.T) {
	t.Parallel()
	c := newCollector(t, hashOnly())
	dir := t.TempDir()
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret"), []byte("outside the mount"))
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link"))
	os.Symlink(outside, filepath.Join(dir, "dirlink"))
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	for _, tt := range []struct {
		path string
		want Outcome
		err  string
	}{
		{fifo, NotRegular, "is a FIFO, not a regular file: not read"},
		{"/dev/zero", NotRegular, "is a character device"},
		{"/dev/null", NotRegular, "is a character device"},
		{sock, NotRegular, "is a socket"},
		{filepath.Join(dir, "sub"), NotRegular, "is a directory"},
		{filepath.Join(dir, "link"), NotRegular, "is a symbolic link (not followed)"},
		{filepath.Join(dir, "dirlink", "secret"), NotRegular, "reached through a symbolic link (not followed)"},
		{filepath.Join(dir, "missing"), Failed, "no such file or directory"},
		{"relative/x", Failed, "not a clean absolute path"},
		{dir + "/sub/../link", Failed, "not a clean absolute path"},
		{"", Failed, "not a clean absolute path"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			r := get(t, c, Request{Path: tt.path})
			if r.Outcome != tt.want || r.SHA256 != "" || r.Err == nil || !strings.Contains(r.Err.Error(), tt.err) {
				t.Fatalf("%+v, want %s saying %q", r, tt.want, tt.err)
			}
		})
	}
}

// TestWalk is the fallback for kernels without openat2.
func TestWalk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f"), []byte("x"))
	os.Symlink(dir, filepath.Join(dir, "up"))
	os.Symlink(filepath.Join(dir, "f"), filepath.Join(dir, "flink"))
	for _, tt := range []struct {
		path, err string
	}{
		{filepath.Join(dir, "f"), ""},
		{filepath.Join(dir, "up", "f"), "a symbolic link or not a directory (not followed)"},
		{filepath.Join(dir, "f", "g"), "a symbolic link or not a directory"},
		{filepath.Join(dir, "missing", "g"), "no such file"},
	} {
		fd, err := walk(tt.path, unix.O_PATH, unix.O_PATH)
		if tt.err == "" {
			if err != nil {
				t.Errorf("walk(%s): %v", tt.path, err)
				continue
			}
			unix.Close(fd)
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("walk(%s): %v, want %q", tt.path, err, tt.err)
		}
	}
	// The last component is opened as itself, and fstat shows the link.
	fd, err := walk(filepath.Join(dir, "flink"), unix.O_PATH, unix.O_PATH)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if st, _ := statFD(fd); st.kind != "a symbolic link (not followed)" {
		t.Errorf("flink: %+v", st)
	}
}

// TestSparseTooLarge: a 100 GB sparse file is reported with its size,
// neither read nor copied.
func TestSparseTooLarge(t *testing.T) {
	t.Parallel()
	cfg := hashOnly()
	cfg.Dir = filepath.Join(t.TempDir(), "evidence")
	c := newCollector(t, cfg)
	p := filepath.Join(t.TempDir(), "sparse.exe")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := get(t, c, Request{Path: p})
	if r.Outcome != TooLarge || r.Size != 100<<30 || r.SHA256 != "" || r.EvidencePath != "" {
		t.Fatalf("%+v", r)
	}
	if ents, _ := os.ReadDir(cfg.Dir); len(ents) != 0 {
		t.Errorf("evidence directory holds %d files, want none", len(ents))
	}
}

// TestChanged: a file changed while it is read is hashed as read, and
// said to have changed; one that grows past the bound is TooLarge.
func TestChanged(t *testing.T) {
	t.Parallel()
	appendBytes := func(n int) func(f *os.File) error {
		return func(f *os.File) error { _, err := f.WriteAt(random(t, n), 1000<<10); return err }
	}
	for _, tt := range []struct {
		name   string
		change func(f *os.File) error
		want   Outcome
	}{
		{"appended", appendBytes(1000), Hashed},
		{"truncated", func(f *os.File) error { return f.Truncate(300 << 10) }, Hashed},
		{"rewritten in place", func(f *os.File) error { _, err := f.WriteAt(random(t, 4096), 900<<10); return err }, Hashed},
		{"grew past the bound", appendBytes(600 << 10), TooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := hashOnly()
			cfg.Dir = filepath.Join(t.TempDir(), "evidence")
			c, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			p := filepath.Join(t.TempDir(), "a.exe")
			writeFile(t, p, random(t, 1000<<10))
			var once sync.Once
			c.onChunk = func(string, int64) {
				once.Do(func() {
					f, err := os.OpenFile(p, os.O_WRONLY, 0)
					if err != nil {
						t.Error(err)
						return
					}
					defer f.Close()
					if err := tt.change(f); err != nil {
						t.Error(err)
					}
				})
			}
			r := get(t, c, Request{Path: p})
			if r.Outcome != tt.want || !r.Changed {
				t.Fatalf("%+v, want %s and Changed", r, tt.want)
			}
			if tt.want != Hashed {
				return
			}
			kept, err := os.ReadFile(r.EvidencePath)
			if err != nil {
				t.Fatal(err)
			}
			if sum(kept) != r.SHA256 || int64(len(kept)) != r.Size || !readSidecar(t, r.EvidencePath).Changed {
				t.Errorf("copy of %d bytes with hash %s, result %+v", len(kept), sum(kept), r)
			}
		})
	}
}

// blocker holds every read after its first chunk until released, so
// tests can keep a worker busy with a real file.
type blocker struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func block(t *testing.T, c *Collector) *blocker {
	b := &blocker{entered: make(chan struct{}, 100), release: make(chan struct{})}
	c.onChunk = func(string, int64) {
		b.entered <- struct{}{}
		<-b.release
	}
	t.Cleanup(b.open)
	return b
}

func (b *blocker) open() { b.once.Do(func() { close(b.release) }) }

func (b *blocker) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-b.entered:
	case <-time.After(guard):
		t.Fatal("the read never started")
	}
}

func TestQueueFull(t *testing.T) {
	t.Parallel()
	cfg := hashOnly()
	cfg.Concurrency, cfg.Queue = 1, 1
	c := newCollector(t, cfg)
	b := block(t, c)
	p := filepath.Join(t.TempDir(), "a.exe")
	writeFile(t, p, []byte("content"))
	first := submit(t, c, Request{Path: p})
	b.waitEntered(t) // the worker holds the first; the queue is empty
	second := submit(t, c, Request{Path: p})
	called := make(chan Result, 1)
	if c.Submit(Request{Path: p}, func(r Result) { called <- r }) {
		t.Fatal("Submit accepted a request with the queue full")
	}
	if k := c.Counters(); k.Released != 1 || k.Waiting != 2 {
		t.Errorf("counters %+v, want 1 released and 2 waiting", k)
	}
	b.open()
	for _, p := range []*pending{first, second} {
		if r := p.wait(t); r.Outcome != Hashed || r.SHA256 != sum([]byte("content")) {
			t.Errorf("%+v", r)
		}
	}
	select {
	case r := <-called:
		t.Errorf("done called for a refused request: %+v", r)
	default:
	}
	if k := c.Counters(); k.Read != 2 || k.Released != 1 || k.Waiting != 0 {
		t.Errorf("counters %+v", k)
	}
}

// TestClose: requests queued or being read when Close is called get
// Failed with ErrClosed before Close returns; later ones too.
func TestClose(t *testing.T) {
	t.Parallel()
	cfg := hashOnly()
	cfg.Concurrency, cfg.Queue = 1, 4
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := block(t, c)
	p := filepath.Join(t.TempDir(), "a.exe")
	writeFile(t, p, []byte("content"))
	reading := submit(t, c, Request{Path: p})
	b.waitEntered(t)
	queued := []*pending{submit(t, c, Request{Path: p}), submit(t, c, Request{Path: p})}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, q := range append(queued, reading) {
		select {
		case r := <-q.ch:
			if r.Outcome != Failed || !errors.Is(r.Err, ErrClosed) {
				t.Errorf("%+v, want Failed with ErrClosed", r)
			}
		default:
			t.Error("a pending request was not settled by Close")
		}
	}
	if k := c.Counters(); k.Hung != 1 || k.Failed != 3 || k.Waiting != 0 {
		t.Errorf("counters %+v, want the abandoned read hung and 3 failed", k)
	}
	if r := get(t, c, Request{Path: p}); r.Outcome != Failed || !errors.Is(r.Err, ErrClosed) {
		t.Errorf("after Close: %+v", r)
	}
	b.open()
	waitFor(t, "the abandoned read to return", func() bool { return c.Counters().Hung == 0 })
	if c.Close() != nil {
		t.Error("second Close failed")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExactlyOnce races deadlines against reads: with a timeout of a
// millisecond, each request ends either way, and done runs once.
func TestExactlyOnce(t *testing.T) {
	t.Parallel()
	cfg := hashOnly()
	cfg.Timeout = time.Millisecond
	cfg.Dir = filepath.Join(t.TempDir(), "evidence")
	c := newCollector(t, cfg)
	p := filepath.Join(t.TempDir(), "a.exe")
	writeFile(t, p, random(t, 300<<10))
	var ps []*pending
	for range 200 {
		if len(ps)%50 == 0 {
			time.Sleep(time.Millisecond)
		}
		ps = append(ps, submit(t, c, Request{Path: p}))
	}
	seen := map[Outcome]int{}
	for _, q := range ps {
		r := q.wait(t)
		seen[r.Outcome]++
		// Reads abandoned at their deadline still run for a moment, and
		// count against the cap on stuck reads.
		if r.Outcome != Hashed && r.Outcome != TimedOut && (r.Outcome != Failed || !strings.Contains(r.Err.Error(), "still stuck in the kernel")) {
			t.Errorf("%+v", r)
		}
	}
	k := c.Counters()
	if int(k.Read) != seen[Hashed] || int(k.TimedOut) != seen[TimedOut] || int(k.Failed) != seen[Failed] || k.Waiting != 0 ||
		int(k.Released) != seen[TimedOut]+seen[Failed] {
		t.Errorf("counters %+v, outcomes %v", k, seen)
	}
	t.Logf("outcomes %v", seen)
	waitFor(t, "abandoned reads to return", func() bool { return c.Counters().Hung == 0 })
	ents, _ := os.ReadDir(cfg.Dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestDisabled(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Hash = false
	c := newCollector(t, cfg)
	if r := get(t, c, Request{Path: "/bin/sh"}); r.Outcome != Disabled || r.SHA256 != "" {
		t.Errorf("%+v", r)
	}
	if k := c.Counters(); k != (Counters{}) {
		t.Errorf("counters %+v", k)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{MaxFileBytes: -1}, {MaxDirBytes: -1}, {Concurrency: -1}, {Timeout: -1}, {Queue: -1}} {
		if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "is negative") {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
	got, err := Config{Hash: true}.withDefaults()
	if err != nil || got != DefaultConfig() {
		t.Errorf("zero bounds: %+v %v, want the defaults", got, err)
	}
	if s := Outcome(0).String(); s != "outcome(0)" {
		t.Error(s)
	}
	for o := Hashed; o <= QueueFull; o++ {
		if strings.HasPrefix(o.String(), "outcome(") {
			t.Errorf("%d has no name", o)
		}
	}
}

// readSidecar reads and checks the JSON beside a copy.
func readSidecar(t *testing.T, copyPath string) sidecar {
	t.Helper()
	b, err := os.ReadFile(copyPath + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var s sidecar
	dec := jsonDecoder(b)
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("sidecar %s: %v", copyPath, err)
	}
	if s.SHA256 != filepath.Base(copyPath) {
		t.Errorf("sidecar sha256 %s for copy %s", s.SHA256, copyPath)
	}
	return s
}

// TestReadError: a read that fails midway (a client that disconnects; here
// /proc/<pid>/mem, a regular file whose first page is not mapped) ends
// Failed, naming the file and the error, and leaves no partial copy.
func TestReadError(t *testing.T) {
	t.Parallel()
	cfg := hashOnly()
	cfg.Dir = filepath.Join(t.TempDir(), "evidence")
	c := newCollector(t, cfg)
	p := "/proc/" + strconv.Itoa(os.Getpid()) + "/mem"
	r := get(t, c, Request{Path: p})
	if r.Outcome != Failed || r.SHA256 != "" || !strings.Contains(r.Err.Error(), "read "+p+": ") {
		t.Fatalf("%+v, want Failed naming the read error", r)
	}
	if ents, _ := os.ReadDir(cfg.Dir); len(ents) != 0 {
		t.Errorf("evidence directory holds %d files after a failed read", len(ents))
	}
}
