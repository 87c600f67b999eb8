// Package osqueryevents reads process starts from osquery's own evented
// process tables through osquery's extension socket
// (ExtensionManager.Query): process_etw_events on Windows
// (--enable_etw_process_events), bpf_process_events or process_events on
// Linux. Fleets that already run osquery get detections without a second
// ETW session or more kernel instrumentation.
//
// Every interval it asks for the rows after the last one it handed on (a
// cursor of osquery's event time and event id), maps them to
// detector.Events and hands them to the sink. See docs/live.md for the
// osquery flags each table needs.
package osqueryevents

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	osqueryapi "github.com/osquery/osquery-go"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/recovered"
	"github.com/tsclientwatch/tsclientwatch/source"
)

// Tables this package reads, and "auto" to pick the one osquery has on.
const (
	Auto         = "auto"
	TableETW     = "process_etw_events" // Windows, osquery 5.8+
	TableBPF     = "bpf_process_events" // Linux, eBPF publisher
	TableProcess = "process_events"     // Linux (audit) and macOS (OpenBSM)
)

// Tables lists the valid Options.Table values.
var Tables = []string{Auto, TableETW, TableBPF, TableProcess}

// Defaults for Options.
const (
	DefaultInterval = 10 * time.Second
	DefaultTimeout  = 10 * time.Second
	// DefaultLookback re-reads this far behind the newest event time
	// seen: osquery stores an event under its own timestamp when it is
	// published, which can come later than newer events (ETW starts wait
	// for their kernel half), and the event id, not the time, tells what
	// was already handed on.
	DefaultLookback = time.Minute
	DefaultPage     = 5000
)

// DefaultSocket is where osqueryd puts its extension socket unless told
// otherwise (--extensions_socket).
func DefaultSocket() string {
	if runtime.GOOS == "windows" {
		return `\\.\pipe\shell.em`
	}
	return "/var/osquery/osquery.em"
}

// Querier is the part of osquery-go's ExtensionManagerClient this package
// uses.
type Querier interface {
	QueryRowsContext(ctx context.Context, sql string) ([]map[string]string, error)
	Close()
}

// Options configure Open.
type Options struct {
	// Socket is osquery's extension manager socket (the extension's
	// --socket).
	Socket string
	// Table is one of Tables; "" means Auto.
	Table string
	// Interval is how often osquery is asked for new rows; 0 means
	// DefaultInterval.
	Interval time.Duration
	// Timeout bounds connecting and each query; 0 means DefaultTimeout.
	Timeout time.Duration
	// Resume is a cursor from Cursor: rows up to it are not handed on
	// again.
	Resume string
	// Lookback and Page tune the query; 0 means the defaults.
	Lookback time.Duration
	Page     int
	// GOOS picks the table Auto falls back to; "" means runtime.GOOS.
	GOOS string
	// dial connects to osquery (tests may replace it).
	dial func(socket string, timeout time.Duration) (Querier, error)
}

var errRunTwice = errors.New("osquery source: Run called twice")

// Watcher polls one osquery table.
type Watcher struct {
	opts   Options
	table  string
	client Querier

	started atomic.Bool
	stop    chan struct{}
	once    sync.Once

	mu      sync.Mutex // guards the fields below
	closed  bool
	running bool // Run owns the client and closes it
	cur     cursor
	warning string

	events  atomic.Uint64
	bad     atomic.Uint64
	resets  atomic.Uint64
	polls   atomic.Uint64
	badSeen map[string]bool // bad rows already reported (used by Run only)
}

// cursor is the position after the last row handed on: the newest event
// time seen and the highest event id of osquery's current run of ids.
type cursor struct {
	table string
	time  int64
	eid   uint64
	valid bool
}

func (c cursor) String() string {
	if !c.valid {
		return ""
	}
	return fmt.Sprintf("osquery:%s:%d:%d", c.table, c.time, c.eid)
}

func parseCursor(s string) (cursor, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 4 || parts[0] != "osquery" {
		return cursor{}, fmt.Errorf("not an osquery cursor: %q", s)
	}
	t, err1 := strconv.ParseInt(parts[2], 10, 64)
	e, err2 := strconv.ParseUint(parts[3], 10, 64)
	if err1 != nil || err2 != nil || t < 0 {
		return cursor{}, fmt.Errorf("not an osquery cursor: %q", s)
	}
	return cursor{table: parts[1], time: t, eid: e, valid: true}, nil
}

// dialOsquery connects to osquery. Where sockets are files it first
// checks the file exists: osquery-go would otherwise wait the whole
// timeout for a socket that is not there.
func dialOsquery(socket string, timeout time.Duration) (Querier, error) {
	if runtime.GOOS != "windows" {
		if _, err := os.Stat(socket); err != nil {
			return nil, err
		}
	}
	c, err := osqueryapi.NewClient(socket, timeout, osqueryapi.MaxWaitTime(timeout), osqueryapi.DefaultWaitTime(timeout))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Open connects to osquery, picks the table (Auto: the first process
// table whose subscriber osquery reports active, else the platform's) and
// reads the resume cursor. It fails when osquery cannot be reached.
func Open(ctx context.Context, opts Options) (*Watcher, error) {
	if opts.Socket == "" {
		return nil, errors.New("osquery source: no osquery extension socket")
	}
	if opts.Table == "" {
		opts.Table = Auto
	}
	if !validTable(opts.Table) {
		return nil, fmt.Errorf("osquery source: unknown table %q (want %s)", opts.Table, strings.Join(Tables, ", "))
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Lookback <= 0 {
		opts.Lookback = DefaultLookback
	}
	if opts.Page <= 0 {
		opts.Page = DefaultPage
	}
	if opts.GOOS == "" {
		opts.GOOS = runtime.GOOS
	}
	if opts.dial == nil {
		opts.dial = dialOsquery
	}
	client, err := opts.dial(opts.Socket, opts.Timeout)
	if err != nil {
		return nil, fmt.Errorf("osquery source: connect to osquery at %s: %w", opts.Socket, err)
	}
	w := &Watcher{opts: opts, client: client, stop: make(chan struct{}), badSeen: map[string]bool{}}
	var warn []string
	w.table, warn, err = w.pickTable(ctx)
	if err != nil {
		client.Close()
		return nil, err
	}
	w.cur.table = w.table
	if opts.Resume != "" {
		c, err := parseCursor(opts.Resume)
		switch {
		case err != nil:
			warn = append(warn, fmt.Sprintf("resume cursor unreadable (%v); reading everything osquery still holds", err))
		case c.table != w.table:
			warn = append(warn, fmt.Sprintf("resume cursor is for %s, not %s; reading everything osquery still holds", c.table, w.table))
		default:
			w.cur = c
		}
	}
	w.warning = strings.Join(warn, "; ")
	return w, nil
}

// hostOS is ECS host.os.type for a GOOS: osquery runs on the same host.
func hostOS(goos string) string {
	switch goos {
	case "windows":
		return detector.OSWindows
	case "darwin":
		return detector.OSMacOS
	}
	return detector.OSLinux
}

func validTable(t string) bool {
	for _, x := range Tables {
		if t == x {
			return true
		}
	}
	return false
}

// subscriberNames are the names osquery_events gives each table's
// subscriber (the ETW one was renamed in osquery 5.9).
var subscriberNames = map[string][]string{
	TableETW:     {"etw_process_events", "process_etw_events"},
	TableBPF:     {"bpf_process_events"},
	TableProcess: {"process_events"},
}

// Flags says how to turn each table on, for warnings and docs.
var Flags = map[string]string{
	TableETW:     "--disable_events=false --enable_etw_process_events=true",
	TableBPF:     "--disable_events=false --enable_bpf_events=true",
	TableProcess: "--disable_events=false --disable_audit=false --audit_allow_config=true --audit_allow_process_events=true",
}

// pickTable chooses the table and says what is wrong with osquery's
// settings. It asks osquery_events which subscribers are active.
func (w *Watcher) pickTable(ctx context.Context) (string, []string, error) {
	qctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	rows, err := w.client.QueryRowsContext(qctx, "SELECT name, active FROM osquery_events WHERE type = 'subscriber'")
	if err != nil {
		return "", nil, fmt.Errorf("osquery source: query osquery_events at %s: %w", w.opts.Socket, err)
	}
	active := map[string]bool{}
	for _, r := range rows {
		if r["active"] == "1" {
			active[r["name"]] = true
		}
	}
	isActive := func(table string) bool {
		for _, n := range subscriberNames[table] {
			if active[n] {
				return true
			}
		}
		return false
	}
	table := w.opts.Table
	if table == Auto {
		candidates := []string{TableProcess}
		switch w.opts.GOOS {
		case "windows":
			candidates = []string{TableETW}
		case "linux":
			candidates = []string{TableBPF, TableProcess}
		}
		table = candidates[0]
		for _, c := range candidates {
			if isActive(c) {
				table = c
				break
			}
		}
	}
	var warn []string
	if !isActive(table) {
		warn = append(warn, fmt.Sprintf("osquery's %s subscriber is not active, so the table stays empty: start osqueryd with %s", table, Flags[table]))
	}
	return table, warn, nil
}

// Table is the table in use.
func (w *Watcher) Table() string { return w.table }

// Run polls until ctx ends or Close is called (nil), or osquery cannot be
// queried (an error naming the socket; the collector starts the source
// again, from Cursor). Run after Close returns nil at once.
func (w *Watcher) Run(ctx context.Context, sink source.Sink) (err error) {
	if !w.started.CompareAndSwap(false, true) {
		return errRunTwice
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.running = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.client.Close()
		w.mu.Unlock()
	}()
	defer func() {
		if r := recover(); r != nil {
			err = recovered.Error("the osquery source", r)
		}
	}()
	// Close ends a query in progress too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-w.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	tick := time.NewTimer(0)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.stop:
			return nil
		case <-tick.C:
		}
		full, err := w.poll(ctx, sink)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		next := w.opts.Interval
		if full {
			next = 0 // more rows are waiting
		}
		tick.Reset(next)
	}
}

// columns each table is asked for.
var columns = map[string]string{
	TableETW:     "eid, time, time_windows, type, pid, ppid, path, cmdline, username",
	TableBPF:     "eid, time, pid, parent, uid, path, cwd, cmdline, exit_code",
	TableProcess: "eid, time, pid, parent, uid, path, cwd, cmdline",
}

// query is the SQL of one poll: rows of the lookback window that are
// after the cursor, oldest id first. The time constraint is what osquery
// pushes down to its event store; it also keeps osquery's
// --events_optimize from applying (which would hide rows an earlier
// scheduled query already returned).
func (w *Watcher) query(c cursor) string {
	since := int64(0)
	if c.valid {
		since = max(c.time-int64(w.opts.Lookback/time.Second), 0)
	}
	where := fmt.Sprintf("time >= %d", since)
	if c.valid {
		where += fmt.Sprintf(" AND (CAST(eid AS INTEGER) > %d OR time > %d)", c.eid, c.time)
	}
	if w.table == TableETW {
		where += " AND type = 'ProcessStart'"
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY CAST(eid AS INTEGER) LIMIT %d", columns[w.table], w.table, where, w.opts.Page)
}

// poll runs one query and hands on the new rows. It reports whether the
// page was full (more may be waiting).
func (w *Watcher) poll(ctx context.Context, sink source.Sink) (bool, error) {
	w.mu.Lock()
	c := w.cur
	w.mu.Unlock()
	sql := w.query(c)
	rows, err := w.queryRows(ctx, sql)
	if err != nil {
		return false, fmt.Errorf("osquery source: query %s at %s: %w", w.table, w.opts.Socket, err)
	}
	w.polls.Add(1)
	type parsed struct {
		eid uint64
		t   int64
		row map[string]string
	}
	good := make([]parsed, 0, len(rows))
	for _, r := range rows {
		eid, err1 := strconv.ParseUint(strings.TrimSpace(r["eid"]), 10, 64)
		t, err2 := strconv.ParseInt(strings.TrimSpace(r["time"]), 10, 64)
		if err1 != nil || err2 != nil || t < 0 {
			w.reportBad(sink, r, fmt.Errorf("row without a usable eid %q and time %q", r["eid"], r["time"]))
			continue
		}
		good = append(good, parsed{eid, t, r})
	}
	sort.SliceStable(good, func(i, j int) bool { return good[i].eid < good[j].eid })
	for _, p := range good {
		if c.valid && p.eid <= c.eid && p.t <= c.time {
			continue // already handed on
		}
		if c.valid && p.eid <= c.eid {
			// A newer event with an older id: osquery restarted with an
			// empty event store and counts from 1 again.
			w.resets.Add(1)
		}
		c = cursor{table: w.table, time: max(c.time, p.t), eid: p.eid, valid: true}
		w.mu.Lock()
		w.cur = c // moves before the sink sees the row
		w.mu.Unlock()
		var ev detector.Event
		if err := mapRow(w.table, p.row, &ev); err != nil {
			w.reportBad(sink, p.row, err)
			continue
		}
		if ev.Type == detector.TypeOther {
			continue
		}
		if ev.HostOS == "" {
			ev.HostOS = hostOS(w.opts.GOOS)
		}
		w.events.Add(1)
		if err := sink.Emit(&ev); err != nil {
			return false, err
		}
	}
	return len(rows) >= w.opts.Page, nil
}

func (w *Watcher) queryRows(ctx context.Context, sql string) ([]map[string]string, error) {
	qctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	w.mu.Lock()
	client := w.client
	w.mu.Unlock()
	rows, err := client.QueryRowsContext(qctx, sql)
	if err == nil || ctx.Err() != nil {
		return rows, err
	}
	// osquery may have restarted: one new connection, one more try.
	fresh, derr := w.opts.dial(w.opts.Socket, w.opts.Timeout)
	if derr != nil {
		return nil, err
	}
	w.mu.Lock()
	old := w.client
	w.client = fresh
	w.mu.Unlock()
	old.Close() // only Run's goroutine uses the client
	qctx2, cancel2 := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel2()
	return fresh.QueryRowsContext(qctx2, sql)
}

// reportBad reports a row once (a bad row stays in osquery's store and is
// returned by every poll until it expires).
func (w *Watcher) reportBad(sink source.Sink, row map[string]string, err error) {
	key := rowKey(row)
	if w.badSeen[key] {
		return
	}
	if len(w.badSeen) >= 1024 {
		clear(w.badSeen)
	}
	w.badSeen[key] = true
	n := w.bad.Add(1)
	sink.Report(&source.RecordError{File: "osquery " + w.table, Record: int64(n), Offset: -1, Err: fmt.Errorf("eid %q: %w", row["eid"], err)})
}

func rowKey(row map[string]string) string {
	keys := make([]string, 0, len(row))
	for k := range row {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(row[k])
		b.WriteByte(0)
	}
	return b.String()
}

// Cursor is the position after the last row handed on (updated before
// each sink call), to pass as Options.Resume; "" before any row.
func (w *Watcher) Cursor() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur.String()
}

// Stats for the status table.
type Stats struct {
	Table   string
	Events  uint64 // process starts handed on
	Bad     uint64 // rows that could not be mapped
	Resets  uint64 // times osquery's event ids started over
	Polls   uint64
	Warning string
}

// Stats reads the counters.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	warn := w.warning
	w.mu.Unlock()
	if n := w.resets.Load(); n > 0 {
		msg := fmt.Sprintf("osquery's event ids started over %d time(s) (osquery restarted with an empty event store); events it dropped meanwhile cannot be read", n)
		warn = strings.TrimPrefix(warn+"; "+msg, "; ")
	}
	return Stats{Table: w.table, Events: w.events.Load(), Bad: w.bad.Load(), Resets: w.resets.Load(), Polls: w.polls.Load(), Warning: warn}
}

// Close stops Run (which then closes the connection) or, before Run,
// closes the connection itself.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.closed = true
		close(w.stop)
		if !w.running {
			w.client.Close()
		}
	})
	return nil
}
