//go:build !windows

package extension

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/mock"
	"github.com/osquery/osquery-go/transport"
	"go.uber.org/goleak"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/evtx"
	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// patience bounds every wait in these tests. It only turns a hang into a
// failure; nothing is expected to take anywhere near this long.
const patience = 30 * time.Second

// osqueryd plays osquery's extension manager over a real Thrift unix
// socket, using osquery-go's generated processor and mock.
type osqueryd struct {
	t     *testing.T
	sock  string
	srv   *thrift.TSimpleServer
	conns *tracking
	done  chan struct{}

	mu           sync.Mutex
	notReady     int // answer this many pings with a non-zero status first
	pingsBefore  int // pings answered before the first registration
	registry     osquery.ExtensionRegistry
	info         *osquery.InternalExtensionInfo
	uuid         osquery.ExtensionRouteUUID
	forget       bool // Extensions() no longer lists the extension
	deregistered []osquery.ExtensionRouteUUID
	registeredCh chan struct{}
}

// tracking remembers accepted connections so that kill can drop them the
// way a dying osqueryd does (TSimpleServer.Stop alone waits for clients).
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

func (t *tracking) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.conns {
		c.Close()
	}
}

func socketPath(t *testing.T) string {
	// t.TempDir() names can exceed the ~100-byte unix socket limit.
	dir, err := os.MkdirTemp("", "tsw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "osquery.em")
}

func newOsqueryd(t *testing.T, sock string, notReady int) *osqueryd {
	o := &osqueryd{t: t, sock: sock, notReady: notReady, done: make(chan struct{}), registeredCh: make(chan struct{})}
	m := &mock.ExtensionManager{
		PingFunc: func(context.Context) (*osquery.ExtensionStatus, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.info == nil {
				o.pingsBefore++
			}
			if o.notReady > 0 {
				o.notReady--
				return &osquery.ExtensionStatus{Code: 1, Message: "extension manager starting"}, nil
			}
			return &osquery.ExtensionStatus{Code: 0, Message: "OK"}, nil
		},
		RegisterExtensionFunc: func(_ context.Context, info *osquery.InternalExtensionInfo, reg osquery.ExtensionRegistry) (*osquery.ExtensionStatus, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.info != nil {
				return &osquery.ExtensionStatus{Code: 1, Message: "Duplicate extension registered"}, nil
			}
			o.info, o.registry, o.uuid = info, reg, 17
			close(o.registeredCh)
			return &osquery.ExtensionStatus{Code: 0, Message: "OK", UUID: o.uuid}, nil
		},
		DeregisterExtensionFunc: func(_ context.Context, id osquery.ExtensionRouteUUID) (*osquery.ExtensionStatus, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.deregistered = append(o.deregistered, id)
			return &osquery.ExtensionStatus{Code: 0, Message: "OK"}, nil
		},
		ExtensionsFunc: func(context.Context) (osquery.InternalExtensionList, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			list := osquery.InternalExtensionList{
				0: {Name: "core", Version: "5.13.1"},
				3: {Name: "other_extension"},
			}
			if o.info != nil && !o.forget {
				list[o.uuid] = o.info
			}
			return list, nil
		},
	}
	addr, err := net.ResolveUnixAddr("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ss := thrift.NewTServerSocketFromAddrTimeout(addr, 0)
	o.conns = &tracking{TServerTransport: ss}
	o.srv = thrift.NewTSimpleServer2(osquery.NewExtensionManagerProcessor(m), o.conns)
	o.srv.SetLogContext(context.Background()) // Serve would; Listen+AcceptLoop do not
	if err := o.srv.Listen(); err != nil {
		t.Fatalf("listen on %s: %v", sock, err)
	}
	go func() {
		defer close(o.done)
		o.srv.AcceptLoop()
	}()
	t.Cleanup(o.kill)
	return o
}

// kill stops osqueryd abruptly: its connections close under the extension.
func (o *osqueryd) kill() {
	o.conns.closeAll()
	o.srv.Stop()
	<-o.done
}

func (o *osqueryd) waitRegistered() {
	o.t.Helper()
	select {
	case <-o.registeredCh:
	case <-time.After(patience):
		o.t.Fatal("extension never registered")
	}
}

// extCall dials the extension's own socket as osquery does (a new
// connection per call) and calls a table plugin.
func extCall(sock string, uuid osquery.ExtensionRouteUUID, tbl string, req osquery.ExtensionPluginRequest) (*osquery.ExtensionResponse, error) {
	trans, err := transport.Open(fmt.Sprintf("%s.%d", sock, uuid), patience)
	if err != nil {
		return nil, err
	}
	defer trans.Close()
	c := osquery.NewExtensionClientFactory(thrift.NewTBufferedTransport(trans, 4096), thrift.NewTBinaryProtocolFactoryConf(nil))
	return c.Call(context.Background(), "table", tbl, req)
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// filledStore replays the project's positive EVTX sample through the EVTX
// reader and the rule into a store, as the collector does.
func filledStore(t *testing.T) (*store.Store, []detector.Detection) {
	t.Helper()
	path := testdir.Testdata(t, "evtx", "tsclient_positive.evtx")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m := detector.MustNew(detector.DefaultConfig())
	var dets []detector.Detection
	_, err = evtx.Read(context.Background(), f, fi.Size(), path, source.Sink{Event: func(e *detector.Event) error {
		if d, ok := m.Match(e); ok {
			dets = append(dets, d)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) < 2 {
		t.Fatalf("%s: %d detections, need at least 2 for this test", path, len(dets))
	}
	s := store.New(store.Options{})
	s.Add(dets...)
	return s, dets
}

func start(t *testing.T, ctx context.Context, opts Options) chan error {
	opts.Log = testLogger(t)
	if opts.Timeout == 0 {
		opts.Timeout = patience
	}
	if opts.Interval == 0 {
		opts.Interval = 20 * time.Millisecond
	}
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, opts) }()
	return errc
}

func wait(t *testing.T, errc chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(2 * patience):
		t.Fatal("extension did not exit")
		return nil
	}
}

// TestPlaysOsqueryd is the protocol test: registration, the columns and
// generate actions with pushed-down constraints, concurrent generates, then
// osqueryd dying under the extension.
func TestPlaysOsqueryd(t *testing.T) {
	sock := socketPath(t)
	st, dets := filledStore(t)
	// osqueryd's socket appears only after the extension started waiting,
	// and its first pings answer "not ready": registration must wait.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := start(t, ctx, Options{Socket: sock, Store: st, Version: "test"})
	o := newOsqueryd(t, sock, 2)
	o.waitRegistered()

	o.mu.Lock()
	reg, info, uuid, pings := o.registry, o.info, o.uuid, o.pingsBefore
	o.mu.Unlock()
	if pings < 3 {
		t.Errorf("registered after %d pings; want the 2 failed ones and a good one first", pings)
	}
	if info.Name != Name || info.Version != "test" {
		t.Errorf("registered as %+v", info)
	}
	for _, tbl := range Tables(st, nil) {
		routes, ok := reg["table"][tbl.Name]
		if !ok {
			t.Fatalf("table %s not in registry %v", tbl.Name, reg)
		}
		if len(routes) != len(tbl.Columns) {
			t.Fatalf("%s: %d routes, %d columns", tbl.Name, len(routes), len(tbl.Columns))
		}
		for i, c := range tbl.Columns {
			r := routes[i]
			if r["id"] != "column" || r["name"] != c.Name || r["type"] != string(c.Type) {
				t.Errorf("%s route %d = %v, want column %s %s", tbl.Name, i, r, c.Name, c.Type)
			}
		}
	}
	if got := reg["table"][tables.ExecutionsName][1]["op"]; got != "1" {
		t.Errorf("time column options = %q, want 1 (INDEX)", got)
	}

	// columns, as osquery asks when attaching the table.
	resp, err := extCall(sock, uuid, tables.ExecutionsName, osquery.ExtensionPluginRequest{"action": "columns"})
	if err != nil || resp.Status.Code != 0 || len(resp.Response) != len(tables.Executions(st).Columns) || resp.Response[0]["name"] != "eid" {
		t.Fatalf("columns: err=%v resp=%+v", err, resp)
	}

	// generate with osquery's context JSON.
	tm := dets[1].Time.Unix()
	generate := func(contextJSON string) ([]map[string]string, error) {
		resp, err := extCall(sock, uuid, tables.ExecutionsName, osquery.ExtensionPluginRequest{"action": "generate", "context": contextJSON})
		if err != nil {
			return nil, err
		}
		if resp.Status.Code != 0 {
			return nil, errors.New(resp.Status.Message)
		}
		return resp.Response, nil
	}
	cases := []struct {
		name    string
		context string
		want    func(r map[string]string) bool
	}{
		{"unconstrained", osqueryContext(nil), func(map[string]string) bool { return true }},
		{"time >=", osqueryContext(map[string][]cons{"time": {{32, strconv.FormatInt(tm, 10)}}}),
			func(r map[string]string) bool { return atoi(r["time"]) >= tm }},
		{"eid = 2", osqueryContext(map[string][]cons{"eid": {{2, "2"}}}),
			func(r map[string]string) bool { return r["eid"] == "2" }},
		{"time window and pid", osqueryContext(map[string][]cons{
			"time": {{4, strconv.FormatInt(tm-1, 10)}, {8, strconv.FormatInt(tm, 10)}},
			"pid":  {{2, strconv.FormatInt(dets[1].PID, 10)}},
		}), func(r map[string]string) bool { return atoi(r["time"]) == tm && atoi(r["pid"]) == dets[1].PID }},
	}
	for _, c := range cases {
		rows, err := generate(c.context)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := 0
		for i, d := range dets {
			r := map[string]string{"eid": strconv.Itoa(i + 1), "time": strconv.FormatInt(d.Time.Unix(), 10), "pid": strconv.FormatInt(d.PID, 10)}
			if c.want(r) {
				want++
			}
		}
		if len(rows) != want || want == 0 {
			t.Errorf("%s: %d rows, want %d (>0)", c.name, len(rows), want)
		}
		for _, r := range rows {
			if !c.want(r) {
				t.Errorf("%s: row outside the constraint: %v", c.name, r)
			}
			if r["path"] == "" || r["form"] == "" || r["source"] == "" {
				t.Errorf("%s: row lacks detection fields: %v", c.name, r)
			}
		}
	}

	// Two generates at once, each on its own connection, as osquery does
	// for a JOIN or an IN list.
	var wg sync.WaitGroup
	got := make([][]map[string]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = generate(osqueryContext(map[string][]cons{"eid": {{2, strconv.Itoa(i + 1)}}}))
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || len(got[i]) != 1 || got[i][0]["eid"] != strconv.Itoa(i+1) {
			t.Errorf("concurrent generate %d: err=%v rows=%v", i, errs[i], got[i])
		}
	}

	// The status table reports no source and the store.
	resp, err = extCall(sock, uuid, tables.StatusName, osquery.ExtensionPluginRequest{"action": "generate", "context": "{}"})
	if err != nil || resp.Status.Code != 0 || len(resp.Response) != 2 {
		t.Fatalf("status: err=%v resp=%+v", err, resp)
	}
	if r := resp.Response[1]; r["type"] != "store" || r["detections"] != strconv.Itoa(len(dets)) {
		t.Errorf("store status row = %v", r)
	}
	if r := resp.Response[0]; r["type"] != "none" || r["last_error"] == "" {
		t.Errorf("source status row = %v", r)
	}

	// osqueryd dies: pings fail and the extension exits by itself.
	o.kill()
	err = wait(t, errc)
	if !errors.Is(err, ErrOsqueryGone) {
		t.Fatalf("after osqueryd died: Run = %v, want ErrOsqueryGone", err)
	}
	// Its own socket is gone with it.
	if _, err := os.Stat(fmt.Sprintf("%s.%d", sock, uuid)); !os.IsNotExist(err) {
		t.Errorf("extension socket still there: %v", err)
	}
}

// TestRegistrationDropped: osquery keeps answering pings but stops listing
// the extension; the extension must notice and exit.
func TestRegistrationDropped(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock, 0)
	errc := start(t, context.Background(), Options{Socket: sock})
	o.waitRegistered()
	o.mu.Lock()
	o.forget = true
	o.mu.Unlock()
	if err := wait(t, errc); !errors.Is(err, ErrDeregistered) {
		t.Fatalf("Run = %v, want ErrDeregistered", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.deregistered) != 0 {
		t.Errorf("deregistered %v from an osquery that had already dropped it", o.deregistered)
	}
}

// TestStopDeregisters: cancelling (SIGTERM, SIGINT) deregisters and
// returns nil.
func TestStopDeregisters(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock, 0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := start(t, ctx, Options{Socket: sock, Interval: time.Hour})
	o.waitRegistered()
	cancel()
	if err := wait(t, errc); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !slices.Equal(o.deregistered, []osquery.ExtensionRouteUUID{o.uuid}) {
		t.Errorf("deregistered %v, want [%d]", o.deregistered, o.uuid)
	}
}

// TestNoOsquery: with nobody at the socket, Run gives up after the timeout.
func TestNoOsquery(t *testing.T) {
	sock := socketPath(t)
	err := Run(context.Background(), Options{Socket: sock, Timeout: 300 * time.Millisecond, Log: testLogger(t)})
	if !errors.Is(err, ErrOsqueryGone) {
		t.Fatalf("Run = %v, want ErrOsqueryGone", err)
	}
}

// TestDuplicateName: osquery refuses the registration; Run reports it.
func TestDuplicateName(t *testing.T) {
	sock := socketPath(t)
	o := newOsqueryd(t, sock, 0)
	o.mu.Lock()
	o.info = &osquery.InternalExtensionInfo{Name: Name}
	o.mu.Unlock()
	err := Run(context.Background(), Options{Socket: sock, Timeout: patience, Log: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "register") || !strings.Contains(err.Error(), "Duplicate extension") {
		t.Fatalf("Run = %v, want a registration error", err)
	}
}

type cons struct {
	op   int
	expr string
}

// osqueryContext renders the context JSON osquery sends with generate: an
// entry for every column of tsclient_executions, "" for unconstrained ones.
func osqueryContext(cs map[string][]cons) string {
	tbl := tables.Executions(store.New(store.Options{}))
	out := `{"constraints":[`
	for i, c := range tbl.Columns {
		if i > 0 {
			out += ","
		}
		list := `""`
		if l := cs[c.Name]; len(l) > 0 {
			list = "["
			for j, k := range l {
				if j > 0 {
					list += ","
				}
				list += fmt.Sprintf(`{"op":%d,"expr":%q}`, k.op, k.expr)
			}
			list += "]"
		}
		out += fmt.Sprintf(`{"name":%q,"list":%s,"affinity":%q}`, c.Name, list, c.Type)
	}
	return out + `],"colsUsed":["eid","time","pid","path"],"colsUsedBitset":15}`
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
