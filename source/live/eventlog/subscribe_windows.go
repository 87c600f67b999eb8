//go:build windows

package eventlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
)

var (
	wevtapi        = windows.NewLazySystemDLL("wevtapi.dll")
	procSubscribe  = wevtapi.NewProc("EvtSubscribe")
	procNext       = wevtapi.NewProc("EvtNext")
	procRender     = wevtapi.NewProc("EvtRender")
	procClose      = wevtapi.NewProc("EvtClose")
	errNoMoreItems = syscall.Errno(259) // ERROR_NO_MORE_ITEMS
)

const (
	evtSubscribeToFutureEvents = 1
	evtRenderEventXML          = 1
	batch                      = 64
)

type subscription struct {
	channel string
	handle  uintptr
	signal  windows.Handle
}

// Watcher holds one pull subscription per available channel.
type Watcher struct {
	subs   []subscription
	stop   windows.Handle // set by Close to wake Run
	events atomic.Uint64
	bad    atomic.Uint64
	closed atomic.Bool
	// mu is held by Run while it uses the handles, so Close cannot close
	// one under EvtNext.
	mu sync.Mutex
}

// Open subscribes to every channel of Subscriptions that can be read, and
// fails only when none can, naming why for each.
func Open() (*Watcher, error) {
	stop, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("eventlog: CreateEvent: %w", err)
	}
	w := &Watcher{stop: stop}
	var errs []error
	for _, s := range Subscriptions {
		sig, err := windows.CreateEvent(nil, 0, 1, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ch, _ := windows.UTF16PtrFromString(s.Channel)
		q, _ := windows.UTF16PtrFromString(s.Query)
		h, _, e := procSubscribe.Call(0, uintptr(sig), uintptr(unsafe.Pointer(ch)), uintptr(unsafe.Pointer(q)), 0, 0, 0, evtSubscribeToFutureEvents)
		if h == 0 {
			windows.CloseHandle(sig)
			errs = append(errs, fmt.Errorf("%s: %w", s.Channel, e))
			continue
		}
		w.subs = append(w.subs, subscription{channel: s.Channel, handle: h, signal: sig})
	}
	if len(w.subs) == 0 {
		w.Close()
		return nil, fmt.Errorf("eventlog: no channel could be subscribed: %w", errors.Join(errs...))
	}
	return w, nil
}

// Channels names the subscribed channels.
func (w *Watcher) Channels() string {
	var names []string
	for _, s := range w.subs {
		names = append(names, s.channel)
	}
	return strings.Join(names, ", ")
}

// Run waits for the subscriptions' signals and delivers what they hold
// until ctx ends or Close is called.
func (w *Watcher) Run(ctx context.Context, sink source.Sink) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { windows.SetEvent(w.stop) })
	defer stop()
	handles := []windows.Handle{w.stop}
	for _, s := range w.subs {
		handles = append(handles, s.signal)
	}
	buf := make([]uint16, 16<<10)
	var ev detector.Event
	for {
		r, err := windows.WaitForMultipleObjects(handles, false, windows.INFINITE)
		if err != nil {
			return fmt.Errorf("eventlog: wait: %w", err)
		}
		i := int(r - windows.WAIT_OBJECT_0)
		if i == 0 || w.closed.Load() {
			return nil
		}
		if i < 1 || i > len(w.subs) {
			continue
		}
		var err2 error
		buf, err2 = w.drain(&w.subs[i-1], buf, sink, &ev)
		if err2 != nil {
			return err2
		}
	}
}

// drain reads every pending event of s. Only the sink's error stops Run;
// an event that cannot be rendered or decoded is reported and skipped.
func (w *Watcher) drain(s *subscription, buf []uint16, sink source.Sink, ev *detector.Event) ([]uint16, error) {
	var hs [batch]uintptr
	for {
		var n uint32
		r, _, e := procNext.Call(s.handle, batch, uintptr(unsafe.Pointer(&hs[0])), 0, 0, uintptr(unsafe.Pointer(&n)))
		if r == 0 {
			if !errors.Is(e, errNoMoreItems) {
				w.bad.Add(1)
				sink.Report(&source.RecordError{File: s.channel, Offset: -1, Err: fmt.Errorf("EvtNext: %w", e)})
			}
			return buf, nil
		}
		for _, h := range hs[:n] {
			var xml string
			xml, buf = render(h, buf)
			procClose.Call(h)
			if xml == "" {
				w.bad.Add(1)
				sink.Report(&source.RecordError{File: s.channel, Offset: -1, Err: errors.New("EvtRender failed")})
				continue
			}
			if err := Decode([]byte(xml), ev); err != nil {
				w.bad.Add(1)
				sink.Report(&source.RecordError{File: s.channel, Offset: -1, Err: err})
				continue
			}
			w.events.Add(1)
			if err := sink.Emit(ev); err != nil {
				closeFrom(hs[:n], h)
				return buf, err
			}
		}
	}
}

// closeFrom closes the handles of hs after h, which the caller will not
// read.
func closeFrom(hs []uintptr, h uintptr) {
	after := false
	for _, x := range hs {
		if after {
			procClose.Call(x)
		}
		if x == h {
			after = true
		}
	}
}

// render returns the event's XML, growing buf when EvtRender asks for more.
func render(h uintptr, buf []uint16) (string, []uint16) {
	for try := 0; try < 2; try++ {
		var used, props uint32
		r, _, e := procRender.Call(0, h, evtRenderEventXML, uintptr(len(buf)*2), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&used)), uintptr(unsafe.Pointer(&props)))
		if r != 0 {
			return windows.UTF16ToString(buf[:used/2]), buf
		}
		if !errors.Is(e, windows.ERROR_INSUFFICIENT_BUFFER) {
			return "", buf
		}
		buf = make([]uint16, used/2+1)
	}
	return "", buf
}

// Events returns the process starts delivered.
func (w *Watcher) Events() uint64 { return w.events.Load() }

// Lost returns events that could not be read, rendered or decoded. (The
// Event Log itself keeps events until the log wraps, so a slow reader
// loses nothing short of that.)
func (w *Watcher) Lost() uint64 { return w.bad.Load() }

// Close ends the subscriptions and wakes Run.
func (w *Watcher) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	windows.SetEvent(w.stop)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.subs {
		procClose.Call(s.handle)
		windows.CloseHandle(s.signal)
	}
	return nil
}
