// Package live watches process starts as they happen and hands them on as
// detector.Events through the same source.Sink the file readers use.
//
// One Open call picks a mechanism for the platform: on Linux an eBPF
// program on the exec tracepoint (source/live/ebpf), falling back to
// fanotify marks on the xrdp client-drive mounts (source/live/fanotify); on
// Windows an ETW consumer of the kernel process provider (source/live/etw),
// or an Event Log subscription to Sysmon EID 1 and Security 4688
// (source/live/eventlog). Other platforms get an error saying so.
package live

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
)

// Mechanism names, as configured (sources: [{type: ...}]) and as reported in
// Stats and Event.Source.
const (
	Auto     = "auto"
	EBPF     = "ebpf"
	Fanotify = "fanotify"
	ETW      = "etw"
	EventLog = "eventlog"
)

// Options configure Open.
type Options struct {
	// Mechanism is Auto (or empty) to pick the best that works, or one of
	// EBPF, Fanotify, ETW, EventLog to force it.
	Mechanism string
	// MountNames are the xrdp client-drive mount directory names
	// (detector.Config.XrdpMountNames); fanotify marks mounts named so.
	MountNames []string
	// FSTypes are filesystem types that are always client-drive mounts
	// for fanotify; "fuse.xrdp-chansrv" when nil.
	FSTypes []string
	// WaitForMounts lets fanotify start before any client-drive mount
	// exists and mark mounts as they appear. Without it, fanotify with
	// nothing to mark is an error.
	WaitForMounts bool
	// Resume is the cursor a previous watcher of the same mechanism
	// reported (Cursor), to carry on after the last event it handed on.
	// Only the Event Log watcher can resume; the others ignore it.
	Resume string
	// XrdpSesmanLog is xrdp-sesman's log, which Linux attribution reads
	// for the client of an xrdp session when utmp does not name it
	// (config attribution.xrdp_sesman_log); "" means
	// xrdp.DefaultSesmanLog.
	XrdpSesmanLog string
}

// Stats is what a watcher has done so far, for the status table.
type Stats struct {
	Mechanism string // EBPF, Fanotify, ETW, EventLog
	// Detail says how the mechanism is attached: "tp_btf", the marked
	// mounts, the ETW session name, the subscribed channels.
	Detail string
	Events uint64 // process starts reported
	Lost   uint64 // starts the kernel or the subscription dropped
	// LostBuffers counts buffers of events lost whole (ETW real-time
	// buffers, each holding many events); kept apart from Lost because
	// the number of starts in them is unknown.
	LostBuffers uint64
	// Warning says what stops the mechanism from seeing everything it
	// should (process creation auditing off, Sysmon missing), or "".
	Warning string
}

// Cursorer is a Watcher that can resume: Cursor returns the position after
// the last event handed to the sink (opaque; updated before each sink
// call), to pass as Options.Resume to a later Open.
type Cursorer interface {
	Cursor() string
}

// Watcher is a running live source.
type Watcher interface {
	// Name is the mechanism in use.
	Name() string
	// Run hands process starts to sink until ctx ends (nil), Close is
	// called (nil) or the sink or the mechanism fails (that error). It
	// must be called at most once.
	Run(ctx context.Context, sink source.Sink) error
	// Stats may be called at any time, from any goroutine.
	Stats() Stats
	// Close releases the kernel resources; a Run in progress returns.
	Close() error
}

// ErrUnsupported is wrapped by Open on platforms with no live mechanism,
// and when a mechanism is asked for on a platform that lacks it.
var ErrUnsupported = errors.New("live: unsupported")

// Open starts the mechanism opts asks for. With Auto it tries them in
// order of preference and, when none works, returns one error listing why
// each failed.
func Open(ctx context.Context, opts Options) (Watcher, error) {
	m := opts.Mechanism
	if m == "" {
		m = Auto
	}
	if m != Auto {
		w, err := openOne(ctx, m, opts)
		if err != nil {
			return nil, err
		}
		return withHost(w, attributor(opts)), nil
	}
	var errs []error
	for _, m := range preference {
		w, err := openOne(ctx, m, opts)
		if err == nil {
			return withHost(w, attributor(opts)), nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w on %s: no live process watcher for this platform", ErrUnsupported, runtime.GOOS)
	}
	return nil, fmt.Errorf("live: no mechanism works: %w", errors.Join(errs...))
}

// ValidMechanism reports whether name is a mechanism Open knows (on any
// platform).
func ValidMechanism(name string) bool {
	switch name {
	case "", Auto, EBPF, Fanotify, ETW, EventLog:
		return true
	}
	return false
}

func unsupported(m string) error {
	if !ValidMechanism(m) {
		return fmt.Errorf("live: unknown mechanism %q (want auto, ebpf, fanotify, etw or eventlog)", m)
	}
	return fmt.Errorf("%w: %s is not available on %s", ErrUnsupported, m, runtime.GOOS)
}

// hosted stamps every event with this machine's name: a live event is
// always local, and the mechanisms do not carry it. It also attributes
// process starts to their session and client where the platform can
// (attributor): on a live host the OS knows who is connected.
type hosted struct {
	Watcher
	host      string
	attribute func(*detector.Event) // nil: nothing to add on this platform
}

func withHost(w Watcher, attribute func(*detector.Event)) Watcher {
	h, _ := os.Hostname()
	return &hosted{Watcher: w, host: h, attribute: attribute}
}

// Cursor forwards to the mechanism, "" when it cannot resume.
func (h *hosted) Cursor() string {
	if c, ok := h.Watcher.(Cursorer); ok {
		return c.Cursor()
	}
	return ""
}

func (h *hosted) Run(ctx context.Context, sink source.Sink) error {
	inner := sink.Event
	sink.Event = func(e *detector.Event) error {
		if e.Host == "" {
			e.Host = h.host
		}
		if h.attribute != nil && e.Type != detector.TypeOther {
			h.attribute(e)
		}
		return inner(e)
	}
	return h.Watcher.Run(ctx, sink)
}
