package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/escape"
	"github.com/tsclientwatch/tsclientwatch/session"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/file"
)

func init() { subcommands = append(subcommands, newScanCmd) }

// batchSize is how many events go to the detector at once: large enough
// that a plugin round trip is paid rarely, small enough that detections
// appear promptly.
const batchSize = 256

// maxErrorsPerFile caps the bad-record lines printed for one input, so a
// damaged log cannot bury the others' messages; the summary still counts
// them all.
const maxErrorsPerFile = 20

type scanFlags struct {
	format          string
	failOnDetection bool
}

func newScanCmd() *cobra.Command {
	var sf scanFlags
	cmd := &cobra.Command{
		Use:   "scan [flags] PATH...",
		Short: "Scan event log files for executions from RDP client drives",
		Long: `Scan reads EVTX, Windows event XML (wevtutil, Get-WinEvent) and JSON
(ECS / Elastic Defend / winlogbeat, NDJSON, evtx_dump, Elasticsearch exports)
files, gzip-compressed or not, and prints every process start run from an RDP
client's redirected drive. Directories are read recursively; "-" reads
standard input. The format is recognized from each file's content.

Exit status: 0 when every input was read, 1 with --fail-on-detection when
something was detected, 2 when an input or record could not be read (the
others are still read) or on a usage error.`,
		Example: `  tsclientwatch scan C:\Windows\System32\winevt\Logs\Security.evtx
  tsclientwatch scan --format ndjson ./exports/ | jq .path
  wevtutil qe Security /q:"*[System[EventID=4688]]" /f:xml | tsclientwatch scan -`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("scan: no input given (name files or directories, or - for standard input)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd, sf, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&sf.format, "format", "table", "output format: table or ndjson")
	f.Bool("strict", false, "match exactly what the Elastic rule matches (kernel path form, .exe, event.type start)")
	f.StringSlice("extensions", []string{".exe"}, "executable extensions to match, comma-separated")
	f.BoolVar(&sf.failOnDetection, "fail-on-detection", false, "exit with status 1 when anything is detected")
	f.String("plugin", "", "run the rule in this go-plugin binary instead of in process")
	f.String("plugin-sha256", "", "SHA-256 checksum the plugin binary must have")
	f.Bool("plugin-allow-unverified", false, "run the plugin without checking its checksum")
	config.MustBindFlag(f, "strict", "detector.strict")
	config.MustBindFlag(f, "extensions", "detector.extensions")
	config.MustBindFlag(f, "plugin", "plugin.path")
	config.MustBindFlag(f, "plugin-sha256", "plugin.sha256")
	config.MustBindFlag(f, "plugin-allow-unverified", "plugin.allow_unverified")
	return cmd
}

func runScan(cmd *cobra.Command, sf scanFlags, paths []string) error {
	var out detectionWriter
	stdout := cmd.OutOrStdout()
	switch sf.format {
	case "table":
		out = newTableWriter(stdout)
	case "ndjson":
		out = newNDJSONWriter(stdout)
	default:
		return usageError("scan: --format %q is not an output format (want table or ndjson)", sf.format)
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
	rule := det.Info()
	newLogger(cfg, cmd.ErrOrStderr()).Debug("scan", "rule", rule.ID, "strict", rule.Strict,
		"extensions", cfg.Detector.Extensions, "config", cfg.File, "inputs", len(paths))

	con := newConsole(cmd.ErrOrStderr())
	s := &scanner{ctx: ctx, det: det, con: con, badPerFile: map[string]int{}, seen: map[string]bool{},
		tracker: session.New(session.Options{})}
	defer s.pending.close()
	var counters file.Counters
	stopProgress := con.startProgress(&counters, "")
	readOpts := file.Options{
		Stdin: cmd.InOrStdin(),
		// Nearly every record is benign: look at raw bytes first and
		// decode only what could match (detections are unchanged).
		Prefilter:      true,
		Detector:       cfg.Detector,
		MaxRecordBytes: cfg.Input.MaxRecordBytes,
		MaxSpool:       cfg.Input.MaxSpool,
	}
	first := readOpts
	first.Sink = source.Sink{Event: s.event, Bad: s.bad}
	first.Error = s.inputError
	first.Skipped = func(path string, reason error) {
		newLogger(cfg, cmd.ErrOrStderr()).Debug("skipped", "file", path, "reason", reason)
	}
	first.Counters = &counters
	// Standard input cannot be read twice: take its session events now.
	first.OnceNeedles = session.Needles()
	readErr := file.ReadPaths(ctx, paths, first)
	if readErr == nil {
		readErr = s.flush()
	}
	stopProgress()
	// Session events hold none of the rule's needles, so the prefilter
	// passed over them. Only when a detection waits for its client are
	// the inputs read again, prefiltered on the session events' needles.
	var second file.Counters
	if readErr == nil && s.pending.unattributed > 0 {
		stop := con.startProgress(&second, "attribution: ")
		start := time.Now()
		readErr = s.learnSessions(paths, readOpts, &second)
		stop()
		newLogger(cfg, cmd.ErrOrStderr()).Debug("attribution pass", "files", second.Files.Load(),
			"records", second.Records.Load(), "passed over", second.RecordsSkipped.Load(), "seconds", time.Since(start).Seconds())
	}
	// Whatever stopped the reading, what was found is written.
	if err := s.write(out); err != nil && readErr == nil {
		readErr = err
	}
	for name, n := range s.badPerFile {
		if n > maxErrorsPerFile {
			con.printf("%s: %d bad records in all (%d shown)\n", name, n, maxErrorsPerFile)
		}
	}
	if st := s.tracker.Stats(); st.Dropped > 0 {
		con.printf("attribution: %d session events beyond the cap of %d were dropped; detections before %s may lack their client\n",
			st.Dropped, st.Max, st.Horizon.Format(time.RFC3339))
	}
	con.printf("%s\n", summary(&counters, s.detections, s.attributed, s.laterErrors))
	switch {
	case errors.Is(readErr, context.Canceled) && ctx.Err() != nil:
		return &exitCodeError{code: exitError, err: errors.New("scan interrupted; the inputs above were read")}
	case readErr != nil:
		return &exitCodeError{code: exitError, err: readErr}
	case counters.Failed.Load() > 0 || counters.Bad.Load() > 0 || s.unjudged > 0 || s.laterErrors > 0:
		return &exitCodeError{code: exitError}
	case sf.failOnDetection && s.detections > 0:
		return &exitCodeError{code: exitDetection}
	}
	return nil
}

// scanner batches decoded events through the detector, holds what it
// finds until the session events of every input are known, then
// attributes and writes it.
type scanner struct {
	ctx        context.Context
	det        detector.Detector
	con        *console
	batch      []detector.Event
	found      []detector.Detection
	pending    pending
	tracker    *session.Tracker
	detections int
	unjudged   int // events the detector gave no verdict (printed as they came)
	attributed int
	badPerFile map[string]int
	// seen holds the error messages already printed (up to maxSeen),
	// so the attribution pass reports only what the first did not.
	seen        map[string]bool
	laterErrors int64 // errors only the attribution pass met
}

// maxSeen bounds the error messages remembered across the two passes.
const maxSeen = 10_000

func (s *scanner) event(ev *detector.Event) error {
	// A session event is no process start and never matches; it is
	// batched all the same, as a plugin with another rule may want it.
	s.tracker.Add(ev)
	s.batch = append(s.batch, *ev)
	if len(s.batch) < batchSize {
		return nil
	}
	return s.flush()
}

func (s *scanner) flush() error {
	if len(s.batch) == 0 {
		return nil
	}
	found, err := s.det.Detect(s.ctx, s.batch, s.found[:0])
	s.batch = s.batch[:0]
	var partial *detector.PartialError
	if errors.As(err, &partial) {
		// Only the events it names got no verdict: say so, count it, and
		// print the detections among the others.
		s.con.printf("detector: %v\n", err)
		s.unjudged += len(partial.Unjudged)
	} else if err != nil {
		return fmt.Errorf("detector: %w", err)
	}
	s.found = found
	for i := range found {
		if err := s.pending.add(&found[i]); err != nil {
			return err
		}
	}
	clear(found) // drop references to event strings until the next batch
	s.detections += len(found)
	return nil
}

// learnSessions reads the inputs again for session events only: the
// prefilter looks for their needles, and inputs that cannot be read twice
// (standard input) gave theirs in the first pass.
func (s *scanner) learnSessions(paths []string, opts file.Options, counters *file.Counters) error {
	opts.Needles = session.Needles()
	opts.SkipOnce = true
	opts.Counters = counters
	opts.Sink = source.Sink{
		Event: func(ev *detector.Event) error {
			s.tracker.Add(ev)
			return nil
		},
		Bad: func(re *source.RecordError) {
			// Damage the first pass's prefilter passed over: a session
			// event may be lost with it.
			if s.first(re.Error()) {
				s.laterErrors++
				s.bad(re)
			}
		},
	}
	opts.Error = func(e *file.InputError) {
		if s.first(e.Error()) {
			s.laterErrors++
			s.con.printf("%v\n", e)
		}
	}
	return file.ReadPaths(s.ctx, paths, opts)
}

// write attributes every pending detection and writes it.
func (s *scanner) write(out detectionWriter) error {
	err := s.pending.each(func(d *detector.Detection) error {
		if s.tracker.Attribute(d) || d.ClientName != "" || d.ClientAddress != "" {
			s.attributed++
		}
		if err := out.Write(d); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		return nil
	})
	if cerr := out.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("write output: %w", cerr)
	}
	return err
}

// first reports whether msg has not been printed yet, and remembers it.
func (s *scanner) first(msg string) bool {
	if s.seen[msg] {
		return false
	}
	if len(s.seen) < maxSeen {
		s.seen[msg] = true
	}
	return true
}

func (s *scanner) inputError(e *file.InputError) {
	s.first(e.Error())
	s.con.printf("%v\n", e)
}

func (s *scanner) bad(re *source.RecordError) {
	s.first(re.Error())
	n := s.badPerFile[re.File] + 1
	s.badPerFile[re.File] = n
	switch {
	case n <= maxErrorsPerFile:
		s.con.printf("%v\n", re)
	case n == maxErrorsPerFile+1:
		s.con.printf("%s: more bad records, not shown one by one\n", re.File)
	}
}

func summary(c *file.Counters, detections, attributed int, laterErrors int64) string {
	msg := fmt.Sprintf("%s, %s", plural(c.Files.Load(), "file"), plural(c.Records.Load()+c.RecordsSkipped.Load(), "record"))
	if sk := c.RecordsSkipped.Load(); sk > 0 {
		msg += fmt.Sprintf(" (%d decoded, %d passed over by the prefilter)", c.Records.Load(), sk)
	}
	if bad := c.Bad.Load(); bad > 0 {
		msg += fmt.Sprintf(" (%d bad)", bad)
	}
	msg += ", " + plural(int64(detections), "detection")
	if attributed > 0 {
		msg += fmt.Sprintf(" (%d with its RDP client)", attributed)
	}
	msg += ", " + plural(c.Failed.Load()+c.Bad.Load()+laterErrors, "error")
	if n := c.Skipped.Load(); n > 0 {
		msg += fmt.Sprintf("; %s in the directories were not event logs and were skipped (--log-level debug lists them)", plural(n, "file"))
	}
	return msg
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// console serializes writes to stderr with the progress line, which is
// erased before any other message so the two never mix on one line.
type console struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	shown    int // width of the progress line on screen, 0 when none
}

func newConsole(w io.Writer) *console {
	return &console{w: w, terminal: isTerminal(w)}
}

// printf prints one message. Its arguments are escaped (escape.Fprintf):
// file names, mount names and decoder errors quoting log content are the
// attacker's text, and must not reach the terminal raw.
func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearLocked()
	escape.Fprintf(c.w, format, args...)
}

func (c *console) clearLocked() {
	if c.shown > 0 {
		fmt.Fprintf(c.w, "\r%*s\r", c.shown, "")
		c.shown = 0
	}
}

// Progress is only worth drawing for long runs: after this long, or from
// the start when the inputs are at least this large.
const (
	progressAfter    = 2 * time.Second
	progressMinBytes = 50 << 20
	progressEvery    = 250 * time.Millisecond
)

// startProgress draws a progress line on a terminal while work goes on,
// and returns the function that stops and erases it.
func (c *console) startProgress(counters *file.Counters, label string) (stop func()) {
	if !c.terminal {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				elapsed := now.Sub(start)
				if elapsed < progressAfter && counters.BytesTotal.Load() < progressMinBytes {
					continue
				}
				c.drawProgress(counters, label, elapsed)
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		c.mu.Lock()
		c.clearLocked()
		c.mu.Unlock()
	}
}

func (c *console) drawProgress(counters *file.Counters, label string, elapsed time.Duration) {
	mb := float64(counters.Bytes.Load()) / (1 << 20)
	line := label + fmt.Sprintf("%d/%d files, %d records, %.1f MB, %.1f MB/s",
		counters.Files.Load(), counters.FilesTotal.Load(), counters.Records.Load()+counters.RecordsSkipped.Load(), mb, mb/elapsed.Seconds())
	c.mu.Lock()
	defer c.mu.Unlock()
	// Pad over a longer previous line instead of clearing it, so the
	// line does not flicker.
	pad := max(c.shown-len(line), 0)
	fmt.Fprintf(c.w, "\r%s%*s", line, pad, "")
	c.shown = len(line) + pad
}
