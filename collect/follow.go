package collect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

// fpSize is how many first bytes of a line-oriented file its fingerprint
// covers (Filebeat's default): enough to tell apart two logs, or a log and
// its rewritten self, that share an inode.
const fpSize = 1024

// follower tails one file. Line-oriented data (NDJSON, UTF-8 event XML) is
// read from where the last complete line or event ended. EVTX (and UTF-16
// XML, which cannot be cut on byte patterns) is read again whole when it
// changes, and only events beyond those already delivered are passed on:
// those with a record id above the highest delivered, or, without record
// ids, beyond the count delivered.
//
// With each batch of detections the follower stores its cursor (the file's
// device and inode, a fingerprint of its first bytes, the offset), so a
// restarted process goes on where the stored detections end. When the file
// was replaced meanwhile (rotated: renamed, and a new one created) the old
// file is looked for in the same directory and read to its end first; when
// it was truncated after being copied (copytruncate), the copy is found by
// its fingerprint. Identities in the store make any overlap harmless.
type follower struct {
	s    *sourceRun
	path string
	name string // the file being read: path, or a rotated file being finished

	// saved is the cursor of the previous process, until the first poll
	// has used it.
	saved *fileCursor
	// committed is the cursor last handed to the store.
	committed []byte

	// The file being followed; reset when it is replaced or shrinks.
	cur     fs.FileInfo
	format  file.Format
	reread  bool   // whole-file mode
	tail    []byte // incremental: the last bytes before offset, to notice rewrites
	offset  int64  // incremental: bytes consumed; reread: size at last read
	modTime time.Time
	lines   int64 // incremental: lines before offset, for error positions
	records int64 // records before offset (incremental) or delivered (reread)
	// recordID is the highest record delivered (reread mode): EVTX, the
	// record's number in the file; XML, its EventRecordID.
	recordID uint64
	dev, ino uint64 // the file's identity
	fp       []byte // SHA-256 of the first fpLen bytes (incremental)
	fpLen    int64
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
	f := &follower{s: s, path: s.cfg.Path, name: s.cfg.Path, unknownAt: -1}
	if c, ok := decodeFileCursor(s.c.opts.Store.Cursor(s.key)); ok {
		f.saved = &c
		s.mu.Lock()
		s.status.Cursor = "resumed from " + c.describe()
		s.mu.Unlock()
	}
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
	*f = follower{s: f.s, path: f.path, name: f.path, unknownAt: -1, lastErr: f.lastErr, committed: f.committed}
}

// cursorNow is where the follower stands.
func (f *follower) cursorNow() fileCursor {
	return fileCursor{Dev: f.dev, Ino: f.ino, FP: f.fp, FPLen: f.fpLen, Offset: f.offset,
		Lines: f.lines, Records: f.records, RecordID: f.recordID}
}

// commit stores the detections read so far with the follower's cursor, if
// the cursor moved since the last commit.
func (f *follower) commit(ctx context.Context) {
	c := f.cursorNow()
	b := c.encode()
	if bytes.Equal(b, f.committed) && len(f.s.batch) == 0 {
		return
	}
	if err := f.s.flushAt(ctx, b); err != nil && ctx.Err() == nil {
		f.failOnce(err)
		return
	}
	f.committed = b
	f.s.mu.Lock()
	f.s.status.Cursor = c.describe()
	f.s.mu.Unlock()
}

// restore takes up the cursor of the previous process against the file now
// at the path (fh, fi, identity dev and ino): the same file is read on from
// the stored position; otherwise the stored file is finished first, where
// it can be found.
func (f *follower) restore(ctx context.Context, c fileCursor, fh *os.File, fi os.FileInfo, dev, ino uint64, idOK bool) {
	if idOK && dev == c.Dev && ino == c.Ino {
		if !f.sniff(fh, fi.Size()) {
			return // not readable yet: read from the start once it is
		}
		if f.reread {
			// Read again whole; records already delivered are skipped.
			f.records, f.recordID = c.Records, c.RecordID
			f.dev, f.ino = dev, ino
			return
		}
		if fi.Size() >= c.Offset && fingerprintMatches(fh, c) {
			f.offset, f.lines, f.records = c.Offset, c.Lines, c.Records
			f.fp, f.fpLen = c.FP, c.FPLen
			f.dev, f.ino = dev, ino
			f.tail = readTail(fh, c.Offset)
			f.cur = fi
			return
		}
		// Shrunk, or rewritten under the same inode. Its old content may
		// live on in a copy (copytruncate).
		f.reset()
		f.finishPrevious(ctx, c, true)
		return
	}
	f.finishPrevious(ctx, c, false)
}

// finishPrevious reads to its end the file the cursor c describes, which is
// no longer at the path: renamed in the same directory (found by device and
// inode), or, with byContent, copied (found by its fingerprint). Then the
// follower starts afresh on the file at the path.
func (f *follower) finishPrevious(ctx context.Context, c fileCursor, byContent bool) {
	defer f.reset()
	if c.Offset == 0 && c.Records == 0 && c.RecordID == 0 {
		return // nothing had been read from it
	}
	name, fh := f.findPrevious(c, byContent)
	if fh == nil {
		f.s.warn(fmt.Sprintf("%s: the file read before (%s) was replaced and is not in %s any more; anything written to it after that point was not read",
			f.path, c.describe(), filepath.Dir(f.path)))
		return
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return
	}
	f.name = name
	if !f.sniff(fh, fi.Size()) {
		return
	}
	f.offset, f.lines, f.records, f.recordID = c.Offset, c.Lines, c.Records, c.RecordID
	f.fp, f.fpLen, f.dev, f.ino = c.FP, c.FPLen, c.Dev, c.Ino
	if byContent {
		f.dev, f.ino, _ = fileID(fh, fi)
	}
	if f.reread {
		f.offset = -1 // read it whole
		f.readWhole(ctx, fh, fi)
	} else {
		f.tail = readTail(fh, c.Offset)
		f.readAppended(ctx, fh, fi.Size())
	}
	f.commit(ctx)
}

// findPrevious looks in the followed file's directory for the file c
// describes. It never opens the followed path itself, a FIFO or a device.
func (f *follower) findPrevious(c fileCursor, byContent bool) (string, *os.File) {
	dir := filepath.Dir(f.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil
	}
	self, _ := os.Lstat(f.path)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		if err != nil || self != nil && os.SameFile(fi, self) {
			continue
		}
		if byContent && (c.FPLen == 0 || fi.Size() < c.Offset) {
			continue
		}
		fh, err := file.OpenNoWait(p)
		if err != nil {
			continue
		}
		ofi, err := fh.Stat()
		ok := err == nil && ofi.Mode().IsRegular()
		if ok && byContent {
			ok = fingerprintMatches(fh, c)
		} else if ok {
			dev, ino, idOK := fileID(fh, ofi)
			ok = idOK && dev == c.Dev && ino == c.Ino
		}
		if ok {
			return p, fh
		}
		fh.Close()
	}
	return "", nil
}

// fingerprintMatches reports whether fh begins with the bytes c's
// fingerprint was taken over.
func fingerprintMatches(fh *os.File, c fileCursor) bool {
	if c.FPLen == 0 {
		return c.Offset == 0
	}
	b := make([]byte, c.FPLen)
	if _, err := fh.ReadAt(b, 0); err != nil {
		return false
	}
	sum := sha256.Sum256(b)
	return bytes.Equal(sum[:], c.FP)
}

// readTail returns the bytes before offset that tailMatches compares.
func readTail(fh *os.File, offset int64) []byte {
	n := min(offset, tailSize)
	b := make([]byte, n)
	if _, err := fh.ReadAt(b, offset-n); err != nil {
		return nil
	}
	return b
}

// fingerprint extends the fingerprint to the first fpSize bytes read.
func (f *follower) fingerprint(fh *os.File) {
	n := min(f.offset, fpSize)
	if n <= f.fpLen {
		return
	}
	b := make([]byte, n)
	if _, err := fh.ReadAt(b, 0); err != nil {
		return
	}
	sum := sha256.Sum256(b)
	f.fp, f.fpLen = sum[:], n
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
	dev, ino, idOK := fileID(fh, fi)
	if f.saved != nil {
		c := *f.saved
		f.saved = nil
		f.restore(ctx, c, fh, fi, dev, ino, idOK)
	}
	if f.cur != nil {
		changed := fi.Size() != f.cur.Size() || !fi.ModTime().Equal(f.cur.ModTime())
		switch {
		case !os.SameFile(f.cur, fi):
			// Rotated: a new file under the same name. Finish the old one
			// first: lines written to it after the last poll.
			f.finishPrevious(ctx, f.cursorNow(), false)
		case fi.Size() < f.offset:
			// Truncated; copytruncate leaves the old content in a copy.
			f.finishPrevious(ctx, f.cursorNow(), !f.reread)
		case changed && f.broken:
			f.reset() // rewritten (a file system may reuse the inode): try again
		case changed && !f.reread && !f.tailMatches(fh):
			// Truncated and written past the old end between two polls:
			// the bytes before the offset are not those we read.
			f.reset()
		}
	}
	f.cur = fi
	f.dev, f.ino = dev, ino
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
	f.commit(ctx)
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
		f.failOnce(fmt.Errorf("read %s: %w", f.name, err))
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
			f.failOnce(fmt.Errorf("read %s at offset %d: %w", f.name, f.offset, err))
			return
		}
		buf = buf[:got]
		cut := f.boundary(buf)
		if cut == 0 {
			if int64(got) < maxChunk {
				return // the last line or event is still being written
			}
			f.s.fail(&source.RecordError{File: f.name, Line: f.lines + 1, Offset: f.offset,
				Err: fmt.Errorf("no complete %s record within %d bytes; skipped", f.format, maxChunk)})
			cut = got
		}
		chunk := buf[:cut]
		f.readChunk(ctx, chunk)
		f.offset += int64(cut)
		f.lines += int64(bytes.Count(chunk, []byte{'\n'}))
		keep := min(len(chunk), tailSize)
		f.tail = append(f.tail[:0], chunk[len(chunk)-keep:]...)
		f.fingerprint(fh)
		// The chunk's detections are stored with the position after it.
		f.commit(ctx)
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
		st, err = eventxml.Options{MaxEventSize: f.s.c.opts.MaxRecordBytes}.Read(ctx, bytes.NewReader(chunk), f.name, sink)
	} else {
		var js jsonl.Stats
		js, err = jsonl.ReadWith(ctx, bytes.NewReader(chunk), f.name, sink, jsonl.Options{MaxDocument: f.s.c.opts.MaxRecordBytes})
		st = js.Stats
	}
	f.records += st.Records
	if err != nil && ctx.Err() == nil {
		f.s.fail(fmt.Errorf("%s: data appended at offset %d: %w", f.name, base, err))
	}
}

// readWhole reads the file again when it changed and passes on only the
// events after those already delivered, and bad records not reported
// before. An EVTX record is new when its number in the file (the record
// header's, not System/EventRecordID) is above the highest delivered:
// numbers only grow, even when a full log overwrites its oldest chunks
// (which a count of records would miss), while a forwarded log's
// EventRecordIDs are each source host's and go up and down within the
// file. An XML record with an EventRecordID is new when the id is above
// the highest delivered; records without one are counted (they are
// appended in order).
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
			if f.format == file.EVTX {
				// ReadWith left out what was delivered; Seen moved
				// recordID to this record.
				f.records++
				return inner.Event(ev)
			}
			if ev.RecordID != 0 {
				if ev.RecordID <= f.recordID {
					return nil
				}
				f.recordID = ev.RecordID
				f.records = max(f.records, n)
				return inner.Event(ev)
			}
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
		_, err = evtx.ReadWith(ctx, io.NewSectionReader(fh, 0, size), size, f.name, sink, evtx.Options{
			After: f.recordID,
			Seen:  func(number uint64) { f.recordID = number },
		})
	} else {
		_, err = eventxml.Options{MaxEventSize: f.s.c.opts.MaxRecordBytes}.Read(ctx, io.NewSectionReader(fh, 0, size), f.name, sink)
	}
	if err != nil && ctx.Err() == nil {
		// A log being written may be caught mid-chunk; the next change
		// triggers another read, so report each distinct error once.
		f.failOnce(err)
	}
	f.offset, f.modTime = size, fi.ModTime()
}
