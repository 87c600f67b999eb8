// Package jsonl reads JSON event files: NDJSON (one document a line), a
// single or several concatenated pretty-printed documents, JSON arrays of
// documents (winlogbeat golden files, Kibana exports), Elasticsearch hits
// ({"_index":...,"_source":{...}} a line) and whole search responses
// ({"hits":{"hits":[...]}}), and evtx_dump's output with its "Record N"
// lines. Each document goes to the Windows JSON mapping (source/winjson)
// when it is a Windows event export, and to the ECS mapping (source/ecs)
// otherwise.
//
// Input is streamed: only one line or document is held at a time, and an
// array is decoded element by element. A line or document longer than the
// cap is reported and skipped without being held whole, and one nested
// deeper than MaxDepth is reported without being decoded.
//
// With Options.Prefilter, a document is decoded only when its raw bytes
// could hold what the rule matches (a needle, ignoring ASCII case, or a \u
// escape); the others are counted and skipped after a structural check.
// Most event logs are nearly all benign, so a scan then runs at the speed
// of the byte search, several times that of decoding.
package jsonl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/ecs"
	"github.com/tsclientwatch/tsclientwatch/source/winjson"
	"github.com/valyala/fastjson"
)

// DefaultMaxDocument is the default cap on one line or document.
const DefaultMaxDocument = 16 << 20

// MaxDepth is how deeply arrays and objects may nest in a document that
// is decoded. Event documents nest a handful of levels. The decoder stops
// at 300 on its own, but builds its error message level by level, which
// costs about a millisecond and a megabyte per document near that depth:
// a file of such lines would crawl. Deeper documents are reported bad
// before decoding.
const MaxDepth = 64

// chunk is the read size, and the buffer's size until a longer document
// needs more.
const chunk = 64 << 10

// Options tunes ReadWith. The zero value decodes every document.
type Options struct {
	// MaxDocument caps the bytes of one NDJSON line or one document. Longer
	// ones are reported to the sink and skipped. 0 means DefaultMaxDocument.
	MaxDocument int
	// Prefilter skips the decoding of documents the rule cannot fire on:
	// those whose raw bytes hold none of the needles (ignoring ASCII
	// case), no \u escape (which could spell a needle in disguise) and no
	// "hits" (see Stats). A skipped document gets only the structural
	// check every document gets, in both modes: its first byte is '{' or
	// '[', its last '}' or ']', and it holds no NUL byte; failing that it
	// is reported bad. Passing, it is counted in Stats.RecordsSkipped and
	// reported to Skipped, and is not emitted: only a caller that wants
	// just what the rule can match (scan) should set it. Its other damage
	// (bad syntax inside, unbalanced brackets, a field of the wrong type)
	// is not seen. UTF-8 validity is checked in neither mode (see
	// checkShape).
	Prefilter bool
	// Config is the detector configuration the events will be matched
	// with; the needles are Needles(Config) unless Needles is set.
	Config detector.Config
	// Needles, when not nil, replaces the needles derived from Config. An
	// empty string among them makes every document a candidate.
	Needles []string
	// Skipped, if not nil, receives counts of documents the prefilter
	// skipped, from the reading goroutine, at least once per read of the
	// input and once at the end, so a caller's progress counts them as
	// they go.
	Skipped func(n int64)
}

// Stats counts what ReadWith got through. Stats.Records counts the
// documents decoded or found bad; with the prefilter on, RecordsSkipped
// counts the documents that were not decoded, so Records+RecordsSkipped is
// what a full parse counts. (A document holding "hits", which may be a
// search response counting one record per hit, is always decoded.)
type Stats struct {
	source.Stats
	RecordsSkipped int64
}

// Read decodes the JSON events of r with default options: every document
// is decoded and emitted. name is the file name used in errors. See
// ReadWith.
func Read(ctx context.Context, r io.Reader, name string, sink source.Sink) (source.Stats, error) {
	st, err := ReadWith(ctx, r, name, sink, Options{})
	return st.Stats, err
}

// ReadWith decodes the JSON events of r, emitting one detector.Event per
// document (per hit of an Elasticsearch search response), except those
// the prefilter skips. A document that is not valid JSON, has a field of
// the wrong type or is over the cap goes to sink.Report and reading
// continues. The error returned is fatal: the input is not JSON at all, a
// read failed, an array is malformed beyond recovery, ctx ended, or
// sink.Event failed.
//
// Memory is bounded by the cap: one read buffer that grows to hold the
// longest document read, up to MaxDocument plus one read.
func ReadWith(ctx context.Context, r io.Reader, name string, sink source.Sink, opt Options) (Stats, error) {
	return newReader(ctx, r, name, sink, opt).read()
}

func newReader(ctx context.Context, r io.Reader, name string, sink source.Sink, opt Options) *reader {
	max := opt.MaxDocument
	if max <= 0 {
		max = DefaultMaxDocument
	}
	rd := &reader{
		ctx:    ctx,
		src:    r,
		name:   name,
		sink:   sink,
		max:    max,
		buf:    make([]byte, min(chunk, max+1)),
		line:   1,
		onSkip: opt.Skipped,
	}
	if opt.Prefilter {
		needles := opt.Needles
		if needles == nil {
			needles = Needles(opt.Config)
		}
		rd.pf = newPrefilter(needles)
	}
	return rd
}

func (r *reader) read() (st Stats, err error) {
	defer func() {
		// A bug in a decoder must not take a scanner running as root over
		// a fleet's logs down: the input is abandoned with an error naming
		// it, and the others are still read. Fuzz tests fail on this text.
		if p := recover(); p != nil {
			st = r.stats
			err = fmt.Errorf("%s: internal error near offset %d (please report): %v", r.name, r.base+int64(r.pos), p)
		}
	}()
	err = r.run()
	r.flushSkipped()
	r.stats.Bytes = r.base + int64(r.pos)
	return r.stats, err
}

// Sniff reports whether head (the first bytes of a file) looks like JSON:
// its first byte other than a UTF-8 byte order mark and white space is '{'
// or '[', or it is evtx_dump output (a "Record N" line, then '{').
func Sniff(head []byte) bool {
	head = bytes.TrimPrefix(head, bom)
	for i, c := range head {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		case 'R':
			return recordThenObject(head[i:])
		}
		return false
	}
	return false
}

// recordHeaderMax bounds the "Record N" line evtx_dump writes.
const recordHeaderMax = 32

// recordThenObject reports whether b starts with an evtx_dump "Record N"
// line followed by '{'.
func recordThenObject(b []byte) bool {
	line, rest, ok := bytes.Cut(b, newline)
	line = bytes.TrimSpace(line)
	if !ok || !bytes.HasPrefix(line, recordHeader) || !isDigits(line[len(recordHeader):]) {
		return false
	}
	rest = bytes.TrimLeft(rest, " \t\r\n")
	return len(rest) > 0 && rest[0] == '{'
}

var bom = []byte{0xEF, 0xBB, 0xBF}

type reader struct {
	ctx  context.Context
	src  io.Reader
	name string
	sink source.Sink
	max  int

	// buf[pos:end] is read but not consumed; buf[0] is at file offset base.
	buf       []byte
	pos, end  int
	base      int64
	eof       bool
	line      int64 // line number of buf[pos]
	sinceTick int

	parser  fastjson.Parser
	ecs     ecs.Mapper
	win     winjson.Mapper
	ev      detector.Event
	stats   Stats
	ordinal int64 // documents seen, for RecordError.Record

	pf     *prefilter // nil: decode everything
	onSkip func(int64)
	unsaid int64 // skipped documents not yet passed to onSkip
}

// errStop carries a fatal error out of the document callbacks.
type errStop struct{ err error }

func (r *reader) run() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if err := r.need(len(bom)); err != nil {
		return err
	}
	if bytes.HasPrefix(r.buf[r.pos:r.end], bom) {
		r.pos += len(bom)
	}
	c, err := r.skipSpace()
	if err != nil || c < 0 {
		return err
	}
	switch c {
	case '{':
		ndjson, err := r.looksNDJSON()
		if err != nil {
			return err
		}
		if ndjson {
			return r.lines()
		}
		return r.values()
	case '[':
		return r.values()
	case 'R':
		if err := r.need(recordHeaderMax); err != nil {
			return err
		}
		if recordThenObject(r.buf[r.pos:r.end]) {
			return r.values()
		}
	}
	if r.base+int64(r.pos) == 0 && r.end-r.pos >= 2 && (c == 0xFF && r.buf[1] == 0xFE || c == 0xFE && r.buf[1] == 0xFF) {
		return fmt.Errorf("%s: not JSON: UTF-16 byte order mark at offset 0 (convert the file to UTF-8)", r.name)
	}
	return fmt.Errorf("%s: not JSON: first byte %q at offset %d", r.name, rune(c), r.base+int64(r.pos))
}

// fill reads more input after compacting buf so buf[pos:end] starts at 0,
// growing buf when it is full. It reports false at end of input.
func (r *reader) fill() (bool, error) {
	if r.eof {
		return false, nil
	}
	r.flushSkipped()
	if err := r.tick(); err != nil {
		return false, err
	}
	if r.pos > 0 {
		n := copy(r.buf, r.buf[r.pos:r.end])
		r.base += int64(r.pos)
		r.end, r.pos = n, 0
	}
	if r.end == len(r.buf) {
		// Callers stop before a document passes max+1 bytes, so the
		// buffer never grows beyond that plus one chunk.
		size := min(2*len(r.buf), r.max+1+chunk)
		if size <= len(r.buf) {
			return false, fmt.Errorf("%s: internal error: read buffer full at offset %d", r.name, r.base+int64(r.end))
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for range 100 {
		n, err := r.src.Read(r.buf[r.end:])
		r.end += n
		if err == io.EOF {
			r.eof = true
			return n > 0, nil
		}
		if err != nil {
			return n > 0, fmt.Errorf("read %s: %w", r.name, err)
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, fmt.Errorf("read %s: %w", r.name, io.ErrNoProgress)
}

// tick checks ctx every few hundred documents or reads, which keeps
// cancellation prompt without paying for it per document.
func (r *reader) tick() error {
	r.sinceTick++
	if r.sinceTick < 256 {
		return nil
	}
	r.sinceTick = 0
	if err := r.ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	return nil
}

// need makes at least n bytes available at pos unless input ends first.
func (r *reader) need(n int) error {
	for r.end-r.pos < n {
		more, err := r.fill()
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
	return nil
}

// skipSpace consumes white space, counting lines, and returns the next
// byte without consuming it, or -1 at end of input.
func (r *reader) skipSpace() (int, error) {
	for {
		for r.pos < r.end {
			switch c := r.buf[r.pos]; c {
			case '\n':
				r.line++
			case ' ', '\t', '\r':
			default:
				return int(c), nil
			}
			r.pos++
		}
		more, err := r.fill()
		if err != nil {
			return -1, err
		}
		if !more {
			return -1, nil
		}
	}
}

// looksNDJSON decides, with the first document starting at pos, between one
// document a line and pretty-printed documents: NDJSON when the first line
// is a complete value, or when the next non-blank line starts a new object
// (a broken first line must not swallow the good lines after it).
func (r *reader) looksNDJSON() (bool, error) {
	// Peek the first line (up to 1 MiB: a longer first line is a long
	// NDJSON line, pretty printers do not write those).
	peekMax := min(1<<20, r.max+1)
	nl := -1
	for {
		nl = bytes.IndexByte(r.buf[r.pos:r.end], '\n')
		if nl >= 0 || r.end-r.pos >= peekMax {
			break
		}
		more, err := r.fill()
		if err != nil {
			return false, err
		}
		if !more {
			break
		}
	}
	if nl < 0 {
		return true, nil // a single line
	}
	var st scanState
	st.start(r.buf[r.pos])
	if _, done := st.scan(r.buf[r.pos+1 : r.pos+nl]); done {
		return true, nil
	}
	// Look at the first non-blank byte after the first line.
	i := r.pos + nl + 1
	for {
		for ; i < r.end; i++ {
			switch r.buf[i] {
			case ' ', '\t', '\r', '\n':
				continue
			case '{':
				return true, nil
			}
			return false, nil
		}
		off := i - r.pos
		more, err := r.fill()
		if err != nil {
			return false, err
		}
		if !more {
			return false, nil
		}
		i = r.pos + off
	}
}

// lines reads NDJSON: every line is one document; blank lines are skipped.
func (r *reader) lines() error {
	for {
		start, line := r.base+int64(r.pos), r.line
		doc, ok, tooLong, err := r.nextLine()
		if err != nil || !ok {
			return err
		}
		if tooLong {
			r.ordinal++
			r.stats.Records++
			r.bad(r.ordinal, line, start, fmt.Errorf("line longer than %d bytes, skipped", r.max))
			continue
		}
		doc = bytes.TrimSpace(doc)
		if len(doc) == 0 {
			continue
		}
		if err := r.document(doc, line, start); err != nil {
			return err
		}
	}
}

// nextLine consumes the next line and returns it without its terminator;
// the slice is valid until the next read. ok is false at end of input. A
// line over the cap is consumed without being held and reported tooLong.
func (r *reader) nextLine() (line []byte, ok, tooLong bool, err error) {
	scan := r.pos
	for {
		if i := bytes.IndexByte(r.buf[scan:r.end], '\n'); i >= 0 {
			end := scan + i
			line = r.buf[r.pos:end]
			r.pos = end + 1
			r.line++
			return line, true, tooLong, nil
		}
		if r.end-r.pos > r.max {
			// Drop what is buffered; keep looking for the newline.
			tooLong = true
			r.base += int64(r.end)
			r.pos, r.end = 0, 0
		}
		scan = r.end - r.pos
		more, err := r.fill()
		if err != nil {
			return nil, false, false, err
		}
		if !more {
			if r.pos == r.end && !tooLong {
				return nil, false, false, nil
			}
			line = r.buf[r.pos:r.end]
			r.pos = r.end
			return line, true, tooLong, nil
		}
		scan += r.pos
	}
}

// values reads a sequence of top-level JSON values (pretty-printed or
// concatenated documents, arrays of documents), streaming array elements.
func (r *reader) values() error {
	for {
		c, err := r.skipSpace()
		if err != nil || c < 0 {
			return err
		}
		switch c {
		case '[':
			if err := r.array(); err != nil {
				return err
			}
		case '{':
			if err := r.value(); err != nil {
				return err
			}
		default:
			if err := r.junkLine(); err != nil {
				return err
			}
		}
	}
}

// recordHeader is the line evtx_dump prints before each record.
var recordHeader = []byte("Record ")

// junkLine consumes a line that is not JSON between top-level values. The
// "Record N" headers of evtx_dump are expected there and skipped quietly;
// anything else is reported.
func (r *reader) junkLine() error {
	start, lineNo := r.base+int64(r.pos), r.line
	line, _, tooLong, err := r.nextLine()
	if err != nil {
		return err
	}
	line = bytes.TrimSpace(line)
	if !tooLong && bytes.HasPrefix(line, recordHeader) && isDigits(line[len(recordHeader):]) {
		return nil
	}
	r.ordinal++
	r.stats.Records++
	r.bad(r.ordinal, lineNo, start, errors.New("not a JSON object or array; line skipped"))
	return nil
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// value consumes one value starting at pos and handles it as a document.
func (r *reader) value() error {
	start, line := r.base+int64(r.pos), r.line
	doc, tooLong, err := r.scanValue()
	if err != nil {
		return err
	}
	if tooLong {
		r.ordinal++
		r.stats.Records++
		r.bad(r.ordinal, line, start, fmt.Errorf("document longer than %d bytes, skipped", r.max))
		return nil
	}
	return r.document(doc, line, start)
}

// array streams the elements of the array starting at pos. Elements are
// handled one at a time; a malformed element is reported and the next one
// read, but broken array punctuation ends the input.
func (r *reader) array() error {
	r.pos++ // '['
	first := true
	for {
		c, err := r.skipSpace()
		if err != nil {
			return err
		}
		if c < 0 {
			return fmt.Errorf("%s: line %d (offset %d): unexpected end of input inside an array", r.name, r.line, r.base+int64(r.pos))
		}
		if c == ']' {
			r.pos++
			return nil
		}
		if !first {
			if c != ',' {
				return fmt.Errorf("%s: line %d (offset %d): want ',' or ']' between array elements, got %q", r.name, r.line, r.base+int64(r.pos), rune(c))
			}
			r.pos++
			if c, err = r.skipSpace(); err != nil {
				return err
			}
			if c < 0 {
				return fmt.Errorf("%s: line %d (offset %d): unexpected end of input inside an array", r.name, r.line, r.base+int64(r.pos))
			}
		}
		first = false
		if err := r.value(); err != nil {
			return err
		}
	}
}

// scanValue consumes the JSON value starting at pos, finding its end by
// bracket depth and string state, and returns its bytes (valid until the
// next read). A value over the cap is consumed without being held and
// reported tooLong.
func (r *reader) scanValue() (doc []byte, tooLong bool, err error) {
	var st scanState
	st.start(r.buf[r.pos])
	scan := r.pos + 1
	for {
		n, done := st.scan(r.buf[scan:r.end])
		r.line += int64(bytes.Count(r.buf[scan:scan+n], newline))
		scan += n
		if done {
			doc = r.buf[r.pos:scan]
			r.pos = scan
			return doc, tooLong, nil
		}
		if tooLong || r.end-r.pos > r.max {
			// Drop what is buffered and keep scanning for the end.
			tooLong = true
			r.base += int64(r.end)
			r.pos, r.end, scan = 0, 0, 0
		}
		rel := scan - r.pos
		more, err := r.fill()
		if err != nil {
			return nil, false, err
		}
		if !more {
			return nil, false, fmt.Errorf("%s: line %d (offset %d): unexpected end of input inside a JSON value", r.name, r.line, r.base+int64(r.end))
		}
		scan = r.pos + rel
	}
}

var newline = []byte{'\n'}

// scanState finds the end of one JSON value without parsing it.
type scanState struct {
	depth    int
	inString bool
	escape   bool
	literal  bool // a number, true, false or null: ends at a delimiter
}

func (s *scanState) start(c byte) {
	switch c {
	case '{', '[':
		s.depth = 1
	case '"':
		s.inString = true
	default:
		s.literal = true
	}
}

// scan advances over b and returns the number of bytes of b that belong to
// the value and true once the value is complete.
func (s *scanState) scan(b []byte) (int, bool) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if s.inString {
			if s.escape {
				s.escape = false
				continue
			}
			// Jump to the next quote or backslash; strings are most of
			// the bytes.
			j := bytes.IndexAny(b[i:], `"\`)
			if j < 0 {
				return len(b), false
			}
			i += j
			if b[i] == '\\' {
				s.escape = true
				continue
			}
			s.inString = false
			if s.depth == 0 {
				return i + 1, true
			}
			continue
		}
		if s.literal {
			switch c {
			case ',', ']', '}', ' ', '\t', '\r', '\n':
				return i, true
			}
			continue
		}
		switch c {
		case '"':
			s.inString = true
		case '{', '[':
			s.depth++
		case '}', ']':
			s.depth--
			if s.depth == 0 {
				return i + 1, true
			}
		}
	}
	return len(b), false
}

// document parses one document and hands it on; Elasticsearch hits and
// search responses are unwrapped to their _source documents.
func (r *reader) document(doc []byte, line, off int64) error {
	if err := r.tick(); err != nil {
		return err
	}
	if err := checkShape(doc); err != nil {
		r.ordinal++
		r.stats.Records++
		r.bad(r.ordinal, line, off, err)
		return nil
	}
	if r.pf != nil && !r.pf.candidate(doc) {
		r.ordinal++
		r.stats.RecordsSkipped++
		r.unsaid++
		return nil
	}
	if tooDeep(doc, MaxDepth) {
		r.ordinal++
		r.stats.Records++
		r.bad(r.ordinal, line, off, fmt.Errorf("invalid JSON: arrays and objects nested deeper than %d", MaxDepth))
		return nil
	}
	v, err := r.parser.ParseBytes(doc)
	if err != nil {
		r.ordinal++
		r.stats.Records++
		r.bad(r.ordinal, line, off, fmt.Errorf("invalid JSON: %w", err))
		return nil
	}
	if v.Type() == fastjson.TypeObject {
		if hits := v.Get("hits", "hits"); hits != nil && hits.Type() == fastjson.TypeArray {
			a, _ := hits.Array()
			for _, h := range a {
				if err := r.one(hitSource(h), line, off); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return r.one(hitSource(v), line, off)
}

// hitSource returns the document inside an Elasticsearch hit: its _source,
// or its "fields" (dotted names, array values) when _source was not
// returned; any other document is returned as is.
func hitSource(v *fastjson.Value) *fastjson.Value {
	if v.Type() != fastjson.TypeObject || v.Get("_index") == nil && v.Get("_id") == nil {
		return v
	}
	if s := v.Get("_source"); s != nil && s.Type() == fastjson.TypeObject {
		return s
	}
	if f := v.Get("fields"); f != nil && f.Type() == fastjson.TypeObject {
		return f
	}
	return v
}

// one maps a single document and emits its event.
func (r *reader) one(v *fastjson.Value, line, off int64) error {
	r.ordinal++
	r.stats.Records++
	var err error
	if winjson.Detect(v) != winjson.KindNone {
		err = r.win.Map(v, &r.ev)
	} else {
		err = r.ecs.Map(v, &r.ev)
	}
	if err != nil {
		r.bad(r.ordinal, line, off, err)
		return nil
	}
	if err := r.sink.Emit(&r.ev); err != nil {
		return err
	}
	return nil
}

func (r *reader) bad(ordinal, line, off int64, err error) {
	r.stats.Bad++
	r.sink.Report(&source.RecordError{File: r.name, Record: ordinal, Line: line, Offset: off, Err: err})
}

// flushSkipped passes the skipped documents counted since the last call
// to Options.Skipped.
func (r *reader) flushSkipped() {
	if r.unsaid > 0 && r.onSkip != nil {
		r.onSkip(r.unsaid)
	}
	r.unsaid = 0
}

// tooDeep reports whether doc nests arrays and objects deeper than limit.
// Counting the brackets (a vectorized count) settles nearly every document;
// only those with more than limit opening brackets are walked, skipping
// strings.
func tooDeep(doc []byte, limit int) bool {
	if bytes.Count(doc, openBrace)+bytes.Count(doc, openBracket) <= limit {
		return false
	}
	depth := 0
	for i := 0; i < len(doc); i++ {
		switch doc[i] {
		case '"':
			for i++; i < len(doc) && doc[i] != '"'; i++ {
				if doc[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			if depth > limit {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

var openBrace, openBracket = []byte{'{'}, []byte{'['}
