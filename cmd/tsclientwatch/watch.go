package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsclientwatch/tsclientwatch/collect"
	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/evidence"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/live"
)

func init() { subcommands = append(subcommands, newWatchCmd) }

type watchFlags struct {
	format    string
	mechanism string
}

func newWatchCmd() *cobra.Command {
	var wf watchFlags
	cmd := &cobra.Command{
		Use:   "watch [flags]",
		Short: "Watch process starts live and print executions from RDP client drives",
		Long: `Watch follows process starts as they happen and prints every one run from an
RDP client's redirected drive, until interrupted (Ctrl-C or SIGTERM); what was
found is flushed before it exits.

Mechanisms: on Linux eBPF (every exec, with the path the kernel resolved)
falling back to fanotify marks on xrdp's client-drive mounts; on Windows an
ETW session on the kernel process provider falling back to an Event Log
subscription (Sysmon 1, Security 4688). Both need root / Administrator.
The mechanism comes from --mechanism, else the first live source in the
configuration (sources: [{type: live|ebpf|fanotify|etw|eventlog}]), else auto.`,
		Example: `  sudo tsclientwatch watch
  sudo tsclientwatch watch --format ndjson --mechanism fanotify | jq .path`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWatch(cmd, wf)
		},
	}
	f := cmd.Flags()
	f.StringVar(&wf.format, "format", "table", "output format: table or ndjson")
	f.StringVar(&wf.mechanism, "mechanism", "", "auto, ebpf, fanotify, etw or eventlog (default: from the configuration, else auto)")
	f.Bool("strict", false, "match exactly what the Elastic rule matches (kernel path form, .exe, event.type start)")
	config.MustBindFlag(f, "strict", "detector.strict")
	return cmd
}

// mechanismFor picks the live mechanism: the flag, else the first live
// source configured, else auto.
func mechanismFor(flag string, cfg config.Config) string {
	if flag != "" {
		return flag
	}
	for _, s := range cfg.Sources {
		switch s.Type {
		case config.SourceLive:
			return live.Auto
		case config.SourceEBPF, config.SourceFanotify, config.SourceETW, config.SourceEventLog:
			return s.Type
		}
	}
	return live.Auto
}

func runWatch(cmd *cobra.Command, wf watchFlags) error {
	stdout := cmd.OutOrStdout()
	var out detectionWriter
	switch wf.format {
	case "table":
		out = newStreamTableWriter(stdout)
	case "ndjson":
		out = newNDJSONWriter(stdout)
	default:
		return usageError("watch: --format %q is not an output format (want table or ndjson)", wf.format)
	}
	if !live.ValidMechanism(wf.mechanism) {
		return usageError("watch: --mechanism %q is not a mechanism (want auto, ebpf, fanotify, etw or eventlog)", wf.mechanism)
	}
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	det, closeDetector, err := buildDetector(ctx, cfg, cmd.ErrOrStderr())
	if err != nil {
		return &exitCodeError{code: exitError, err: fmt.Errorf("detector: %w", err)}
	}
	defer closeDetector()
	con := newConsole(cmd.ErrOrStderr())

	w, err := live.Open(ctx, live.Options{
		Mechanism:  mechanismFor(wf.mechanism, cfg),
		MountNames: cfg.Detector.XrdpMountNames,
		// A watcher started at boot must not fail because nobody has
		// logged in over RDP yet.
		WaitForMounts: true,
		XrdpSesmanLog: cfg.Attribution.XrdpSesmanLog,
	})
	if err != nil {
		return &exitCodeError{code: exitError, err: err}
	}
	st := w.Stats()
	con.printf("watching process starts with %s (%s); Ctrl-C to stop\n", st.Mechanism, st.Detail)
	if st.Warning != "" {
		con.printf("warning: %s\n", st.Warning)
	}

	// The program of each detection is read while it runs (docs/evidence.md);
	// a detection is printed once that is settled.
	ev, err := collect.NewEvidence(cfg.Evidence, newLogger(cfg, cmd.ErrOrStderr()).With("component", "evidence"))
	if err != nil {
		con.printf("evidence: %v\n", err)
	}
	p := &watchPipeline{det: det, out: out, con: con, events: make(chan detector.Event, 4096),
		ev: ev, copies: cfg.Evidence.Dir != "" && err == nil}
	p.printed = sync.NewCond(&p.mu)
	var wg, printer sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.process()
	}()
	printer.Add(1)
	go func() {
		defer printer.Done()
		p.print()
	}()
	runErr := w.Run(ctx, source.Sink{
		Event: func(e *detector.Event) error {
			select {
			case p.events <- *e:
				return nil
			case <-p.failed():
				return p.err
			}
		},
		Bad: func(re *source.RecordError) { con.printf("%v\n", re) },
	})
	close(p.events)
	wg.Wait()
	// Detections still waiting for their program are printed without
	// it: Close settles them at once.
	var counters evidence.Counters
	if ev != nil {
		ev.Close()
		p.pending.Wait()
		counters = ev.Counters()
	}
	p.closeQueue()
	printer.Wait()
	st = w.Stats()
	closeErr := w.Close()
	if err := out.Close(); err != nil && p.err == nil {
		p.err = fmt.Errorf("write output: %w", err)
	}
	con.printf("%s: %s, %s, %s lost\n", st.Mechanism, plural(int64(st.Events), "process start"),
		plural(p.detections.Load(), "detection"), strconv.FormatUint(st.Lost, 10))
	if ev != nil {
		con.printf("evidence: %d read, %d kept, %d too large, %d timed out, %d failed, %d without evidence, %d reads still hung\n",
			counters.Read, counters.Kept, counters.TooLarge, counters.TimedOut, counters.Failed, counters.Released, counters.Hung)
	}
	switch {
	case p.err != nil:
		return &exitCodeError{code: exitError, err: p.err}
	case runErr != nil && !errors.Is(runErr, context.Canceled):
		return &exitCodeError{code: exitError, err: runErr}
	case closeErr != nil:
		return &exitCodeError{code: exitError, err: closeErr}
	}
	return nil
}

// watchPipeline runs the detector away from the watcher's goroutine, so a
// slow detector (a plugin) delays the kernel's queue only once the channel
// is full. Events already queued are batched: the more arrive at once, the
// fewer detector calls. Each detection's program is then read by the
// evidence reader (never on this path: Submit only queues), and the
// detection printed when that is settled, by a goroutine of its own, so
// a slow terminal holds up neither the detector nor the reader.
type watchPipeline struct {
	det        detector.Detector
	out        detectionWriter
	con        *console
	events     chan detector.Event
	detections atomic.Int64

	ev      *evidence.Collector // nil: nothing is read
	copies  bool                // evidence.dir is in use: read even when the source gave a hash
	pending sync.WaitGroup      // detections handed to ev and not settled yet

	mu      sync.Mutex
	printed *sync.Cond // signalled when queue grows or closes
	queue   []detector.Detection
	closed  bool

	once     sync.Once
	stopOnce sync.Once
	stop     chan struct{}
	err      error // set once, before stop is closed
}

func (p *watchPipeline) failed() chan struct{} {
	p.once.Do(func() { p.stop = make(chan struct{}) })
	return p.stop
}

func (p *watchPipeline) fail(err error) {
	p.stopOnce.Do(func() {
		p.err = err
		close(p.failed())
	})
}

// emit queues d for printing; it never blocks on the output.
func (p *watchPipeline) emit(d detector.Detection) {
	p.mu.Lock()
	p.queue = append(p.queue, d)
	p.mu.Unlock()
	p.printed.Signal()
}

func (p *watchPipeline) closeQueue() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.printed.Signal()
}

// print writes queued detections in the order they settled, until the
// queue is closed and empty.
func (p *watchPipeline) print() {
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.closed {
			p.printed.Wait()
		}
		batch := p.queue
		p.queue = nil
		done := p.closed
		p.mu.Unlock()
		for i := range batch {
			if p.failedNow() {
				break
			}
			if err := p.out.Write(&batch[i]); err != nil {
				p.fail(fmt.Errorf("write output: %w", err))
				break
			}
			p.detections.Add(1)
		}
		if done && len(batch) == 0 {
			return
		}
	}
}

func (p *watchPipeline) failedNow() bool {
	select {
	case <-p.failed():
		return true
	default:
		return false
	}
}

// settle hands d to the evidence reader, or prints it at once when
// nothing is to be read or the reader's queue is full.
func (p *watchPipeline) settle(d detector.Detection) {
	if p.ev == nil || d.SHA256 != "" && !p.copies {
		p.emit(d)
		return
	}
	p.pending.Add(1)
	ok := p.ev.Submit(evidence.Request{PID: d.PID, Path: d.Executable, Detection: d}, func(r evidence.Result) {
		defer p.pending.Done()
		if r.Err != nil && !errors.Is(r.Err, evidence.ErrClosed) {
			p.con.printf("%v\n", r.Err)
		}
		collect.FillEvidence(&d, r)
		p.emit(d)
	})
	if !ok {
		p.pending.Done()
		p.con.printf("evidence for %s: the queue is full (evidence.queue); printed without evidence\n", d.Executable)
		p.emit(d)
	}
}

func (p *watchPipeline) process() {
	var batch []detector.Event
	var found []detector.Detection
	// The detector gets its own context: on Ctrl-C the events already
	// queued are still judged and printed.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for ev := range p.events {
		batch = append(batch[:0], ev)
	more:
		for len(batch) < batchSize {
			select {
			case e, ok := <-p.events:
				if !ok {
					break more
				}
				batch = append(batch, e)
			default:
				break more
			}
		}
		if p.failedNow() {
			continue // drain so the watcher is never blocked
		}
		var err error
		found, err = p.det.Detect(ctx, batch, found[:0])
		var partial *detector.PartialError
		if errors.As(err, &partial) {
			// A few events got no verdict; the watch goes on with the
			// detections among the others.
			p.con.printf("detector: %v\n", err)
		} else if err != nil {
			p.fail(fmt.Errorf("detector: %w", err))
			continue
		}
		for i := range found {
			p.settle(found[i])
		}
	}
}

// streamTableWriter prints each detection as one line at once, with fixed
// column widths: a live stream cannot wait for every row to align them.
type streamTableWriter struct {
	w      io.Writer
	header bool
}

func newStreamTableWriter(w io.Writer) *streamTableWriter { return &streamTableWriter{w: w} }

func (t *streamTableWriter) Write(d *detector.Detection) error {
	if !t.header {
		t.header = true
		if _, err := fmt.Fprintf(t.w, "%-20s  %-16s  %-8s  %-6s  %-8s  %s\n", "TIME", "USERNAME", "PID", "FORM", "DRIVE", "PATH"); err != nil {
			return err
		}
	}
	ts := "-"
	if !d.Time.IsZero() {
		ts = d.Time.UTC().Format(time.RFC3339)
	}
	_, err := fmt.Fprintf(t.w, "%-20s  %-16s  %-8d  %-6s  %-8s  %s\n", ts, cell(d.User), d.PID, d.Form, cell(d.ClientDrive), cell(d.Executable))
	return err
}

func (t *streamTableWriter) Close() error { return nil }
