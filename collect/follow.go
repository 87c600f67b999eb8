package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/eventxml"
	"github.com/tsclientwatch/tsclientwatch/source/evtx"
	"github.com/tsclientwatch/tsclientwatch/source/file"
	"github.com/tsclientwatch/tsclientwatch/source/jsonl"
)

// headSize is how much of a file is sniffed (source/file's limit).
const headSize = 4096

// maxChunk bounds how much appended data one read takes in. A line or event
// that does not end within it is reported and skipped.
const maxChunk = 8 << 20

// maxSeenBad bounds the memory used to avoid re-reporting the same bad
// record when a whole file is read again.
const maxSeenBad = 4096

// follower tails one file. Line-oriented data (NDJSON, UTF-8 event XML) is
// read from where the last complete line or event ended. EVTX (and UTF-16
// XML, which cannot be cut on byte patterns) is read again whole when it
// changes, and only events beyond those already delivered are passed on.
type follower struct {
	s    *sourceRun
	path string

	// The file being followed; reset when it is replaced or shrinks.
	cur     fs.FileInfo
	format  file.Format
	reread  bool   // whole-file mode
	tail    []byte // incremental: the last bytes before offset, to notice rewrites
	offset  int64  // incremental: bytes consumed; reread: size at last read
	modTime time.Time
	lines   int64 // incremental: lines before offset, for error positions
	records int64 // records before offset (incremental) or delivered (reread)
	// unknownAt is the size at which the format was first unknown: a small
	// file gets one more poll to grow before it is called unreadable.
	unknownAt int64
	broken    bool // the format cannot be followed: wait for a new file
	missing   bool // the file was absent at the last poll
	lastErr   string
	seenBad   map[string]struct{}
}

// follow polls the file until ctx ends.
func (s *sourceRun) follow(ctx context.Context) {
	f := &follower{s: s, path: s.cfg.Path, unknownAt: -1}
	s.setState(StateRunning)
	t := time.NewTicker(s.c.opts.PollInterval)
	defer t.Stop()
	for {
		f.poll(ctx)
		s.markReady()
		select {
		case <-ctx.Done():
			s.setState(StateStopped)
			return
		case <-t.C:
		}
	}
}

// reset forgets the current file, so the next data is read from its start.
func (f *follower) reset() {
	*f = follower{s: f.s, path: f.path, unknownAt: -1, lastErr: f.lastErr}
}

// failOnce reports err unless it is the same as the last one reported, so a
// persistent condition is one error, not one per poll.
func (f *follower) failOnce(err error) {
	if msg := err.Error(); msg != f.lastErr {
		f.lastErr = msg
		f.s.fail(err)
	}
}

func (f *follower) poll(ctx context.Context) {
	fh, err := file.OpenNoWait(f.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Not created yet, or between a rotation's rename and create.
			f.missing = true
			f.s.setState(StateWaiting)
			return
		}
		f.failOnce(err)
		return
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		f.failOnce(fmt.Errorf("%s: %w", f.path, err))
		return
	}
	if fi.IsDir() {
		f.broken = true
		f.failOnce(fmt.Errorf("%s: is a directory; follow needs a file (set follow: false to replay a directory)", f.path))
		f.s.setState(StateFailed)
		return
	}
	if !fi.Mode().IsRegular() {
		// A FIFO or device has no size or offset to follow (and a FIFO
		// opened for reading without a writer blocks in open(2), which
		// OpenNoWait avoided).
		f.broken = true
		f.failOnce(fmt.Errorf("%s: not a regular file (%s); follow needs a file (set follow: false to read a pipe once)", f.path, fi.Mode().Type()))
		f.s.setState(StateFailed)
		return
	}
	if f.missing {
		f.missing = false
		f.s.setState(StateRunning)
	}
	if f.cur != nil {
		changed := fi.Size() != f.cur.Size() || !fi.ModTime().Equal(f.cur.ModTime())
		switch {
		case !os.SameFile(f.cur, fi):
			f.reset() // rotated: a new file under the same name
		case fi.Size() < f.offset:
			f.reset() // truncated
		case changed && f.broken:
			f.reset() // rewritten (a file system may reuse the inode): try again
		case changed && !f.reread && !f.tailMatches(fh):
			// Truncated and written past the old end between two polls:
			// the bytes before the offset are not those we read.
			f.reset()
		}
	}
	f.cur = fi
	if f.broken {
		return
	}
	if f.format == file.Unknown && !f.sniff(fh, fi.Size()) {
		return
	}
	if f.reread {
		f.readWhole(ctx, fh, fi)
	} else {
		f.readAppended(ctx, fh, fi.Size())
	}
	if err := f.s.flush(ctx); err != nil && ctx.Err() == nil {
		f.failOnce(err)
	}
}

// sniff settles the file's format. It returns false while there is too
// little data to tell, and when the format cannot be followed.
func (f *follower) sniff(fh *os.File, size int64) bool {
	if size == 0 {
		return false
	}
	head := make([]byte, min(size, headSize))
	n, err := fh.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		f.failOnce(fmt.Errorf("read %s: %w", f.path, err))
		return false
	}
	head = head[:n]
	switch format := file.Sniff(head); format {
	case file.JSON:
		f.format = format
	case file.EventXML:
		f.format = format
		// UTF-16 cannot be cut on the bytes of "</Event>" reliably.
		f.reread = bytes.HasPrefix(head, []byte{0xff, 0xfe}) || bytes.HasPrefix(head, []byte{0xfe, 0xff})
	case file.EVTX:
		f.format = format
		f.reread = true
	case file.Gzip:
		f.broken = true
		f.failOnce(fmt.Errorf("%s: gzip-compressed files cannot be followed (set follow: false to replay it)", f.path))
		return false
	default:
		if size < headSize && size != f.unknownAt {
			f.unknownAt = size // may be a partly written first record
			return false
		}
		f.broken = true
		f.failOnce(fmt.Errorf("%s: unknown format (want EVTX, Windows event XML or JSON lines); waiting for the file to be replaced", f.path))
		return false
	}
	return true
}

// readAppended reads the complete lines or events appended since the last
// poll.
func (f *follower) readAppended(ctx context.Context, fh *os.File, size int64) {
	for f.offset < size && ctx.Err() == nil {
		n := min(size-f.offset, maxChunk)
		buf := make([]byte, n)
		got, err := fh.ReadAt(buf, f.offset)
		if err != nil && !errors.Is(err, io.EOF) {
			f.failOnce(fmt.Errorf("read %s at offset %d: %w", f.path, f.offset, err))
			return
		}
		buf = buf[:got]
		cut := f.boundary(buf)
		if cut == 0 {
			if int64(got) < maxChunk {
				return // the last line or event is still being written
			}
			f.s.fail(&source.RecordError{File: f.path, Line: f.lines + 1, Offset: f.offset,
				Err: fmt.Errorf("no complete %s record within %d bytes; skipped", f.format, maxChunk)})
			cut = got
		}
		chunk := buf[:cut]
		f.readChunk(ctx, chunk)
		f.offset += int64(cut)
		f.lines += int64(bytes.Count(chunk, []byte{'\n'}))
		keep := min(len(chunk), tailSize)
		f.tail = append(f.tail[:0], chunk[len(chunk)-keep:]...)
	}
}

// tailSize is how many bytes before the offset are kept to recognize the
// file on the next poll.
const tailSize = 64

// tailMatches reports whether the bytes before the offset are still those
// read last time. With fewer than tailSize bytes kept (a file of one short
// line), a rewrite of identical bytes goes unnoticed, and so does nothing.
func (f *follower) tailMatches(fh *os.File) bool {
	if len(f.tail) == 0 {
		return true
	}
	buf := make([]byte, len(f.tail))
	if _, err := fh.ReadAt(buf, f.offset-int64(len(buf))); err != nil {
		return false
	}
	return bytes.Equal(buf, f.tail)
}

// boundary returns the length of buf's complete records: up to its last
// newline (JSON lines) or the end of its last </Event> (XML).
func (f *follower) boundary(buf []byte) int {
	if f.format == file.EventXML {
		const end = "</Event>"
		if i := bytes.LastIndex(buf, []byte(end)); i >= 0 {
			return i + len(end)
		}
		return 0
	}
	return bytes.LastIndexByte(buf, '\n') + 1
}

// readChunk decodes appended data, with errors placed in the whole file.
func (f *follower) readChunk(ctx context.Context, chunk []byte) {
	sink := f.s.sink(ctx)
	base, lines, records := f.offset, f.lines, f.records
	sink.Bad = func(re *source.RecordError) {
		shifted := *re
		if shifted.Offset >= 0 {
			shifted.Offset += base
		}
		if shifted.Line > 0 {
			shifted.Line += lines
		}
		if shifted.Record > 0 {
			shifted.Record += records
		}
		f.s.fail(&shifted)
	}
	var st source.Stats
	var err error
	if f.format == file.EventXML {
		st, err = eventxml.Options{MaxEventSize: f.s.c.opts.MaxRecordBytes}.Read(ctx, bytes.NewReader(chunk), f.path, sink)
	} else {
		var js jsonl.Stats
		js, err = jsonl.ReadWith(ctx, bytes.NewReader(chunk), f.path, sink, jsonl.Options{MaxDocument: f.s.c.opts.MaxRecordBytes})
		st = js.Stats
	}
	f.records += st.Records
	if err != nil && ctx.Err() == nil {
		f.s.fail(fmt.Errorf("%s: data appended at offset %d: %w", f.path, base, err))
	}
}

// readWhole reads the file again when it changed and passes on only the
// events after those already delivered (records are appended in order, so
// a count identifies them), and bad records not reported before.
func (f *follower) readWhole(ctx context.Context, fh *os.File, fi fs.FileInfo) {
	size := fi.Size()
	if size == f.offset && fi.ModTime().Equal(f.modTime) {
		return
	}
	inner := f.s.sink(ctx)
	var n int64
	sink := source.Sink{
		Event: func(ev *detector.Event) error {
			n++
			if n <= f.records {
				return nil
			}
			f.records = n
			return inner.Event(ev)
		},
		Bad: func(re *source.RecordError) {
			key := re.Error()
			if _, seen := f.seenBad[key]; seen {
				return
			}
			if f.seenBad == nil {
				f.seenBad = make(map[string]struct{})
			}
			if len(f.seenBad) < maxSeenBad {
				f.seenBad[key] = struct{}{}
			}
			inner.Report(re)
		},
	}
	var err error
	if f.format == file.EVTX {
		_, err = evtx.Read(ctx, io.NewSectionReader(fh, 0, size), size, f.path, sink)
	} else {
		_, err = eventxml.Options{MaxEventSize: f.s.c.opts.MaxRecordBytes}.Read(ctx, io.NewSectionReader(fh, 0, size), f.path, sink)
	}
	if err != nil && ctx.Err() == nil {
		// A log being written may be caught mid-chunk; the next change
		// triggers another read, so report each distinct error once.
		f.failOnce(err)
	}
	f.offset, f.modTime = size, fi.ModTime()
}
