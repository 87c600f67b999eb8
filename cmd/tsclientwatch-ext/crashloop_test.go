//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/mock"
	"github.com/osquery/osquery-go/transport"

	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

// The crash-loop tests run the real tsclientwatch.ext under a stand-in for
// osqueryd and kill it with SIGKILL at random points, many times, while
// detections keep coming. The stand-in keeps osquery's differential
// results log the way a scheduled query with "removed": false does: each
// run's rows are compared whole (every column) with the previous
// successful run's, and the rows that are new are logged. The claim under
// test: every detection appears in that log exactly once.
//
// CRASHLOOP_KILLS sets the number of kills (default 30). CRASHLOOP_MEMORY=1
// runs the same loop without a state directory, which shows what the tests
// catch: detections lost with each killed copy, and repeated.

func crashKills() int {
	if n, err := strconv.Atoi(os.Getenv("CRASHLOOP_KILLS")); err == nil && n > 0 {
		return n
	}
	return 30
}

// buildExtension builds the extension binary once per test binary.
var buildExtension = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tswcrash")
	if err != nil {
		return "", err
	}
	buildDir = dir
	bin := filepath.Join(dir, "tsclientwatch.ext")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// fakeOsqueryd is osqueryd's extension manager over a real Thrift socket,
// taking a new registration from each new copy of the extension.
type fakeOsqueryd struct {
	sock string
	srv  *thrift.TSimpleServer
	done chan struct{}

	mu   sync.Mutex
	uuid osquery.ExtensionRouteUUID
	info *osquery.InternalExtensionInfo
}

func newFakeOsqueryd(t *testing.T, sock string) *fakeOsqueryd {
	o := &fakeOsqueryd{sock: sock, done: make(chan struct{})}
	m := &mock.ExtensionManager{
		PingFunc: func(context.Context) (*osquery.ExtensionStatus, error) {
			return &osquery.ExtensionStatus{Code: 0, Message: "OK"}, nil
		},
		RegisterExtensionFunc: func(_ context.Context, info *osquery.InternalExtensionInfo, _ osquery.ExtensionRegistry) (*osquery.ExtensionStatus, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			// The previous copy was killed: osqueryd would have noticed
			// its socket die and removed it.
			o.uuid++
			o.info = info
			return &osquery.ExtensionStatus{Code: 0, Message: "OK", UUID: o.uuid}, nil
		},
		DeregisterExtensionFunc: func(context.Context, osquery.ExtensionRouteUUID) (*osquery.ExtensionStatus, error) {
			return &osquery.ExtensionStatus{Code: 0, Message: "OK"}, nil
		},
		ExtensionsFunc: func(context.Context) (osquery.InternalExtensionList, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			list := osquery.InternalExtensionList{0: {Name: "core", Version: "5.13.1"}}
			if o.info != nil {
				list[o.uuid] = o.info
			}
			return list, nil
		},
		OptionsFunc: func(context.Context) (osquery.InternalOptionList, error) {
			return osquery.InternalOptionList{}, nil
		},
	}
	addr, err := net.ResolveUnixAddr("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	o.srv = thrift.NewTSimpleServer2(osquery.NewExtensionManagerProcessor(m), thrift.NewTServerSocketFromAddrTimeout(addr, 0))
	o.srv.SetLogContext(context.Background())
	if err := o.srv.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(o.done)
		o.srv.AcceptLoop()
	}()
	t.Cleanup(func() { o.srv.Stop(); <-o.done })
	return o
}

// call runs a table's generate on the extension registered last, as
// osquery does for a query: a new connection per call.
func (o *fakeOsqueryd) call(table string, ctxJSON string) ([]map[string]string, error) {
	o.mu.Lock()
	uuid := o.uuid
	o.mu.Unlock()
	if uuid == 0 {
		return nil, fmt.Errorf("no extension registered")
	}
	trans, err := transport.Open(fmt.Sprintf("%s.%d", o.sock, uuid), 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer trans.Close()
	c := osquery.NewExtensionClientFactory(thrift.NewTBufferedTransport(trans, 64<<10), thrift.NewTBinaryProtocolFactoryConf(nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Call(ctx, "table", table, osquery.ExtensionPluginRequest{"action": "generate", "context": ctxJSON})
	if err != nil {
		return nil, err
	}
	if resp.Status.Code != 0 {
		return nil, fmt.Errorf("generate: %s", resp.Status.Message)
	}
	return resp.Response, nil
}

// diffLog is osquery's differential results log for one scheduled query:
// the previous successful result, and every row logged as added.
type diffLog struct {
	mu       sync.Mutex
	previous map[string]bool
	added    []map[string]string
	runs     int
}

// packQuery is the pack's constraint: the last hour by event time.
func packQuery() string {
	return fmt.Sprintf(`{"constraints":[{"name":"time","list":[{"op":%d,"expr":"%d"}],"affinity":"BIGINT"}]}`,
		osqueryOpGreaterThan, time.Now().Unix()-3600)
}

const osqueryOpGreaterThan = 4 // osquery's GREATER_THAN constraint operator

// run queries once and logs what is new, as osqueryd does after a
// successful run; a failed run logs nothing and keeps the previous result.
func (d *diffLog) run(o *fakeOsqueryd) error {
	rows, err := o.call(tables.ExecutionsName, packQuery())
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := make(map[string]bool, len(rows))
	for _, r := range rows {
		b, _ := json.Marshal(r) // sorted keys: the whole row, every column
		k := string(b)
		cur[k] = true
		if !d.previous[k] {
			d.added = append(d.added, r)
		}
	}
	d.previous = cur
	d.runs++
	return nil
}

// extensionProc is one copy of the extension.
type extensionProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startExtension(t *testing.T, bin, sock, cfg string, logw io.Writer) *extensionProc {
	t.Helper()
	cmd := exec.Command(bin, "--socket", sock, "--timeout", "3", "--interval", "1", "--config", cfg)
	cmd.Stderr = logw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &extensionProc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p
}

func (p *extensionProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *extensionProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.kill()
	}
}

// crashLoop is what both scenarios share: the stand-in osqueryd, its
// scheduler, and the killer.
type crashLoop struct {
	t     *testing.T
	bin   string
	sock  string
	cfg   string
	o     *fakeOsqueryd
	log   diffLog
	logw  *os.File
	proc  *extensionProc
	kills int
	gaps  [][2]int64 // live blind windows reported after restarts, Unix seconds
}

func newCrashLoop(t *testing.T, config string) *crashLoop {
	t.Helper()
	bin, err := buildExtension()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "tswcl") // a short path: unix sockets are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &crashLoop{t: t, bin: bin, sock: filepath.Join(dir, "osquery.em"), cfg: filepath.Join(dir, "config.yaml")}
	stateDir := filepath.Join(dir, "state")
	if os.Getenv("CRASHLOOP_MEMORY") != "" {
		stateDir = `""`
	}
	if err := os.WriteFile(c.cfg, []byte(config+"state:\n  dir: "+stateDir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c.logw, err = os.Create(filepath.Join(t.TempDir(), "extension.log")); err != nil {
		t.Fatal(err)
	}
	c.o = newFakeOsqueryd(t, c.sock)
	return c
}

// up starts a copy of the extension and waits until it answers a query.
func (c *crashLoop) up() {
	c.t.Helper()
	c.proc = startExtension(c.t, c.bin, c.sock, c.cfg, c.logw)
	deadline := time.Now().Add(60 * time.Second)
	for {
		// Up means answering, with every source running (a live watcher
		// attached): before that, a program run is in no reported window
		// on the first start.
		if rows, err := c.o.call(tables.StatusName, "{}"); err == nil && allRunning(rows) {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the extension did not come up; its log: %s", c.logw.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allRunning(rows []map[string]string) bool {
	for _, r := range rows {
		if r["type"] != "store" && r["state"] != "running" {
			return false
		}
	}
	return len(rows) > 0
}

// recordGaps notes the blind windows the live sources report.
func (c *crashLoop) recordGaps() {
	rows, err := c.o.call(tables.StatusName, "{}")
	if err != nil {
		return
	}
	for _, r := range rows {
		s, _ := strconv.ParseInt(r["gap_start"], 10, 64)
		e, _ := strconv.ParseInt(r["gap_end"], 10, 64)
		if s != 0 && !slices.Contains(c.gaps, [2]int64{s, e}) {
			c.gaps = append(c.gaps, [2]int64{s, e})
		}
	}
}

// loop kills and restarts the extension kills times at random moments,
// while the scheduler queries every 150-600 ms.
func (c *crashLoop) loop(kills int, rng *rand.Rand) {
	stopQ := make(chan struct{})
	var wg sync.WaitGroup
	qrng := rand.New(rand.NewPCG(rng.Uint64(), 3)) // a Rand is not safe for concurrent use
	wg.Go(func() {
		for {
			select {
			case <-stopQ:
				return
			case <-time.After(time.Duration(150+qrng.IntN(450)) * time.Millisecond):
			}
			c.log.run(c.o) // fails while the extension is down: nothing logged
		}
	})
	if c.proc == nil {
		c.up()
	}
	for c.kills < kills {
		time.Sleep(time.Duration(100+rng.IntN(2400)) * time.Millisecond)
		c.proc.kill()
		c.kills++
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond) // osqueryd's watcher takes a moment
		c.up()
		c.recordGaps()
	}
	close(stopQ)
	wg.Wait()
}

// finish lets the last copy run until want(rows) holds, queries once more
// and stops it.
func (c *crashLoop) finish(settled func() bool) {
	c.t.Helper()
	// Until everything expected was logged, or nothing new was for 3 s
	// (live programs that ran while nothing watched never will be).
	deadline := time.Now().Add(2 * time.Minute)
	last, quiet := -1, time.Now()
	for !settled() && time.Now().Before(deadline) && time.Since(quiet) < 3*time.Second {
		c.log.run(c.o)
		c.log.mu.Lock()
		if n := len(c.log.added); n != last {
			last, quiet = n, time.Now()
		}
		c.log.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
	c.recordGaps()
	c.proc.stop()
}

// count returns how often each key appears in the log.
func (c *crashLoop) count(key func(map[string]string) string) map[string]int {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	n := map[string]int{}
	for _, r := range c.log.added {
		n[key(r)]++
	}
	return n
}

// TestCrashLoopFollowedFile: a followed NDJSON file grows while the
// extension is killed again and again; every detection written to it is
// logged exactly once.
func TestCrashLoopFollowedFile(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop: skipped with -short")
	}
	dir := t.TempDir()
	logFile := filepath.Join(dir, "process.ndjson")
	c := newCrashLoop(t, fmt.Sprintf("sources:\n  - type: file\n    path: %s\n    follow: true\n", logFile))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))

	// The writer: one detection at a time, 10-60 ms apart, each a pid of
	// its own; now and then a line that is not a detection.
	var written []int
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wrng := rand.New(rand.NewPCG(rng.Uint64(), 4))
	wg.Go(func() {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for pid := 10000; ; pid++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(10+wrng.IntN(50)) * time.Millisecond):
			}
			exe := fmt.Sprintf(`\\tsclient\c\tools\t%d.exe`, pid%7)
			if pid%5 == 0 {
				exe = `C:\Windows\System32\cmd.exe`
			}
			line := fmt.Sprintf(`{"@timestamp":%q,"event":{"category":["process"],"type":["start"]},"host":{"name":"ws1","os":{"type":"windows"}},"user":{"name":"alice"},"process":{"pid":%d,"executable":%q,"command_line":"x %d"}}`+"\n",
				time.Now().UTC().Format(time.RFC3339Nano), pid, exe, pid)
			if _, err := f.WriteString(line); err != nil {
				t.Error(err)
				return
			}
			if pid%5 != 0 {
				written = append(written, pid)
			}
		}
	})
	c.loop(crashKills(), rng)
	close(stop)
	wg.Wait()
	c.finish(func() bool { return len(c.count(func(r map[string]string) string { return r["pid"] })) >= len(written) })

	seen := c.count(func(r map[string]string) string { return r["pid"] })
	var missing, dup []int
	for _, pid := range written {
		switch n := seen[strconv.Itoa(pid)]; {
		case n == 0:
			missing = append(missing, pid)
		case n > 1:
			dup = append(dup, pid)
		}
	}
	t.Logf("followed file: %d kills, %d detections written, %d logged, %d missing, %d duplicated (%d query runs; extension log %s)",
		c.kills, len(written), len(seen), len(missing), len(dup), c.log.runs, c.logw.Name())
	if len(missing) > 0 || len(dup) > 0 || len(seen) != len(written) {
		t.Errorf("missing pids %v, duplicated pids %v, %d distinct logged for %d written", missing, dup, len(seen), len(written))
	}
}

// TestCrashLoopLive: as root, programs run from a bindfs thinclient_drives
// mount while the extension (eBPF) is killed again and again. Live sources
// have no history: a program that ran while no copy was watching is lost,
// and the extension says so with the blind window in tsclientwatch_status.
// So every program must be logged exactly once, or have run inside a
// reported window; none may be logged twice.
func TestCrashLoopLive(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop: skipped with -short")
	}
	if os.Geteuid() != 0 {
		testdir.SkipOutsideCI(t, "the live crash loop needs root for eBPF and bindfs")
	}
	if _, err := exec.LookPath("bindfs"); err != nil {
		testdir.SkipOutsideCI(t, "the live crash loop needs bindfs (apt-get install bindfs)")
	}
	root, err := os.MkdirTemp("", "tswcll")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	src := filepath.Join(root, "src")
	mnt := filepath.Join(root, "home", "u", "thinclient_drives")
	for _, d := range []string{filepath.Join(src, "C:", "tools"), mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tool, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "C:", "tools", "tool"), tool, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bindfs", src, mnt).CombinedOutput(); err != nil {
		t.Fatalf("bindfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	prog := filepath.Join(mnt, "C:", "tools", "tool")

	c := newCrashLoop(t, "sources:\n  - type: live\n")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	c.up() // programs run from when the first copy watches
	type execution struct {
		pid        int
		start, end time.Time
	}
	var (
		mu    sync.Mutex
		execs []execution
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wrng := rand.New(rand.NewPCG(rng.Uint64(), 5))
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(30+wrng.IntN(120)) * time.Millisecond):
			}
			cmd := exec.Command(prog)
			start := time.Now()
			if err := cmd.Run(); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			execs = append(execs, execution{pid: cmd.Process.Pid, start: start, end: time.Now()})
			mu.Unlock()
		}
	})
	c.loop(max(crashKills()*2/3, 1), rng)
	close(stop)
	wg.Wait()
	isProg := func(r map[string]string) bool { return r["path"] == prog }
	c.finish(func() bool {
		n := 0
		for k := range c.count(func(r map[string]string) string {
			if isProg(r) {
				return r["pid"]
			}
			return ""
		}) {
			if k != "" {
				n++
			}
		}
		return n >= len(execs)
	})

	seen := c.count(func(r map[string]string) string {
		if isProg(r) {
			return r["pid"]
		}
		return ""
	})
	inGap := func(e execution) bool {
		for _, g := range c.gaps {
			if e.end.Unix() >= g[0] && e.start.Unix() <= g[1]+1 {
				return true
			}
		}
		return false
	}
	var missingInGap, missing, dup []int
	for _, e := range execs {
		switch n := seen[strconv.Itoa(e.pid)]; {
		case n == 0 && inGap(e):
			missingInGap = append(missingInGap, e.pid)
		case n == 0:
			missing = append(missing, e.pid)
		case n > 1:
			dup = append(dup, e.pid)
		}
	}
	t.Logf("live: %d kills, %d programs run, %d logged, %d missing inside reported blind windows, %d missing outside them, %d duplicated; %d windows reported (%d query runs; extension log %s)",
		c.kills, len(execs), len(execs)-len(missing)-len(missingInGap), len(missingInGap), len(missing), len(dup), len(c.gaps), c.log.runs, c.logw.Name())
	if len(missing) > 0 || len(dup) > 0 {
		t.Errorf("missing outside any reported window: %v; duplicated: %v; windows %v", missing, dup, c.gaps)
	}
	if len(c.gaps) == 0 {
		t.Errorf("no blind window reported after %d kills", c.kills)
	}
}
