// Package file reads event logs from files, directories and standard input.
// It recognizes each input's format from its first bytes (EVTX, Windows
// event XML, JSON in its many exports), undoes gzip compression, and hands
// the input to the matching reader package. Inputs that cannot be read are
// reported and skipped; the others are still read.
package file

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/eventxml"
	"github.com/tsclientwatch/tsclientwatch/source/evtx"
	"github.com/tsclientwatch/tsclientwatch/source/jsonl"
)

// Stdin is the path that stands for standard input.
const Stdin = "-"

// StdinName is how standard input is named in errors and records.
const StdinName = "<stdin>"

// headSize is how much of an input is looked at to tell its format; the
// readers' Sniff functions accept up to this much.
const headSize = 4096

// Format is an input's file format.
type Format uint8

// The formats Sniff recognizes.
const (
	Unknown  Format = iota
	EVTX            // Windows binary event log
	EventXML        // wevtutil / Get-WinEvent XML, <Event> or <Events>
	JSON            // NDJSON, arrays, ECS, evtx_dump or Elasticsearch exports
	Gzip            // gzip-compressed; the format inside is sniffed again
)

// String returns the format's name as errors use it.
func (f Format) String() string {
	switch f {
	case EVTX:
		return "EVTX"
	case EventXML:
		return "event XML"
	case JSON:
		return "JSON"
	case Gzip:
		return "gzip"
	default:
		return "unknown"
	}
}

// Sniff tells the format of an input from its first bytes (up to 4 KiB).
func Sniff(head []byte) Format {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return Gzip
	case evtx.Sniff(head):
		return EVTX
	case eventxml.Sniff(head):
		return EventXML
	case jsonl.Sniff(head), jsonl.Sniff(skipRecordLine(head)):
		return JSON
	}
	return Unknown
}

// skipRecordLine drops the "Record N" line evtx_dump writes before each
// JSON document; the JSON reader understands these lines, but a head
// starting with one does not look like JSON.
func skipRecordLine(head []byte) []byte {
	rest, ok := bytes.CutPrefix(head, []byte("Record "))
	if !ok {
		return nil
	}
	i := 0
	for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
		i++
	}
	if i == 0 {
		return nil
	}
	rest = bytes.TrimPrefix(rest[i:], []byte("\r"))
	if len(rest) == 0 || rest[0] != '\n' {
		return nil
	}
	return rest[1:]
}

// InputError is an input that could not be read, or whose reading stopped
// early: it cannot be opened, its format is unknown, or its reader failed.
// Err's text names the input.
type InputError struct {
	Path string
	Err  error
}

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Counters follow the progress of ReadPaths. They are updated while it
// runs and may be read from another goroutine at any time.
type Counters struct {
	Files      atomic.Int64 // inputs finished, read or failed
	FilesTotal atomic.Int64 // inputs found (known once the paths are walked)
	Failed     atomic.Int64 // inputs that produced an InputError
	Records    atomic.Int64 // events decoded
	Bad        atomic.Int64 // records reported as undecodable
	Bytes      atomic.Int64 // input bytes read (compressed size for gzip)
	BytesTotal atomic.Int64 // total size of the regular files found
	Skipped    atomic.Int64 // files found by a directory walk that are not event logs
	// RecordsSkipped counts records the prefilter passed over without
	// decoding them (Options.Prefilter): they cannot match the rule.
	// Records + RecordsSkipped is what a full parse counts.
	RecordsSkipped atomic.Int64
}

// ErrNotLog marks a file met while walking a directory that is in no
// supported format and does not claim to be (no .evtx, .xml, .json, ...
// extension): a README or a config file beside the logs. It is skipped
// and counted, not an error. A file named on the command line, or one
// whose extension promises a log, is never skipped this way.
var ErrNotLog = errors.New("not an event log")

// DefaultMaxSpool is the default Options.MaxSpool (and of the
// configuration's input.max_spool): larger than the EVTX logs Windows keeps
// by default (Security 20 MiB, Sysmon 64 MiB; a large policy-set log is
// saved to a file and read from there, which needs no spool), small enough
// that a decompression bomb cannot fill a /tmp that lives in RAM.
const DefaultMaxSpool = 512 << 20

// Options configures ReadPaths.
type Options struct {
	// Sink receives every input's events and bad records. If Sink.Event
	// returns an error, ReadPaths stops and returns it.
	Sink source.Sink
	// Error receives each InputError, and walk errors (an unreadable
	// directory) as an InputError too. Reading goes on with the next
	// input. May be nil.
	Error func(*InputError)
	// Skipped receives each file a directory walk found that is not an
	// event log (see ErrNotLog), with the reason. May be nil.
	Skipped func(path string, reason error)
	// Counters, if not nil, is updated as inputs are read.
	Counters *Counters
	// Stdin is read for the path "-"; nil means os.Stdin.
	Stdin io.Reader
	// MaxRecordBytes caps one NDJSON line, JSON document or XML event
	// (config input.max_record_bytes); a longer one is reported and
	// skipped without being held whole. 0 means each reader's default.
	MaxRecordBytes int
	// MaxSpool caps the temporary copy of an EVTX log read from standard
	// input or from gzip (config input.max_spool); 0 means
	// DefaultMaxSpool.
	MaxSpool int64
	// Prefilter lets each reader look at the raw bytes of a chunk, line or
	// event before decoding it, and skip those that hold none of the rule's
	// needles (tsclient and the xrdp mount names of Detector). Only
	// records the rule cannot match are skipped, so detections are
	// unchanged; skipped records are counted, not emitted. Callers that
	// want every event (a store replay, a plugin with another rule) leave
	// it off.
	Prefilter bool
	// Detector is the rule configuration the prefilter's needles come from.
	Detector detector.Config
	// Needles, when not nil, replaces the rule's needles as what the
	// prefilter looks for (scan's attribution pass looks for session
	// events: session.Needles).
	Needles []string
	// OnceNeedles are looked for as well on inputs that cannot be read a
	// second time: standard input, and a pipe or device named on the
	// command line. A caller that may read the regular inputs again for
	// more (scan's attribution pass) gets what it wants from these the
	// first time.
	OnceNeedles []string
	// SkipOnce passes over the inputs that cannot be read a second time,
	// silently: on a second read of the same paths, what was wanted from
	// them came with OnceNeedles.
	SkipOnce bool
	// TempDir holds the spool file for an EVTX log that arrives on
	// standard input or compressed (the EVTX reader needs random access);
	// "" means os.TempDir().
	TempDir string
}

// input is one file to read.
type input struct {
	path string // as given or found by the walk; "-" for standard input
	size int64  // -1 when not a regular file
	// walked is true for files found inside a directory, false for those
	// named explicitly.
	walked bool
	// root is the walked directory a walked file is opened through, by
	// its name rel inside it: symbolic links are then followed only
	// where they stay inside the root (os.Root).
	root *os.Root
	rel  string
}

// ReadPaths reads every input named by paths: files, directories (walked
// recursively in lexical order) and "-" for standard input. Each input's
// format is sniffed from its first bytes. Inputs that cannot be read go to
// opts.Error and the others are still read.
//
// The error returned is fatal for the whole run: ctx ended, or
// opts.Sink.Event failed. When it is nil every input was attempted;
// opts.Counters.Failed and the Sink's bad records tell whether all of them
// were read cleanly.
func ReadPaths(ctx context.Context, paths []string, opts Options) error {
	c := opts.Counters
	if c == nil {
		c = new(Counters)
	}
	fail := func(path string, err error) {
		c.Failed.Add(1)
		if opts.Error != nil {
			opts.Error(&InputError{Path: path, Err: err})
		}
	}
	inputs, roots := expand(paths, fail)
	defer func() {
		for _, r := range roots {
			r.Close()
		}
	}()
	var total int64
	for _, in := range inputs {
		if in.size > 0 {
			total += in.size
		}
	}
	c.FilesTotal.Store(int64(len(inputs)))
	c.BytesTotal.Store(total)

	// The sink is wrapped to count, and to tell a failure of the caller's
	// sink (which ends the run) from a failure of the input.
	var sinkErr error
	sink := source.Sink{
		Event: func(ev *detector.Event) error {
			c.Records.Add(1)
			if err := opts.Sink.Event(ev); err != nil {
				sinkErr = err
				return err
			}
			return nil
		},
		Bad: func(re *source.RecordError) {
			c.Bad.Add(1)
			opts.Sink.Report(re)
		},
	}
	r := &runner{ctx: ctx, sink: sink, counters: c, stdin: opts.Stdin, tempDir: opts.TempDir,
		prefilter: opts.Prefilter, detector: opts.Detector, maxSpool: opts.MaxSpool,
		maxRecord: opts.MaxRecordBytes, needleSet: opts.Needles, onceNeedles: opts.OnceNeedles}
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.walked = in.walked
		r.once = in.path == Stdin || in.size < 0
		if r.once && opts.SkipOnce {
			c.Files.Add(1)
			continue
		}
		err := r.read(ctx, in)
		c.Files.Add(1)
		if sinkErr != nil {
			return sinkErr
		}
		if errors.Is(err, ErrNotLog) {
			c.Skipped.Add(1)
			if opts.Skipped != nil {
				opts.Skipped(in.path, err)
			}
			continue
		}
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			fail(in.path, err)
		}
	}
	return nil
}

// expand turns the paths into the list of inputs, walking directories.
// Nothing is skipped silently: every entry that is not read is reported.
// Each walked directory is opened as an os.Root, returned for closing, and
// its files are later opened through it.
//
// A directory's contents are the least trusted input here: a triage
// archive extracted as it came (tar keeps symbolic links), or a log drop
// written by a less privileged shipper. A walk therefore reads regular
// files only, and follows a symbolic link to a file only when the link
// stays inside the walked directory; a link out of it (to /etc/shadow,
// say) or to a pipe or device is reported, not opened.
func expand(paths []string, fail func(string, error)) ([]input, []*os.Root) {
	var (
		out   []input
		roots []*os.Root
	)
	for _, p := range paths {
		if p == Stdin {
			out = append(out, input{path: Stdin, size: -1})
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			fail(p, err) // *PathError already names the path
			continue
		}
		if !fi.IsDir() {
			// Named explicitly: read whatever it is (a FIFO, a pipe
			// from <(zcat x.gz), /dev/stdin), as the user asked.
			out = append(out, input{path: p, size: regularSize(fi)})
			continue
		}
		root, err := os.OpenRoot(p)
		if err != nil {
			fail(p, err)
			continue
		}
		roots = append(roots, root)
		dirs := rootNames(p)
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				// An unreadable directory: report it and walk on.
				fail(path, err)
				return nil
			}
			if d.IsDir() {
				return nil
			}
			rel, err := filepath.Rel(p, path)
			if err != nil {
				fail(path, err)
				return nil
			}
			typ := d.Type()
			switch {
			case typ.IsRegular():
				info, err := d.Info()
				if err != nil {
					fail(path, err)
					return nil
				}
				out = append(out, input{path: path, size: info.Size(), walked: true, root: root, rel: rel})
			case typ&fs.ModeSymlink != 0:
				if in, err := followLink(root, dirs, p, path, rel); err != nil {
					fail(path, err)
				} else {
					out = append(out, in)
				}
			default:
				fail(path, fmt.Errorf("%s: not a regular file (%s), not read", path, typ))
			}
			return nil
		})
		if err != nil {
			fail(p, err)
		}
	}
	return out, roots
}

// rootNames returns the absolute names of the walked directory dir: as
// given and with its own symbolic links resolved, the two forms an
// absolute link inside it may use.
func rootNames(dir string) []string {
	var names []string
	if abs, err := filepath.Abs(dir); err == nil {
		names = append(names, abs)
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		if abs, err := filepath.Abs(real); err == nil && (len(names) == 0 || abs != names[0]) {
			names = append(names, abs)
		}
	}
	return names
}

// followLink decides about a symbolic link met at rel inside the walked
// directory dir (opened as root). It is read when it leads to a regular
// file inside dir. A relative target is resolved by os.Root, which refuses
// any step out of the root; an absolute one counts when it names a place
// inside dir (under either of its names), and is then opened by its name
// relative to the root, again through os.Root. Nothing outside dir is
// looked at: not even a stat of the target, which could stall on a hostile
// FUSE mount.
func followLink(root *os.Root, dirs []string, dir, path, rel string) (input, error) {
	target, err := os.Readlink(path)
	if err != nil {
		return input{}, err
	}
	name := rel
	if filepath.IsAbs(target) {
		name = ""
		t := filepath.Clean(target)
		for _, d := range dirs {
			if r, err := filepath.Rel(d, t); err == nil && filepath.IsLocal(r) {
				name = r
				break
			}
		}
		if name == "" {
			return input{}, fmt.Errorf("%s: symbolic link that leads out of %s, not followed", path, dir)
		}
	}
	fi, err := root.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return input{}, fmt.Errorf("%s: broken symbolic link: %w", path, err)
	case err != nil:
		// os.Root refuses a link that climbs out of the root with ".."
		// or through another link.
		return input{}, fmt.Errorf("%s: symbolic link that leads out of %s, not followed (%v)", path, dir, err)
	case fi.IsDir():
		// Following links into directories risks loops and reading
		// the same files twice.
		return input{}, fmt.Errorf("%s: symbolic link to a directory, not followed (name it on the command line to read it)", path)
	case !fi.Mode().IsRegular():
		return input{}, fmt.Errorf("%s: symbolic link to something that is not a regular file (%s), not read", path, fi.Mode().Type())
	}
	return input{path: path, size: fi.Size(), walked: true, root: root, rel: name}, nil
}

func regularSize(fi fs.FileInfo) int64 {
	if fi.Mode().IsRegular() {
		return fi.Size()
	}
	return -1
}

// runner reads one input after another.
type runner struct {
	ctx      context.Context
	sink     source.Sink
	counters *Counters
	stdin    io.Reader
	tempDir  string
	walked   bool // the current input was found by a directory walk

	prefilter   bool
	detector    detector.Config
	needleSet   []string // Options.Needles
	onceNeedles []string
	once        bool // the current input cannot be read a second time
	maxSpool    int64
	maxRecord   int
}

// needles returns what the prefilter looks for in the current input: the
// caller's needles, else the rule's as the reader derives them (rule), plus
// the once-only needles when the input cannot be read again. nil lets the
// reader derive its own.
func (r *runner) needles(rule func(detector.Config) []string) []string {
	extra := r.once && len(r.onceNeedles) > 0
	if r.needleSet == nil && !extra {
		return nil
	}
	n := r.needleSet
	if n == nil {
		n = rule(r.detector)
	}
	if extra {
		n = append(slices.Clip(n), r.onceNeedles...)
	}
	return n
}

// readEVTX reads one EVTX input with the runner's prefilter settings.
func (r *runner) readEVTX(ra io.ReaderAt, size int64, name string) error {
	st, err := evtx.ReadWith(r.ctx, ra, size, name, r.sink, evtx.Options{Prefilter: r.prefilter, Config: r.detector,
		Needles: r.needles(detector.Needles)})
	r.counters.RecordsSkipped.Add(st.RecordsSkipped)
	return err
}

// read opens and reads one input. A panic in a reader (a decoder meeting
// data it did not expect) becomes this input's error, so one bad file
// cannot end the run.
func (r *runner) read(ctx context.Context, in input) (err error) {
	name := in.path
	if in.path == Stdin {
		name = StdinName
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: internal error in the reader: %v", name, p)
		}
	}()
	if in.path == Stdin {
		stdin := r.stdin
		if stdin == nil {
			stdin = os.Stdin
		}
		return r.readStream(&countingReader{r: stdin, n: &r.counters.Bytes}, name, false)
	}
	var f *os.File
	if in.root != nil {
		f, err = openWalked(in)
	} else {
		f, err = openNamed(ctx, in.path)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		// A pipe or a device named on the command line: read it as a
		// stream. Closing it when ctx ends wakes a read that waits for
		// data (pipes and terminals sit on Go's poller), so SIGTERM is
		// never stuck behind a silent writer.
		stop := context.AfterFunc(ctx, func() { f.Close() })
		defer stop()
		return r.readStream(&countingReader{r: f, n: &r.counters.Bytes}, name, false)
	}
	in.size = fi.Size()
	head := make([]byte, min(headSize, in.size))
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", name, err)
	}
	head = head[:n]
	if Sniff(head) == EVTX {
		// Random reads may touch some bytes twice; once done, count the
		// file's size exactly.
		before := r.counters.Bytes.Load()
		ra := &countingReaderAt{r: f, n: &r.counters.Bytes}
		err := r.readEVTX(ra, in.size, name)
		r.counters.Bytes.Store(before + in.size)
		return err
	}
	rest := &countingReader{r: f, n: &r.counters.Bytes}
	r.counters.Bytes.Add(int64(n))
	return r.readStream(io.MultiReader(bytes.NewReader(head), rest), name, false)
}

// openWalked opens a file found by a directory walk through its root, and
// checks the descriptor: a regular file, or nothing. O_NONBLOCK keeps the
// open itself from waiting when the entry was swapped for a FIFO since the
// walk (a FIFO's open blocks until a writer appears); os.Root adds
// O_NOFOLLOW at every step and follows a link only inside the root.
func openWalked(in input) (*os.File, error) {
	f, err := in.root.OpenFile(in.rel, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.path, unwrapPath(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", in.path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file (%s), not read", in.path, fi.Mode().Type())
	}
	return f, nil
}

// OpenNoWait opens path for reading without ever waiting in open(2): a
// FIFO opens at once (its open would otherwise block until a writer comes,
// beyond the reach of cancellation). Callers check what they got with
// Stat; only regular files are meant to be read this way.
func OpenNoWait(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
}

// unwrapPath drops the *PathError around err: its path is relative to the
// root, and the caller names the file in full.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openNamed opens a path the user named. A FIFO's open blocks until a
// writer comes, inside the system call where nothing can interrupt it, so
// the open runs on its own goroutine and is abandoned (closed when it
// finally returns) if ctx ends first.
func openNamed(ctx context.Context, path string) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	done := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		done <- opened{f, err}
	}()
	select {
	case o := <-done:
		return o.f, o.err // *PathError names the path
	case <-ctx.Done():
		go func() {
			if o := <-done; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// readStream reads a sequential input: it sniffs the head, undoes gzip,
// and dispatches. gunzipped is true inside a decompressed stream, so a
// gzip inside gzip is not unpacked again.
func (r *runner) readStream(src io.Reader, name string, gunzipped bool) error {
	br := bufio.NewReaderSize(src, headSize)
	head, err := br.Peek(headSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("read %s: %w", name, err)
	}
	switch f := Sniff(head); f {
	case Gzip:
		if gunzipped {
			return fmt.Errorf("%s: gzip inside gzip, not unpacked", name)
		}
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer zr.Close()
		return r.readStream(zr, name, true)
	case EVTX:
		return r.readSpooled(br, name)
	case EventXML:
		opt := eventxml.Options{MaxEventSize: r.maxRecord}
		if r.prefilter {
			opt.Needles = r.needles(detector.Needles)
			if opt.Needles == nil {
				opt.Needles = detector.Needles(r.detector)
			}
		}
		st, err := eventxml.ReadWith(r.ctx, br, name, r.sink, opt)
		r.counters.RecordsSkipped.Add(st.Skipped)
		return err
	case JSON:
		_, err := jsonl.ReadWith(r.ctx, br, name, r.sink, jsonl.Options{Prefilter: r.prefilter, Config: r.detector, MaxDocument: r.maxRecord,
			Needles: r.needles(jsonl.Needles),
			Skipped: func(n int64) { r.counters.RecordsSkipped.Add(n) }})
		return err
	default:
		if len(head) == 0 {
			return explainEmpty(name)
		}
		if r.walked && !logExtensions[extension(name)] {
			return fmt.Errorf("%s: %w (%s), skipped", name, ErrNotLog, describeHead(head))
		}
		return explain(name, head, gunzipped)
	}
}

// readSpooled copies an EVTX stream to a temporary file, because the EVTX
// reader needs random access, and reads it from there.
func (r *runner) readSpooled(src io.Reader, name string) error {
	tmp, err := os.CreateTemp(r.tempDir, "tsclientwatch-*.evtx")
	if err != nil {
		return fmt.Errorf("%s: spool EVTX to a temporary file: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	limit := r.maxSpool
	if limit <= 0 {
		limit = DefaultMaxSpool
	}
	// A gzip bomb or an endless stream must not fill the disk: stop one
	// byte past the limit.
	size, err := io.Copy(tmp, io.LimitReader(&contextReader{ctx: r.ctx, r: src}, limit+1))
	if err != nil {
		return fmt.Errorf("%s: spool EVTX to %s: %w", name, tmp.Name(), err)
	}
	if size > limit {
		return fmt.Errorf("%s: EVTX stream larger than %d bytes (input.max_spool), not read (decompress it or save it to a file and scan that, or raise input.max_spool)", name, limit)
	}
	err = r.readEVTX(tmp, size, name)
	return err
}

// explainEmpty decides whether an empty input is an error: an empty log of
// a line-oriented format just holds no events, but an EVTX file never is
// empty.
func explainEmpty(name string) error {
	if ext := extension(name); ext == ".evtx" {
		return fmt.Errorf("%s: empty file, not an EVTX log", name)
	}
	return nil
}

// explain builds the error for an input no reader recognized, using the
// file name's extension only to say what was expected. The input's bytes
// are described, never quoted: the error reaches tsclientwatch_status,
// which anyone allowed to query osquery can read, and the file may be one
// the reader was tricked into opening.
func explain(name string, head []byte, gunzipped bool) error {
	holds := "it holds " + describeHead(head)
	if gunzipped {
		holds = "decompressed, " + holds
	}
	switch extension(name) {
	case ".evtx":
		return fmt.Errorf("%s: not an EVTX file (%s; want the signature \"ElfFile\\x00\")", name, holds)
	case ".xml":
		return fmt.Errorf("%s: not Windows event XML (%s; want <Event> or <Events> elements)", name, holds)
	case ".json", ".jsonl", ".ndjson":
		return fmt.Errorf("%s: not JSON (%s; want '{' or '[')", name, holds)
	}
	return fmt.Errorf("%s: unknown format (%s; want EVTX, Windows event XML or JSON)", name, holds)
}

// magics names common formats by their first bytes, so an error can say
// what a file is without quoting it.
var magics = []struct {
	prefix, what string
}{
	{"MZ", "a Windows program (MZ)"},
	{"\x7fELF", "an ELF program"},
	{"PK\x03\x04", "a ZIP archive (extract it first)"},
	{"7z\xbc\xaf\x27\x1c", "a 7-Zip archive (extract it first)"},
	{"\xfd7zXZ\x00", "xz-compressed data (decompress it first)"},
	{"BZh", "bzip2-compressed data (decompress it first)"},
	{"\x28\xb5\x2f\xfd", "zstd-compressed data (decompress it first)"},
	{"ElfChnk\x00", "an EVTX chunk without the file header"},
	{"%PDF", "a PDF document"},
	{"\xff\xfe", "UTF-16 text that is not event XML"},
	{"\xfe\xff", "UTF-16 text that is not event XML"},
}

// describeHead says what kind of data head is (a known format, text, or
// binary data) without repeating any of it.
func describeHead(head []byte) string {
	for _, m := range magics {
		if bytes.HasPrefix(head, []byte(m.prefix)) {
			return m.what
		}
	}
	text := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	if len(text) > 0 && utf8.Valid(text) && !bytes.ContainsFunc(text, func(r rune) bool {
		return r < 0x20 && r != '\t' && r != '\n' && r != '\r'
	}) {
		return "text"
	}
	return "binary data"
}

// logExtensions are the file-name extensions that promise an event log: a
// walked file with one of them that cannot be read is an error, not a skip.
var logExtensions = map[string]bool{
	".evtx": true, ".xml": true, ".json": true, ".jsonl": true, ".ndjson": true, ".log": true, ".evt": true,
}

// extension returns the lower-case extension of name, ignoring a trailing
// ".gz".
func extension(name string) string {
	name = strings.ToLower(name)
	name = strings.TrimSuffix(name, ".gz")
	return filepath.Ext(name)
}

// countingReader adds the bytes it reads to n, for progress reports.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// countingReaderAt adds the bytes it reads to n, for progress reports.
type countingReaderAt struct {
	r io.ReaderAt
	n *atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// contextReader stops a copy when ctx ends, so spooling a large stream can
// be interrupted.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
