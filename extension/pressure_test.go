//go:build !windows

package extension

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/transport"
	"go.uber.org/goleak"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

// synthetic returns n detections, one per second from t0, pid 5000+i.
func synthetic(n int) []detector.Detection {
	ds := make([]detector.Detection, n)
	for i := range ds {
		d := &ds[i]
		d.Time = time.Unix(1_700_000_000+int64(i), 0)
		d.Type = detector.TypeStart
		d.PID = int64(5000 + i)
		d.Executable = fmt.Sprintf(`\Device\Mup\tsclient\C\tools\t%d.exe`, i%13)
		d.CommandLine = fmt.Sprintf(`"\\tsclient\C\tools\t%d.exe" -run %d`, i%13, i)
		d.Form = detector.FormKernel
		d.Source = "sysmon"
	}
	return ds
}

// register starts osqueryd and the extension and waits for registration.
// The returned stop cancels the extension, waits for it and kills osqueryd.
func register(t *testing.T, st *store.Store) (sock string, uuid osquery.ExtensionRouteUUID, stop func()) {
	t.Helper()
	sock = socketPath(t)
	o := newOsqueryd(t, sock, 0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := start(t, ctx, Options{Socket: sock, Store: st, Interval: time.Hour})
	o.waitRegistered()
	o.mu.Lock()
	uuid = o.uuid
	o.mu.Unlock()
	return sock, uuid, func() {
		cancel()
		if err := wait(t, errc); err != nil {
			t.Errorf("Run = %v after cancel", err)
		}
		o.kill()
	}
}

// TestConcurrentGenerates: 100 generate calls at once, each on its own
// connection as osquery makes them for an IN list or a JOIN. The tables
// run at most tables.MaxConcurrent at a time; the rest must wait for a
// slot, not fail, and every answer must be the right one.
func TestConcurrentGenerates(t *testing.T) {
	const calls = 100
	st := store.New(store.Options{})
	st.Add(synthetic(2000)...)
	sock, uuid, stop := register(t, st)

	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Mixed shapes: an eid lookup, a pid lookup, a time window,
			// and now and then the status table.
			var (
				tbl, ctxJSON string
				want         func([]map[string]string) error
			)
			switch i % 4 {
			case 0:
				eid := strconv.Itoa(i*13 + 1)
				tbl, ctxJSON = tables.ExecutionsName, osqueryContext(map[string][]cons{"eid": {{2, eid}}})
				want = func(rows []map[string]string) error {
					if len(rows) != 1 || rows[0]["eid"] != eid {
						return fmt.Errorf("eid %s: %v", eid, rows)
					}
					return nil
				}
			case 1:
				pid := strconv.Itoa(5000 + i*7)
				tbl, ctxJSON = tables.ExecutionsName, osqueryContext(map[string][]cons{"pid": {{2, pid}}})
				want = func(rows []map[string]string) error {
					if len(rows) != 1 || rows[0]["pid"] != pid {
						return fmt.Errorf("pid %s: %v", pid, rows)
					}
					return nil
				}
			case 2:
				lo := 1_700_000_000 + int64(i*10)
				tbl, ctxJSON = tables.ExecutionsName, osqueryContext(map[string][]cons{
					"time": {{32, strconv.FormatInt(lo, 10)}, {16, strconv.FormatInt(lo+50, 10)}}})
				want = func(rows []map[string]string) error {
					if len(rows) != 50 || rows[0]["time"] != strconv.FormatInt(lo, 10) {
						return fmt.Errorf("time window from %d: %d rows", lo, len(rows))
					}
					return nil
				}
			default:
				tbl, ctxJSON = tables.StatusName, "{}"
				want = func(rows []map[string]string) error {
					if len(rows) != 2 || rows[1]["detections"] != "2000" {
						return fmt.Errorf("status: %v", rows)
					}
					return nil
				}
			}
			resp, err := extCall(sock, uuid, tbl, osquery.ExtensionPluginRequest{"action": "generate", "context": ctxJSON})
			switch {
			case err != nil:
				errs <- fmt.Errorf("call %d: %w", i, err)
			case resp.Status.Code != 0:
				errs <- fmt.Errorf("call %d: status %d: %s", i, resp.Status.Code, resp.Status.Message)
			default:
				if err := want(resp.Response); err != nil {
					errs <- fmt.Errorf("call %d: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	stop()
}

// logCapture records the guard's "generate" debug records (the tables log
// through slog's default logger).
type logCapture struct {
	mu   sync.Mutex
	errs []string // the err attribute of each tsclient_executions generate
	seen chan struct{}
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCapture) WithGroup(string) slog.Handler            { return c }
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "generate" {
		return nil
	}
	var tbl, errText string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "table":
			tbl = a.Value.String()
		case "err":
			if a.Value.Any() != nil {
				errText = a.Value.String()
			}
		}
		return true
	})
	if tbl == tables.ExecutionsName {
		c.mu.Lock()
		c.errs = append(c.errs, errText)
		c.mu.Unlock()
		c.seen <- struct{}{}
	}
	return nil
}

// TestQueryCancelledHalfWay: osquery gives up on a generate over many rows
// and closes the connection (its query timed out, or osqueryd is shutting
// down). Thrift notices the closed connection and cancels the call's
// context; the generate must stop with the context's error rather than
// build the rest of a result nobody will read, and the extension must go on
// serving. tables' TestExecutionsCancelledHalfWay pins the same path
// deterministically; here it runs through the real socket.
func TestQueryCancelledHalfWay(t *testing.T) {
	capture := &logCapture{seen: make(chan struct{}, 16)}
	prev := slog.Default()
	slog.SetDefault(slog.New(capture))
	defer slog.SetDefault(prev)

	// The store's clock tells the test when a scan has begun: Scan reads
	// it first thing.
	var armed atomic.Bool
	scanning := make(chan struct{}, 16)
	st := store.New(store.Options{Now: func() time.Time {
		if armed.Load() {
			select {
			case scanning <- struct{}{}:
			default:
			}
		}
		return time.Unix(1_800_000_000, 0)
	}})
	st.Add(synthetic(store.DefaultMaxEvents)...)
	sock, uuid, stop := register(t, st)
	defer stop()

	// A generate that completes before the close arrives proves nothing;
	// try a few times, and require that the attempts that were cut short
	// ended with the context's error.
	cancelled := 0
	for attempt := 0; attempt < 5 && cancelled == 0; attempt++ {
		armed.Store(true)
		trans, err := transport.Open(fmt.Sprintf("%s.%d", sock, uuid), patience)
		if err != nil {
			t.Fatal(err)
		}
		c := osquery.NewExtensionClientFactory(thrift.NewTBufferedTransport(trans, 4096), thrift.NewTBinaryProtocolFactoryConf(nil))
		called := make(chan error, 1)
		go func() {
			_, err := c.Call(context.Background(), "table", tables.ExecutionsName,
				osquery.ExtensionPluginRequest{"action": "generate", "context": osqueryContext(nil)})
			called <- err
		}()
		select {
		case <-scanning:
		case <-time.After(patience):
			t.Fatal("generate never started")
		}
		armed.Store(false)
		trans.Close() // osquery hangs up half way
		<-called
		select {
		case <-capture.seen:
		case <-time.After(patience):
			t.Fatal("generate did not return after the connection closed")
		}
		capture.mu.Lock()
		got := capture.errs[len(capture.errs)-1]
		capture.mu.Unlock()
		switch got {
		case context.Canceled.Error():
			cancelled++
		case "":
			t.Logf("attempt %d: generate finished before the close was noticed", attempt)
		default:
			t.Fatalf("generate ended with %q, want %q", got, context.Canceled)
		}
	}
	if cancelled == 0 {
		t.Fatal("no attempt was cancelled half way")
	}

	// Still serving.
	resp, err := extCall(sock, uuid, tables.ExecutionsName, osquery.ExtensionPluginRequest{
		"action": "generate", "context": osqueryContext(map[string][]cons{"eid": {{2, "7"}}})})
	if err != nil || resp.Status.Code != 0 || len(resp.Response) != 1 {
		t.Fatalf("generate after the cancelled one: err=%v resp=%+v", err, resp)
	}
}

// TestOsqueryRestart: osqueryd goes away (its socket with it) and comes
// back. The running extension exits, as designed, so that osquery's
// watcher can start a fresh copy; a fresh Run against the new socket
// registers and serves. Nothing of the first run may linger.
func TestOsqueryRestart(t *testing.T) {
	st := store.New(store.Options{})
	st.Add(synthetic(10)...)
	sock := socketPath(t)

	serveOnce := func(o *osqueryd) {
		t.Helper()
		o.mu.Lock()
		uuid := o.uuid
		o.mu.Unlock()
		resp, err := extCall(sock, uuid, tables.ExecutionsName, osquery.ExtensionPluginRequest{"action": "generate", "context": osqueryContext(nil)})
		if err != nil || resp.Status.Code != 0 || len(resp.Response) != 10 {
			t.Fatalf("generate: err=%v resp=%+v", err, resp)
		}
	}

	// First osqueryd and extension.
	o1 := newOsqueryd(t, sock, 0)
	errc := start(t, context.Background(), Options{Socket: sock, Store: st})
	o1.waitRegistered()
	serveOnce(o1)

	// osqueryd stops: connections dropped, socket removed.
	o1.kill()
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if err := wait(t, errc); !errors.Is(err, ErrOsqueryGone) {
		t.Fatalf("first run after osqueryd went away: %v, want ErrOsqueryGone", err)
	}

	// osqueryd is back on the same path; the watcher starts a new copy,
	// which here is a new Run in the same process (the store outlives it
	// only in the test).
	o2 := newOsqueryd(t, sock, 1)
	ctx, cancel := context.WithCancel(context.Background())
	errc = start(t, ctx, Options{Socket: sock, Store: st})
	o2.waitRegistered()
	serveOnce(o2)
	cancel()
	if err := wait(t, errc); err != nil {
		t.Fatalf("second run after cancel: %v", err)
	}
	o2.kill()

	// Both runs and both osqueryds have fully stopped.
	goleak.VerifyNone(t)
}
