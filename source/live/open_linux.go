//go:build linux

package live

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/live/ebpf"
	"github.com/tsclientwatch/tsclientwatch/source/live/fanotify"
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
