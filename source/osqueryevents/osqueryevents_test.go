//go:build !windows

package osqueryevents

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/mock"
	"go.uber.org/goleak"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const patience = 20 * time.Second

// osqueryd serves osquery's extension manager on a unix socket with
// osquery-go's generated processor and mock, answering the queries this
// package sends from recorded rows: it applies the time, eid and type
// constraints, the order and the limit the way SQLite would.
type osqueryd struct {
	t    *testing.T
	sock string

	mu          sync.Mutex
	rows        map[string][]map[string]string
	subscribers map[string]string // name -> active
	queries     []string
	fail        error // every query fails with this

	srv   *thrift.TSimpleServer
	conns *tracking
	done  chan struct{}
}

type tracking struct {
	thrift.TServerTransport
	mu    sync.Mutex
	conns []thrift.TTransport
}

func (t *tracking) Accept() (thrift.TTransport, error) {
	c, err := t.TServerTransport.Accept()
	if c != nil {
		t.mu.Lock()
		t.conns = append(t.conns, c)
		t.mu.Unlock()
	}
	return c, err
}

func socketPath(t *testing.T) string {
	// t.TempDir() names can exceed the ~100-byte unix socket limit.
	dir, err := os.MkdirTemp("", "tswq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "osquery.em")
}

func recorded(t *testing.T, table string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", table+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func newOsqueryd(t *testing.T, sock string) *osqueryd {
	o := &osqueryd{t: t, sock: sock, rows: map[string][]map[string]string{}, subscribers: map[string]string{
		"etw_process_events": "1", "bpf_process_events": "1", "process_events": "0", "file_events": "1",
	}}
	o.start()
	t.Cleanup(o.kill)
	return o
}

var (
	reTable = regexp.MustCompile(`FROM (\w+) WHERE`)
	reSince = regexp.MustCompile(`time >= (\d+)`)
	reAfter = regexp.MustCompile(`\(CAST\(eid AS INTEGER\) > (\d+) OR time > (\d+)\)`)
	reLimit = regexp.MustCompile(`LIMIT (\d+)$`)
)

func (o *osqueryd) query(sql string) ([]map[string]string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queries = append(o.queries, sql)
	if o.fail != nil {
		return nil, o.fail
	}
	if strings.Contains(sql, "FROM osquery_events") {
		var out []map[string]string
		for n, a := range o.subscribers {
			out = append(out, map[string]string{"name": n, "active": a})
		}
		return out, nil
	}
	m := reTable.FindStringSubmatch(sql)
	if m == nil {
		return nil, fmt.Errorf("unexpected query %q", sql)
	}
	n := func(re *regexp.Regexp, i int) int64 {
		if m := re.FindStringSubmatch(sql); m != nil {
			v, _ := strconv.ParseInt(m[i], 10, 64)
			return v
		}
		return -1
	}
	since, eid, after, limit := n(reSince, 1), n(reAfter, 1), n(reAfter, 2), n(reLimit, 1)
	var out []map[string]string
	for _, r := range o.rows[m[1]] {
		tm, errT := strconv.ParseInt(r["time"], 10, 64)
		e, _ := strconv.ParseInt(r["eid"], 10, 64) // CAST of garbage is 0
		if errT == nil && tm < since {
			continue
		}
		if eid >= 0 && !(e > eid || errT != nil || tm > after) { // SQLite: text sorts after numbers
			continue
		}
		if strings.Contains(sql, "type = 'ProcessStart'") && r["type"] != "ProcessStart" {
			continue
		}
		out = append(out, maps(r))
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := strconv.ParseInt(out[i]["eid"], 10, 64)
		b, _ := strconv.ParseInt(out[j]["eid"], 10, 64)
		return a < b
	})
	if limit >= 0 && int64(len(out)) > limit {
		out = out[:limit]
	}
	return out, nil
}

func maps(r map[string]string) map[string]string {
	c := make(map[string]string, len(r))
	for k, v := range r {
		c[k] = v
	}
	return c
}

func (o *osqueryd) add(table string, rows ...map[string]string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rows[table] = append(o.rows[table], rows...)
}

func (o *osqueryd) start() {
	m := &mock.ExtensionManager{
		QueryFunc: func(_ context.Context, sql string) (*osquery.ExtensionResponse, error) {
			rows, err := o.query(sql)
			if err != nil {
				return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Code: 1, Message: err.Error()}}, nil
			}
			return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Code: 0, Message: "OK"}, Response: rows}, nil
		},
		CloseFunc: func() {},
	}
	addr, err := net.ResolveUnixAddr("unix", o.sock)
	if err != nil {
		o.t.Fatal(err)
	}
	o.conns = &tracking{TServerTransport: thrift.NewTServerSocketFromAddrTimeout(addr, 0)}
	o.srv = thrift.NewTSimpleServer2(osquery.NewExtensionManagerProcessor(m), o.conns)
	o.srv.SetLogContext(context.Background())
	if err := o.srv.Listen(); err != nil {
		o.t.Fatalf("listen on %s: %v", o.sock, err)
	}
	o.done = make(chan struct{})
	go func() {
		defer close(o.done)
		o.srv.AcceptLoop()
	}()
}

// kill stops osqueryd abruptly, dropping its connections; it may be
// called more than once.
func (o *osqueryd) kill() {
	if o.srv == nil {
		return
	}
	o.conns.mu.Lock()
	for _, c := range o.conns.conns {
		c.Close()
	}
	o.conns.mu.Unlock()
	o.srv.Stop()
	<-o.done
	o.srv = nil
	os.Remove(o.sock)
}

// collector gathers what Run hands on.
type collector struct {
	mu     sync.Mutex
	events []detector.Event
	bad    []string
}

func (c *collector) sink() source.Sink {
	return source.Sink{
		Event: func(e *detector.Event) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.events = append(c.events, *e)
			return nil
		},
		Bad: func(re *source.RecordError) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.bad = append(c.bad, re.Error())
		},
	}
}

func (c *collector) pids() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int64
	for _, e := range c.events {
		out = append(out, e.PID)
	}
	return out
}

func (c *collector) badCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.bad)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type running struct {
	w    *Watcher
	done chan error
}

func start(t *testing.T, opts Options, col *collector) *running {
	t.Helper()
	if opts.Interval == 0 {
		opts.Interval = 5 * time.Millisecond
	}
	w, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{w: w, done: make(chan error, 1)}
	go func() { r.done <- w.Run(context.Background(), col.sink()) }()
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.w.Close()
	select {
	case err := <-r.done:
		return err
	case <-time.After(patience):
		t.Fatal("Run did not return after Close")
		return nil
	}
}

func row(eid int, tm int64, pid int, path string) map[string]string {
	return map[string]string{"eid": fmt.Sprintf("%010d", eid), "time": strconv.FormatInt(tm, 10), "type": "ProcessStart",
		"pid": strconv.Itoa(pid), "ppid": "600", "path": path, "username": `CORP\alice`}
}

// TestCursorAdvances: recorded rows are read once, new rows on later polls,
// stops are skipped, the cursor moves, and the SQL carries the constraints
// osquery needs.
func TestCursorAdvances(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock)
	o.add(TableETW, recorded(t, TableETW)...)
	col := &collector{}
	r := start(t, Options{Socket: sock, GOOS: "windows"}, col)
	if r.w.Table() != TableETW || r.w.Stats().Warning != "" {
		t.Fatalf("table %q warning %q", r.w.Table(), r.w.Stats().Warning)
	}
	waitFor(t, "the recorded starts", func() bool { return len(col.pids()) == 4 })
	if got := r.w.Cursor(); got != "osquery:process_etw_events:1714564804:105" {
		t.Errorf("cursor %q", got)
	}
	o.add(TableETW, row(106, 1714564900, 5000, `\Device\Mup\tsclient\C\b.exe`), row(107, 1714564901, 5001, `C:\x.exe`))
	waitFor(t, "two new starts", func() bool { return len(col.pids()) == 6 })
	polls := r.w.Stats().Polls
	waitFor(t, "more polls", func() bool { return r.w.Stats().Polls > polls+3 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := col.pids(); !slices.Equal(got, []int64{4242, 4300, 4310, 4320, 5000, 5001}) {
		t.Errorf("pids %v (each once, in order)", got)
	}
	ev := col.events[0]
	if ev.Executable != `\Device\Mup\tsclient\C\Tools\mimikatz.exe` || ev.User != `CORP\alice` || ev.ParentPID != 600 ||
		ev.HostOS != detector.OSWindows || ev.Source != "osquery:process_etw_events" || !ev.Time.Equal(time.Date(2024, 5, 1, 12, 0, 0, 123456700, time.UTC)) {
		t.Errorf("first event %+v", ev)
	}
	if col.events[2].Executable != `\\tsclient\D\x.exe` {
		t.Errorf("mapped-drive start %q", col.events[2].Executable)
	}
	o.mu.Lock()
	first, last := o.queries[1], o.queries[len(o.queries)-1]
	o.mu.Unlock()
	if first != "SELECT eid, time, time_windows, type, pid, ppid, path, cmdline, username FROM process_etw_events WHERE time >= 0 AND type = 'ProcessStart' ORDER BY CAST(eid AS INTEGER) LIMIT 5000" {
		t.Errorf("first query %q", first)
	}
	if !strings.Contains(last, "WHERE time >= 1714564841 AND (CAST(eid AS INTEGER) > 107 OR time > 1714564901)") {
		t.Errorf("last query %q", last)
	}
}

// TestRestartFromCursor: a new watcher given the old one's cursor reads
// only what came after it, also after osquery was unreachable meanwhile.
func TestRestartFromCursor(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock)
	o.add(TableBPF, recorded(t, TableBPF)...)
	col := &collector{}
	r := start(t, Options{Socket: sock, GOOS: "linux"}, col)
	if r.w.Table() != TableBPF {
		t.Fatalf("auto picked %q", r.w.Table())
	}
	waitFor(t, "two starts", func() bool { return len(col.pids()) == 2 })

	// osquery goes away: Run says so, naming the socket.
	o.kill()
	select {
	case err := <-r.done:
		if err == nil || !strings.Contains(err.Error(), "osquery source: query bpf_process_events at "+sock) {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(patience):
		t.Fatal("Run did not notice osquery went away")
	}
	r.w.Close()
	cursor := r.w.Cursor()
	if _, err := Open(context.Background(), Options{Socket: sock}); err == nil || !strings.Contains(err.Error(), "connect to osquery at "+sock) {
		t.Fatalf("Open with osquery down: %v", err)
	}

	// osquery is back with the same store plus new rows.
	o2 := newOsqueryd(t, sock)
	o2.add(TableBPF, recorded(t, TableBPF)...)
	o2.add(TableBPF, map[string]string{"eid": "0000000010", "time": "1714565000", "pid": "9100", "parent": "1", "uid": "1000",
		"path": "/home/alice/thinclient_drives/C:/tools/run2", "cwd": "/", "cmdline": "", "exit_code": "0"})
	col2 := &collector{}
	r2 := start(t, Options{Socket: sock, GOOS: "linux", Resume: cursor}, col2)
	waitFor(t, "the new start", func() bool { return len(col2.pids()) == 1 })
	waitFor(t, "a few more polls", func() bool { return r2.w.Stats().Polls > 3 })
	if err := r2.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := append(col.pids(), col2.pids()...); !slices.Equal(got, []int64{9001, 9003, 9100}) {
		t.Errorf("pids over both runs %v", got)
	}
	if col2.events[0].User != "1000" || col2.events[0].HostOS != detector.OSLinux {
		t.Errorf("event %+v", col2.events[0])
	}
}

// TestOsqueryRestartedEmpty: osquery restarted with an empty store counts
// event ids from 1 again; newer rows with small ids are still read.
func TestOsqueryRestartedEmpty(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock)
	o.add(TableETW, row(500, 1000, 1, `\Device\Mup\tsclient\C\a.exe`))
	col := &collector{}
	r := start(t, Options{Socket: sock, GOOS: "windows"}, col)
	waitFor(t, "first start", func() bool { return len(col.pids()) == 1 })
	o.mu.Lock()
	o.rows[TableETW] = nil
	o.mu.Unlock()
	o.add(TableETW, row(2, 2000, 2, `\Device\Mup\tsclient\C\b.exe`), row(3, 2001, 3, `\Device\Mup\tsclient\C\c.exe`))
	waitFor(t, "rows after the reset", func() bool { return len(col.pids()) == 3 })
	o.add(TableETW, row(4, 2002, 4, `\Device\Mup\tsclient\C\d.exe`))
	waitFor(t, "the next row", func() bool { return len(col.pids()) == 4 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := col.pids(); !slices.Equal(got, []int64{1, 2, 3, 4}) {
		t.Errorf("pids %v", got)
	}
	if st := r.w.Stats(); st.Resets != 1 || !strings.Contains(st.Warning, "event ids started over 1 time(s)") {
		t.Errorf("stats %+v", st)
	}
}

// TestLateRowAndPaging: a row stored late under an older time is still
// read (lookback), and full pages are followed by more at once.
func TestLateRowAndPaging(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock)
	for i := 1; i <= 10; i++ {
		o.add(TableETW, row(i, 1000+int64(i), i, `C:\x.exe`))
	}
	col := &collector{}
	r := start(t, Options{Socket: sock, GOOS: "windows", Page: 3, Interval: time.Hour}, col)
	waitFor(t, "ten starts in pages of three", func() bool { return len(col.pids()) == 10 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	o.add(TableETW, row(11, 1005, 11, `\Device\Mup\tsclient\C\late.exe`)) // published late, older time
	r2 := start(t, Options{Socket: sock, GOOS: "windows", Resume: r.w.Cursor()}, col)
	waitFor(t, "the late row", func() bool { return len(col.pids()) == 11 })
	if err := r2.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := col.pids(); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Errorf("pids %v", got)
	}
}

// TestBadRows: rows osquery should never produce are reported once each
// and skipped; good rows around them are read.
func TestBadRows(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock)
	o.add(TableETW,
		row(1, 1000, 1, `\Device\Mup\tsclient\C\a.exe`),
		map[string]string{"eid": "x", "time": "1000", "type": "ProcessStart", "pid": "2", "path": "p"},
		map[string]string{"eid": "0000000003", "time": "1000", "type": "ProcessStart", "pid": "three", "path": `\Device\Mup\tsclient\C\b.exe`},
		row(4, 1001, 4, `\Device\Mup\tsclient\C\c.exe`),
	)
	col := &collector{}
	r := start(t, Options{Socket: sock, GOOS: "windows"}, col)
	waitFor(t, "good rows", func() bool { return len(col.pids()) == 2 })
	waitFor(t, "several polls", func() bool { return r.w.Stats().Polls > 5 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if col.badCount() != 2 || r.w.Stats().Bad != 2 {
		t.Fatalf("bad %q", col.bad)
	}
	if !strings.Contains(col.bad[0], `osquery process_etw_events: record 1: eid "x": row without a usable eid "x" and time "1000"`) ||
		!strings.Contains(col.bad[1], `eid "0000000003": column pid: "three" is not a number`) {
		t.Errorf("bad %q", col.bad)
	}
}

// TestTableNotEnabled: Auto falls back to the platform's table and warns
// with the flags to set; an explicit table gets the same warning.
func TestTableNotEnabled(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock)
	o.mu.Lock()
	o.subscribers = map[string]string{"etw_process_events": "0", "bpf_process_events": "0"}
	o.mu.Unlock()
	for _, tt := range []struct {
		opts  Options
		table string
		flags string
	}{
		{Options{Socket: sock, GOOS: "windows"}, TableETW, "--disable_events=false --enable_etw_process_events=true"},
		{Options{Socket: sock, GOOS: "linux"}, TableBPF, "--enable_bpf_events=true"},
		{Options{Socket: sock, GOOS: "linux", Table: TableProcess}, TableProcess, "--audit_allow_process_events=true"},
	} {
		w, err := Open(context.Background(), tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if w.Table() != tt.table || !strings.Contains(w.Stats().Warning, "subscriber is not active") || !strings.Contains(w.Stats().Warning, tt.flags) {
			t.Errorf("%+v: table %q warning %q", tt.opts, w.Table(), w.Stats().Warning)
		}
		w.Close()
	}
	if _, err := Open(context.Background(), Options{Socket: sock, Table: "processes"}); err == nil || !strings.Contains(err.Error(), `unknown table "processes"`) {
		t.Errorf("unknown table: %v", err)
	}
	w, err := Open(context.Background(), Options{Socket: sock, GOOS: "windows", Resume: "osquery:bpf_process_events:1:2"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.Stats().Warning, "resume cursor is for bpf_process_events, not process_etw_events") || w.Cursor() != "" {
		t.Errorf("warning %q cursor %q", w.Stats().Warning, w.Cursor())
	}
	w.Close()
	if err := w.Run(context.Background(), (&collector{}).sink()); err != nil {
		t.Errorf("Run after Close: %v", err)
	}
}

// TestQueryError: osquery answering a query with an error status ends
// Run with that message.
func TestQueryError(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock)
	col := &collector{}
	r := start(t, Options{Socket: sock, GOOS: "windows"}, col)
	o.mu.Lock()
	o.fail = fmt.Errorf("no such table: process_etw_events")
	o.mu.Unlock()
	select {
	case err := <-r.done:
		if err == nil || !strings.Contains(err.Error(), "no such table: process_etw_events") {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(patience):
		t.Fatal("Run ignored the error")
	}
	r.w.Close()
}
