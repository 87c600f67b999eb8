//go:build windows

package live

import (
	"context"
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/live/eventlog"
	"github.com/tsclientwatch/tsclientwatch/source/live/wts"
)

// preference is the order Auto tries: ETW sees every process start with
// the kernel-form path; the Event Log needs Sysmon or 4688 auditing on.
var preference = []string{ETW, EventLog}

func openOne(ctx context.Context, m string, opts Options) (Watcher, error) {
	switch m {
	case ETW:
		return openETW()
	case EventLog:
		w, err := eventlog.Open(eventlog.Options{Resume: opts.Resume})
		if err != nil {
			return nil, err
		}
		return &eventlogWatcher{w: w}, nil
	}
	return nil, unsupported(m)
}

type eventlogWatcher struct{ w *eventlog.Watcher }

func (e *eventlogWatcher) Name() string                                    { return EventLog }
func (e *eventlogWatcher) Run(ctx context.Context, sink source.Sink) error { return e.w.Run(ctx, sink) }
func (e *eventlogWatcher) Close() error                                    { return e.w.Close() }
func (e *eventlogWatcher) Cursor() string                                  { return e.w.Cursor() }
func (e *eventlogWatcher) Stats() Stats {
	return Stats{Mechanism: EventLog, Detail: e.w.Detail(), Events: e.w.Events(), Lost: e.w.Lost(), Warning: e.w.Warning()}
}

// attributor asks WTS who is connected to the terminal session of a
// program started from a client drive (ETW gives every start's session,
// the Event Log Sysmon's TerminalSessionId; 4688 has none): the client's
// name and address and the session's logon time.
func attributor(Options) func(*detector.Event) {
	c := wts.NewCache(wts.System(), 0, nil)
	return func(ev *detector.Event) {
		if ev.SessionID.Known() && strings.Contains(strings.ToLower(ev.Executable), "tsclient") {
			c.Attribute(ev)
		}
	}
}
