//go:build linux

package ebpf

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/live/internal/users"
)

// Watcher holds the loaded program, its attachment and the ring buffer
// reader.
type Watcher struct {
	coll   *ebpf.Collection
	events *ebpf.Map // ring buffer
	lost   *ebpf.Map // per-CPU count of ring buffer reserve failures
	link   link.Link
	rd     *ringbuf.Reader
	attach string
	// fputFn is the kernel's ____fput, which lets the program find a #!
	// script's own file (see script_file in exec.bpf.c); 0 when
	// /proc/kallsyms does not give it (fputErr says why).
	fputFn  uint64
	fputErr error

	bootToWall time.Duration // add to a CLOCK_BOOTTIME reading to get wall time
	users      users.Cache

	decoded atomic.Uint64
	bad     atomic.Uint64
}

// ErrPermission is wrapped by Open when the kernel refused to load the
// program for lack of privilege.
var ErrPermission = errors.New("ebpf: permission denied loading program (need root or CAP_BPF+CAP_PERFMON)")

// Open loads the program and attaches it to tp_btf/sched_process_exec,
// falling back to the raw tracepoint when the kernel has no BTF for it.
func Open() (*Watcher, error) {
	spec, err := loadExec()
	if err != nil {
		return nil, fmt.Errorf("ebpf: %w", err)
	}
	w := &Watcher{}
	w.fputFn, w.fputErr = kallsymsAddr("/proc/kallsyms", "____fput")
	var attachErrs []error
	for _, mode := range []string{"tp_btf", "raw_tracepoint"} {
		err := w.load(spec, mode)
		if err == nil {
			w.attach = mode
			break
		}
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("%w: %v", ErrPermission, err)
		}
		attachErrs = append(attachErrs, fmt.Errorf("%s: %w", mode, err))
	}
	if w.link == nil {
		return nil, fmt.Errorf("ebpf: cannot attach to sched_process_exec: %w", errors.Join(attachErrs...))
	}
	rd, err := ringbuf.NewReader(w.events)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("ebpf: ring buffer reader: %w", err)
	}
	w.rd = rd
	w.bootToWall = bootToWall()
	return w, nil
}

// load loads the one program mode needs (leaving the other out, so a
// kernel without BTF does not reject the whole collection) and attaches it.
func (w *Watcher) load(spec *ebpf.CollectionSpec, mode string) error {
	s := spec.Copy()
	name := execProgExecBtf
	if mode != "tp_btf" {
		name = execProgExecRaw
	}
	for n := range s.Programs {
		if n != name {
			delete(s.Programs, n)
		}
	}
	if err := s.Variables[execVarFputFn].Set(w.fputFn); err != nil {
		return fmt.Errorf("set fput_fn: %w", err)
	}
	coll, err := ebpf.NewCollection(s)
	if err != nil {
		return err
	}
	prog := coll.Programs[name]
	var l link.Link
	if mode == "tp_btf" {
		l, err = link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
	} else {
		l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sched_process_exec", Program: prog})
	}
	if err != nil {
		coll.Close()
		return err
	}
	w.coll = coll
	w.events = coll.Maps[execMapEvents]
	w.lost = coll.Maps[execMapLost]
	w.link = l
	return nil
}

// kallsymsAddr returns the address /proc/kallsyms gives for a kernel
// symbol; an error when it is absent or hidden (kptr_restrict shows 0).
func kallsymsAddr(path, name string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ffffffff816db2b0 t ____fput
		line := sc.Text()
		if !strings.HasSuffix(line, " "+name) {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != name {
			continue
		}
		addr, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil || addr == 0 {
			return 0, fmt.Errorf("%s: address of %s hidden (kernel.kptr_restrict)", path, name)
		}
		return addr, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return 0, fmt.Errorf("%s: no symbol %s", path, name)
}

// Attach names the attachment in use: "tp_btf" or "raw_tracepoint".
func (w *Watcher) Attach() string { return w.attach }

// ScriptFiles reports whether #! scripts are named from their own file;
// when not, err says why and they are named from the execve path joined
// to the cwd.
func (w *Watcher) ScriptFiles() (ok bool, err error) {
	return w.fputFn != 0, w.fputErr
}

// Run reads records until ctx ends or Close is called, handing each exec to
// sink as a TypeStart event. It returns nil when ctx ends, or the sink's
// error.
func (w *Watcher) Run(ctx context.Context, sink source.Sink) error {
	// Flush, not SetDeadline: the reader holds its lock while it waits in
	// epoll, so SetDeadline would block until the next exec anywhere on the
	// host. Flush wakes the wait without the lock, and ReadInto hands over
	// what is left in the ring before it returns ErrFlushed.
	stop := context.AfterFunc(ctx, func() { w.rd.Flush() })
	defer stop()
	var (
		rec ringbuf.Record
		ev  detector.Event
	)
	for {
		if err := w.rd.ReadInto(&rec); err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ringbuf.ErrFlushed) {
				continue
			}
			return fmt.Errorf("ebpf: read ring buffer: %w", err)
		}
		r, err := Decode(rec.RawSample)
		if err != nil {
			n := w.bad.Add(1)
			sink.Report(&source.RecordError{File: "ebpf ring buffer", Record: int64(n), Offset: -1, Err: err})
			continue
		}
		w.decoded.Add(1)
		w.event(&r, &ev)
		if err := sink.Emit(&ev); err != nil {
			return err
		}
	}
}

// Event fills ev from r: a Linux process start from the "ebpf" source.
func (w *Watcher) event(r *Record, ev *detector.Event) {
	*ev = detector.Event{
		Time:   time.Unix(0, int64(r.BootNS)).Add(w.bootToWall),
		Type:   detector.TypeStart,
		User:   w.users.Name(r.UID),
		HostOS: detector.OSLinux,
		Source: "ebpf",
	}
	fillEvent(r, ev)
}

// Events returns the number of records decoded so far.
func (w *Watcher) Events() uint64 { return w.decoded.Load() }

// Lost returns the number of execs the ring buffer had no room for, summed
// over CPUs, plus records that could not be decoded.
func (w *Watcher) Lost() uint64 {
	var perCPU []uint64
	if err := w.lost.Lookup(uint32(0), &perCPU); err != nil {
		return w.bad.Load()
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n + w.bad.Load()
}

// Close detaches the program and frees its maps. Run returns soon after.
func (w *Watcher) Close() error {
	var errs []error
	if w.rd != nil {
		errs = append(errs, w.rd.Close())
	}
	if w.link != nil {
		errs = append(errs, w.link.Close())
	}
	if w.coll != nil {
		w.coll.Close()
	}
	return errors.Join(errs...)
}

// bootToWall measures the offset between CLOCK_BOOTTIME, which the program
// stamps records with, and the wall clock.
func bootToWall() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(time.Now().UnixNano() - ts.Nano())
}
