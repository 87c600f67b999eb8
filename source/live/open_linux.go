//go:build linux

package live

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/live/ebpf"
	"github.com/tsclientwatch/tsclientwatch/source/live/fanotify"
	"github.com/tsclientwatch/tsclientwatch/source/live/internal/users"
	"github.com/tsclientwatch/tsclientwatch/source/live/xrdp"
)

// preference is the order Auto tries: eBPF sees every exec with its argv;
// fanotify only the marked mounts.
var preference = []string{EBPF, Fanotify}

func openOne(_ context.Context, m string, opts Options) (Watcher, error) {
	switch m {
	case EBPF:
		w, err := ebpf.Open()
		if err != nil {
			return nil, err
		}
		return &ebpfWatcher{w: w}, nil
	case Fanotify:
		w, err := fanotify.Open(fanotify.Options{MountNames: opts.MountNames, FSTypes: opts.FSTypes, WaitForMounts: opts.WaitForMounts})
		if err != nil {
			return nil, err
		}
		return &fanotifyWatcher{w: w}, nil
	}
	return nil, unsupported(m)
}

type ebpfWatcher struct{ w *ebpf.Watcher }

func (e *ebpfWatcher) Name() string                                    { return EBPF }
func (e *ebpfWatcher) Run(ctx context.Context, sink source.Sink) error { return e.w.Run(ctx, sink) }
func (e *ebpfWatcher) Close() error                                    { return e.w.Close() }
func (e *ebpfWatcher) Stats() Stats {
	detail := e.w.Attach() + "/sched_process_exec"
	if ok, err := e.w.ScriptFiles(); ok {
		detail += " (#! scripts by their own file)"
	} else {
		detail += fmt.Sprintf(" (#! scripts by execve path: %v)", err)
	}
	return Stats{Mechanism: EBPF, Detail: detail, Events: e.w.Events(), Lost: e.w.Lost()}
}

type fanotifyWatcher struct{ w *fanotify.Watcher }

func (f *fanotifyWatcher) Name() string                                    { return Fanotify }
func (f *fanotifyWatcher) Run(ctx context.Context, sink source.Sink) error { return f.w.Run(ctx, sink) }
func (f *fanotifyWatcher) Close() error                                    { return f.w.Close() }
func (f *fanotifyWatcher) Stats() Stats {
	modes := f.w.Mode()
	m := make([]string, 0, len(modes))
	for point, mode := range modes {
		m = append(m, fmt.Sprintf("%s (%s)", point, mode))
	}
	sort.Strings(m)
	return Stats{Mechanism: Fanotify, Detail: "FAN_OPEN_EXEC on " + strings.Join(m, ", "), Events: f.w.Events(), Lost: f.w.Lost()}
}

// attributor returns the xrdp session lookup (source/live/xrdp): a program
// run from a chansrv client-drive mount gets its display as session id and
// the client address xrdp recorded.
func attributor(opts Options) func(*detector.Event) {
	var names users.Cache // used under the resolver's lock only
	r := xrdp.New(xrdp.Dir{Root: "/"}, xrdp.Options{
		MountNames: opts.MountNames,
		SesmanLog:  opts.XrdpSesmanLog,
		User: func(uid uint32) string {
			if n := names.Name(uid); n != strconv.FormatUint(uint64(uid), 10) {
				return n
			}
			return "" // no name: records are matched by uid only
		},
	})
	return func(ev *detector.Event) { r.Attribute(ev) }
}
