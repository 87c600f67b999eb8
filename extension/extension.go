// Package extension serves tsclientwatch's tables to osqueryd over the
// osquery extension protocol (Thrift over a unix socket, a named pipe on
// Windows), using osquery-go's client and generated Thrift code.
//
// Run differs from osquery-go's own ExtensionManagerServer.Run in the ways
// that matter on real hosts: it pings osquery before registering (the socket
// file can exist before osquery answers), uses the --timeout osquery passes
// for every call instead of a 1 s default, checks each --interval both that
// osquery answers and that it still lists this extension (osquery can drop an
// extension while pings keep succeeding), and returns once either check
// fails, so the process exits and osquery's watcher respawns it. It also
// stops on context cancellation (SIGTERM, SIGINT) or osquery's shutdown call
// after deregistering. And it makes its own listener, which osquery-go's
// server does not let a caller configure: a unix socket only its owner can
// connect to, or a named pipe with an explicit security descriptor
// (SYSTEM, Administrators and its own account); if it cannot listen (on
// Windows someone may hold the pipe name first), it deregisters before it
// returns ErrListen, so osquery does not route its calls to that holder.
package extension

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	osqueryapi "github.com/osquery/osquery-go"
	"github.com/osquery/osquery-go/gen/osquery"

	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

// Name is the extension name osquery lists and --extensions_require takes.
const Name = "tsclientwatch"

// Defaults for the values osqueryd passes as --timeout and --interval
// (osquery's extensions_timeout and extensions_interval default to 3 s).
const (
	DefaultTimeout  = 3 * time.Second
	DefaultInterval = 3 * time.Second
)

// Why Run stopped when it was not asked to.
var (
	// ErrListen: the extension could not listen at its socket or pipe
	// (osquery's path plus ".<uuid>"), which someone else may hold. The
	// registration is taken back first.
	ErrListen = errors.New("cannot listen for osquery's calls")
	// ErrOsqueryGone: osquery did not answer a ping or a call in time.
	ErrOsqueryGone = errors.New("osquery is not answering")
	// ErrDeregistered: osquery answers but no longer lists this extension.
	ErrDeregistered = errors.New("osquery dropped the extension's registration")
)

// Options configure Run.
type Options struct {
	// Socket is osquery's extension manager socket (--socket).
	Socket string
	// Timeout bounds connecting at start and each call to osquery
	// (--timeout). Zero means DefaultTimeout.
	Timeout time.Duration
	// Interval is how often osquery's health and our registration are
	// checked (--interval). Zero means DefaultInterval.
	Interval time.Duration
	// Name overrides the extension name (tests); empty means Name.
	Name string
	// Version is reported to osquery.
	Version string
	// Store holds the detections tsclient_executions serves. Nil means an
	// empty store with default bounds.
	Store *store.Store
	// Status returns the source rows of tsclientwatch_status; a row for the
	// store is appended to them. Nil reports that no source is configured.
	// It must be safe for concurrent use.
	Status func() []tables.SourceStatus
	// Log receives diagnostics; nil means slog.Default().
	Log *slog.Logger
}

// Tables returns the tables the extension registers, with the store row
// added to the status rows.
func Tables(st *store.Store, status func() []tables.SourceStatus) []tables.Table {
	if status == nil {
		status = func() []tables.SourceStatus {
			return []tables.SourceStatus{tables.NoSource("no event source configured: tsclient_executions stays empty")}
		}
	}
	return []tables.Table{
		tables.Executions(st),
		tables.Status(func() []tables.SourceStatus {
			return append(status(), tables.StoreStatus(st))
		}),
	}
}

// Run connects to osquery, registers the tables and serves them until ctx
// ends (nil is returned) or osquery goes away or drops the registration
// (an error wrapping ErrOsqueryGone or ErrDeregistered). Either way it has
// stopped serving and closed its sockets when it returns.
func Run(ctx context.Context, opts Options) error {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Name == "" {
		opts.Name = Name
	}
	if opts.Store == nil {
		opts.Store = store.New(store.Options{})
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	if opts.Socket == "" {
		return errors.New("no osquery extension socket given (--socket)")
	}

	client, err := connect(ctx, opts.Socket, opts.Timeout, log)
	if err != nil {
		return err
	}
	mgr := &manager{ExtensionManagerClient: client, timeout: opts.Timeout}
	defer client.Close()

	h := newHandler(Tables(opts.Store, opts.Status))
	st, err := mgr.RegisterExtension(&osquery.InternalExtensionInfo{Name: opts.Name, Version: opts.Version}, h.registry())
	if err != nil {
		return fmt.Errorf("register with osquery at %s: %w", opts.Socket, err)
	}
	if st.Code != 0 {
		return fmt.Errorf("register with osquery at %s: status %d: %s", opts.Socket, st.Code, st.Message)
	}

	// osquery calls the extension at its socket plus ".<uuid>". The
	// listener is made here, not by osquery-go, so that it can be given
	// its permissions: a unix socket only root can connect to, a named
	// pipe with an explicit security descriptor (listen_*.go).
	path := fmt.Sprintf("%s.%d", opts.Socket, st.UUID)
	ln, err := listen(path)
	if err != nil {
		// osquery now routes this extension's tables to that path, where
		// someone else may be listening (any user can create a named pipe
		// first). Take the registration back before exiting, and say so
		// loudly.
		log.Error("cannot listen for osquery's calls; deregistering and exiting", "path", path, "err", err)
		if _, derr := mgr.DeregisterExtension(st.UUID); derr != nil {
			log.Error("deregister", "uuid", st.UUID, "err", derr)
		}
		return fmt.Errorf("%w on %s: %v (if another process holds that name, osquery's calls would reach it: find it before restarting osquery)", ErrListen, path, err)
	}
	server := thrift.NewTSimpleServer4(osquery.NewExtensionProcessor(h), &listenerTransport{ln: ln},
		// Buffered: one write per response instead of one per Thrift field.
		thrift.NewTBufferedTransportFactory(64<<10), thrift.NewTBinaryProtocolFactoryConf(nil))
	server.SetLogContext(context.Background())
	served := make(chan error, 1)
	go func() { served <- server.Serve() }()
	log.Info("registered with osquery", "name", opts.Name, "uuid", st.UUID, "socket", opts.Socket, "listen", path,
		"timeout", opts.Timeout, "interval", opts.Interval)

	reason := watch(ctx, mgr, opts.Interval, served, h.shutdown, log)
	if reason == nil {
		// Asked to stop (a signal, or osquery's shutdown call): take the
		// registration back. When osquery is gone or has forgotten us,
		// deregistering would only wait for a timeout, and exiting
		// promptly is what lets osquery's watcher start a fresh copy.
		if _, err := mgr.DeregisterExtension(st.UUID); err != nil {
			log.Debug("deregister", "err", err)
		}
	}
	server.Stop()
	// Serve returns once the accept loop has stopped.
	if err := <-served; err != nil && reason == nil {
		reason = fmt.Errorf("extension server: %w", err)
	}
	return reason
}

// watch checks osquery's health every interval until ctx ends or osquery
// asks the extension to shut down (nil), the server stops on its own, or a
// check fails (the reason).
func watch(ctx context.Context, mgr *manager, interval time.Duration, served chan error, shutdown <-chan struct{}, log *slog.Logger) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping", "cause", context.Cause(ctx))
			return nil
		case <-shutdown:
			log.Info("stopping: osquery asked the extension to shut down")
			return nil
		case err := <-served:
			served <- err // Run reads it again after Shutdown
			return fmt.Errorf("extension server stopped: %w", err)
		case <-tick.C:
		}
		if err := mgr.check(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("exiting so osquery can restart the extension", "err", err)
			return err
		}
	}
}

// connect waits for osquery's socket and for osquery to answer a ping,
// retrying until timeout: osquery creates the socket before its extension
// manager answers, and launches autoloaded extensions early.
func connect(ctx context.Context, sock string, timeout time.Duration, log *slog.Logger) (*osqueryapi.ExtensionManagerClient, error) {
	deadline := time.Now().Add(timeout)
	var (
		c    *osqueryapi.ExtensionManagerClient
		last error
	)
	for attempt := 1; ; attempt++ {
		if c == nil {
			c, last = dial(sock, timeout)
		}
		if c != nil {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			st, err := c.PingContext(pctx)
			cancel()
			switch {
			case err != nil:
				// The connection is unusable: dial again next time.
				c.Close()
				c, last = nil, err
			case st.Code != 0:
				// osquery answers but is not ready: ask again on the
				// same connection.
				last = fmt.Errorf("ping status %d: %s", st.Code, st.Message)
			default:
				return c, nil
			}
		}
		log.Debug("osquery not ready", "socket", sock, "attempt", attempt, "err", last)
		if time.Now().After(deadline) {
			if c != nil {
				c.Close()
			}
			return nil, fmt.Errorf("connect to osquery at %s: %w: %v", sock, ErrOsqueryGone, last)
		}
		select {
		case <-ctx.Done():
			if c != nil {
				c.Close()
			}
			return nil, fmt.Errorf("connect to osquery at %s: %w", sock, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// dial opens a client on sock. Where sockets are files, it first checks the
// file exists, so that a missing socket costs one stat per attempt rather
// than osquery-go's own wait of up to the whole timeout.
func dial(sock string, timeout time.Duration) (*osqueryapi.ExtensionManagerClient, error) {
	if runtime.GOOS != "windows" { // named pipes are not files to stat
		if _, err := os.Stat(sock); err != nil {
			return nil, err
		}
	}
	return osqueryapi.NewClient(sock, timeout, osqueryapi.MaxWaitTime(timeout), osqueryapi.DefaultWaitTime(timeout))
}

// manager is the client the extension uses to talk to osquery. It records
// the uuid osquery assigns and bounds every call by the timeout.
type manager struct {
	*osqueryapi.ExtensionManagerClient
	timeout time.Duration

	mu sync.Mutex
	id osquery.ExtensionRouteUUID
}

func (m *manager) uuid() osquery.ExtensionRouteUUID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id
}

// RegisterExtension registers and records the uuid osquery assigned.
func (m *manager) RegisterExtension(info *osquery.InternalExtensionInfo, reg osquery.ExtensionRegistry) (*osquery.ExtensionStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	st, err := m.RegisterExtensionContext(ctx, info, reg)
	if err == nil && st.Code == 0 {
		m.mu.Lock()
		m.id = st.UUID
		m.mu.Unlock()
	}
	return st, err
}

// DeregisterExtension deregisters within the timeout.
func (m *manager) DeregisterExtension(id osquery.ExtensionRouteUUID) (*osquery.ExtensionStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	return m.DeregisterExtensionContext(ctx, id)
}

// check pings osquery and verifies it still lists this extension.
func (m *manager) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	st, err := m.PingContext(ctx)
	if err != nil {
		return fmt.Errorf("%w: ping: %v", ErrOsqueryGone, err)
	}
	if st.Code != 0 {
		return fmt.Errorf("%w: ping status %d: %s", ErrOsqueryGone, st.Code, st.Message)
	}
	list, err := m.ExtensionsContext(ctx)
	if err != nil {
		return fmt.Errorf("%w: listing extensions: %v", ErrOsqueryGone, err)
	}
	id := m.uuid()
	if _, ok := list[id]; !ok {
		return fmt.Errorf("%w: uuid %d not among %d listed", ErrDeregistered, id, len(list))
	}
	return nil
}
