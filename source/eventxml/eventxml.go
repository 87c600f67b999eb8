// Package eventxml reads Windows event XML: the <Event> elements wevtutil
// (`qe ... /f:xml`), PowerShell (`Get-WinEvent | % ToXml`) and EvtRender
// write, concatenated with no root element or wrapped in <Events>, in UTF-8
// (with or without a BOM) or UTF-16 with a BOM. Each event becomes a
// winevent.Record and then a detector.Event.
//
// The reader is a hand-written scanner for this narrow dialect rather than
// encoding/xml, which it outruns several times over (see the benchmarks). It
// holds one event at a time: memory is bounded by Options.MaxEventSize. A
// malformed event is reported to the sink as a source.RecordError naming the
// event's ordinal, line and byte offset, and reading resumes at the next
// <Event. Limits of the dialect: the Event element must not carry a
// namespace prefix, and character data outside the fields read is checked
// only for markup, not for entity syntax or character ranges.
//
// # Prefilter
//
// With Options.Needles set (detector.Needles(cfg) for the detector configuration in
// use), the reader frames each event, from "<Event" to the first "</Event>",
// and decodes it only if the raw bytes could hold a needle. Everything else
// is a candidate and decoded as usual: a needle in any case, even split by
// tags (the search steps over whole tags between its bytes, because the
// parser joins the text of a Data element's children to its value); any
// character or entity reference that decodes to a byte of some needle, a
// non-ASCII reference when a needle is not ASCII, or a malformed
// reference; a comment, CDATA section or processing instruction anywhere
// in the event ("<!" or "<?"); a nested <Event start tag; an event over
// MaxEventSize or with no "</Event>" before the input ends. Only the
// detector decides what matches: a candidate that turns out not to be a
// process start, or not to match, is decoded and emitted like any event.
//
// A skipped event is counted in Stats.Records and Stats.Skipped, not
// emitted, and checked only for what framing needs: that it starts with an
// <Event start tag, ends with "</Event>" within MaxEventSize, and holds
// neither a nested <Event nor a malformed reference. Other damage inside
// it (mismatched tags, a bad EventID or time, an unquoted attribute, a
// missing System element) is not reported, where a full decode would report
// it as a bad record. On input a full decode reads without bad records, the
// prefilter changes no detection, record count or byte count (the tests
// and FuzzPrefilter check this); on damaged input the two may resume at
// different places after the damage.
package eventxml

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// DefaultMaxEventSize is the largest <Event> element read when
// Options.MaxEventSize is zero. Rendered events are a few KiB; the largest
// real ones (PowerShell script blocks) stay well below this.
const DefaultMaxEventSize = 1 << 20

// readSize is how much the reader asks its source for at a time.
const readSize = 64 << 10

// Options tunes Read. The zero value is ready to use.
type Options struct {
	// MaxEventSize bounds one <Event> element in bytes. A larger one is
	// reported as a bad record and skipped rather than buffered. Zero
	// means DefaultMaxEventSize.
	MaxEventSize int

	// Needles turns on the prefilter: an event whose raw bytes show none
	// of them (ignoring ASCII case) and nothing that could spell one in
	// disguise is framed and counted but not decoded, and nothing is
	// emitted for it. Build them with detector.Needles(cfg) from the configuration
	// of the detector the events go to; only a caller that wants just
	// what that rule can match (a scan) should set them. Nil or empty
	// decodes every event. See the package documentation for what a
	// skipped event is still checked for.
	Needles []string

	parses *int // tests: counts parser runs
}

// Stats counts what ReadWith got through. Stats.Records counts every
// event framed, decoded or skipped, good or bad, as a full decode would;
// Skipped is how many of them the prefilter left undecoded (not emitted,
// never reported as bad).
type Stats struct {
	source.Stats
	Skipped int64
}

// ReadWith is opt.Read returning the prefilter's count as well.
func ReadWith(ctx context.Context, r io.Reader, name string, sink source.Sink, opt Options) (Stats, error) {
	return opt.read(ctx, r, name, sink, nil)
}

// Read decodes every event in r with the default Options. See
// Options.Read.
func Read(ctx context.Context, r io.Reader, name string, sink source.Sink) (source.Stats, error) {
	return Options{}.Read(ctx, r, name, sink)
}

// Read decodes every <Event> element of r, in order, into sink. name is
// the file name used in errors. A malformed event, or text between events
// that is not markup, is reported with sink.Report and skipped. The returned
// error is fatal: r is not XML (or holds no event and only foreign content),
// reading failed, ctx ended, or sink.Event returned an error (returned
// unwrapped). Stats.Records counts events, good and bad, including those
// the prefilter skipped (ReadWith also returns how many); Stats.Bad counts
// reports (bad events and runs of foreign content between events).
func (o Options) Read(ctx context.Context, r io.Reader, name string, sink source.Sink) (source.Stats, error) {
	st, err := o.read(ctx, r, name, sink, nil)
	return st.Stats, err
}

func (o Options) read(ctx context.Context, r io.Reader, name string, sink source.Sink, record func(*winevent.Record) error) (Stats, error) {
	if sink.Event == nil && record == nil {
		return Stats{}, fmt.Errorf("%s: eventxml: Sink.Event is nil", name)
	}
	max := o.MaxEventSize
	if max <= 0 {
		max = DefaultMaxEventSize
	}
	cr := &countingReader{r: r}
	x := &reader{
		ctx:    ctx,
		name:   name,
		sink:   sink,
		max:    max,
		buf:    make([]byte, readSize),
		line:   1,
		record: record,
		parses: o.parses,
		pf:     newPrefilter(o.Needles),
		rec:    winevent.Record{Data: make(map[string]string, 32)},
	}
	if err := x.open(cr); err != nil {
		return Stats{Stats: source.Stats{Bytes: cr.n}}, err
	}
	err := x.run()
	x.stats.Bytes = cr.n
	return x.stats, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// reader is the state of one Read call.
type reader struct {
	ctx  context.Context
	name string
	sink source.Sink
	max  int

	r    io.Reader // UTF-8 text
	buf  []byte
	pos  int // buf[pos:end] is read and not yet consumed
	end  int
	base int64 // text offset of buf[0]
	eof  bool
	err  error // read error, returned once the buffer is drained

	// Positions: newlines are counted up to text offset lineOff, lazily, so
	// the common path only pays for a bytes.Count over each byte once.
	line    int64
	lineOff int64
	utf16   bool  // text offsets differ from file offsets
	units   int64 // UTF-16 code units before lineOff
	prefix  int64 // file bytes before the text (the UTF-16 BOM)

	ordinal int64
	stats   Stats
	pf      *prefilter // nil: decode every event
	p       parser
	rec     winevent.Record
	ev      detector.Event
	// record, when set, receives each decoded Record instead of the sink
	// (tests use it to check Record fields).
	record func(*winevent.Record) error
	parses *int
	// early holds foreign content seen before the first event: reported
	// if an event follows, else the input is not event XML at all.
	early *source.RecordError
}

// open detects the encoding from the first bytes and sets up x.r.
func (x *reader) open(cr *countingReader) error {
	var head [2]byte
	n, err := io.ReadFull(cr, head[:])
	if err != nil && err != io.ErrUnexpectedEOF {
		if err == io.EOF {
			x.r = cr
			return nil
		}
		return fmt.Errorf("read %s: %w", x.name, err)
	}
	h := head[:n]
	switch {
	case n == 2 && h[0] == 0xFF && h[1] == 0xFE:
		x.r, x.utf16, x.prefix = newUTF16Reader(cr, false), true, 2
	case n == 2 && h[0] == 0xFE && h[1] == 0xFF:
		x.r, x.utf16, x.prefix = newUTF16Reader(cr, true), true, 2
	case n == 2 && h[0] != 0 && h[1] == 0: // UTF-16LE without a BOM
		x.r, x.utf16 = newUTF16Reader(io.MultiReader(bytes.NewReader(h), cr), false), true
	case n == 2 && h[0] == 0 && h[1] != 0:
		x.r, x.utf16 = newUTF16Reader(io.MultiReader(bytes.NewReader(h), cr), true), true
	default:
		x.r = io.MultiReader(bytes.NewReader(h), cr)
	}
	return nil
}

// fill reads more input into the buffer, first dropping consumed bytes and
// growing the buffer when it is full (never beyond what one event of the
// maximum size needs).
func (x *reader) fill() {
	if x.eof {
		return
	}
	if err := x.ctx.Err(); err != nil {
		x.eof, x.err = true, err
		return
	}
	if x.pos > 0 {
		x.position(x.base + int64(x.pos))
		x.end = copy(x.buf, x.buf[x.pos:x.end])
		x.base += int64(x.pos)
		x.pos = 0
	}
	if x.end == len(x.buf) {
		n := min(2*len(x.buf), x.max+readSize)
		if n <= len(x.buf) {
			// Callers never ask for more than max+readSize bytes; should
			// one do so, fail the input rather than loop or panic.
			x.eof, x.err = true, fmt.Errorf("%s: internal error: event buffer limit reached", x.name)
			return
		}
		b := make([]byte, n)
		copy(b, x.buf[:x.end])
		x.buf = b
	}
	n, err := x.r.Read(x.buf[x.end:])
	x.end += n
	if err == io.EOF {
		x.eof = true
	} else if err != nil {
		x.eof, x.err = true, fmt.Errorf("read %s: %w", x.name, err)
	}
}

// avail returns the unconsumed bytes.
func (x *reader) avail() []byte { return x.buf[x.pos:x.end] }

// ensure reads until n bytes are buffered or the input ends.
func (x *reader) ensure(n int) []byte {
	for x.end-x.pos < n && !x.eof {
		x.fill()
	}
	return x.avail()
}

// position returns the line number and file offset of text offset off,
// which must not be before the last offset asked for and must still be
// buffered.
func (x *reader) position(off int64) (line, fileOff int64) {
	seg := x.buf[x.lineOff-x.base : off-x.base]
	x.line += int64(bytes.Count(seg, []byte{'\n'}))
	if x.utf16 {
		x.units += utf16Units(seg)
	}
	x.lineOff = off
	if x.utf16 {
		return x.line, x.prefix + 2*x.units
	}
	return x.line, off
}

// report sends a bad-record error for the data at text offset off.
func (x *reader) report(off int64, record int64, err error) {
	line, fo := x.position(off)
	x.stats.Bad++
	x.sink.Report(&source.RecordError{File: x.name, Record: record, Line: line, Offset: fo, Err: err})
}

var (
	eventTag   = []byte("<Event")
	eventEnd   = []byte("</Event>")
	utf8BOM    = []byte("\xEF\xBB\xBF")
	eventEndV  = bytes.IndexByte(eventEnd, 'v') // where indexEventEnd searches
	eventTagV  = bytes.IndexByte(eventTag, 'v') // where hasNestedEvent searches
	errNotXML  = errors.New("not XML")
	errNoEvent = errors.New("no <Event> element found")
)

// indexEventEnd is bytes.Index(b, eventEnd), searching on the 'v' of
// "</Event>": bytes.Index starts from '<', which every tag holds, and
// framing would cost more than the prefilter.
func indexEventEnd(b []byte) int {
	v := eventEndV
	for i := v; i < len(b); {
		j := bytes.IndexByte(b[i:], 'v')
		if j < 0 {
			return -1
		}
		i += j
		if i+len(eventEnd)-v <= len(b) && string(b[i-v:i-v+len(eventEnd)]) == string(eventEnd) {
			return i - v
		}
		i++
	}
	return -1
}

// isEventStart reports whether b begins with an <Event start tag (not
// <Events or <EventData). ok is false when b is too short to tell.
func isEventStart(b []byte, eof bool) (is, ok bool) {
	if !bytes.HasPrefix(b, eventTag) {
		return false, len(b) >= len(eventTag) || eof || !bytes.HasPrefix(eventTag, b)
	}
	if len(b) == len(eventTag) {
		return eof, eof // "<Event" at the very end: a truncated event
	}
	c := b[len(eventTag)]
	return isSpace(c) || c == '>' || c == '/', true
}

// hasTag reports whether b begins with "<"+name followed by a delimiter.
func hasTag(b []byte, tag string) bool {
	if len(b) <= len(tag) || string(b[:len(tag)]) != tag {
		return false
	}
	c := b[len(tag)]
	return isSpace(c) || c == '>' || c == '/'
}

func (x *reader) run() error {
	first := true
	for {
		b := x.ensure(1)
		// White space between events.
		i := 0
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		x.pos += i
		if i == len(b) {
			if x.eof {
				break
			}
			continue
		}
		b = x.ensure(16)
		if first {
			first = false
			if x.base == 0 && x.pos == 0 && bytes.HasPrefix(b, utf8BOM) {
				x.pos += len(utf8BOM)
				first = true
				continue
			}
			// Text before the first event is tolerated (a header line a
			// tool wrote) only if an event follows soon; otherwise the
			// input is not event XML and nothing more is read.
			if b[0] != '<' {
				if head := x.ensure(readSize); !bytes.Contains(head, eventTag) {
					return fmt.Errorf("%s: %w: starts with %q", x.name, errNotXML, clip(head, 16))
				}
			}
		}
		if is, _ := isEventStart(b, x.eof); is {
			if err := x.event(); err != nil {
				return err
			}
			continue
		}
		var skipped bool
		switch {
		case bytes.HasPrefix(b, []byte("<?")):
			skipped = x.skipPast("?>")
		case bytes.HasPrefix(b, []byte("<!--")):
			skipped = x.skipPast("-->")
		case bytes.HasPrefix(b, []byte("<!DOCTYPE")), hasTag(b, "<Events"), hasTag(b, "</Events"):
			skipped = x.skipPast(">")
		}
		if !skipped {
			x.foreign()
		}
	}
	if x.err != nil {
		return x.err
	}
	if x.ordinal == 0 && x.early != nil {
		return fmt.Errorf("%s: %w: %w", x.name, errNoEvent, x.early)
	}
	return nil
}

// skipPast consumes a top-level construct up to and including term. It
// gives up (consuming nothing) when term is not within the first 64 KiB.
func (x *reader) skipPast(term string) bool {
	from := 2
	for {
		b := x.avail()
		if k := bytes.Index(b[from:], []byte(term)); k >= 0 {
			x.pos += from + k + len(term)
			return true
		}
		if x.eof || len(b) >= readSize {
			return false
		}
		from = max(2, len(b)-len(term)+1)
		x.fill()
	}
}

// foreign reports content between events that is not markup the reader
// knows, and skips to the next <Event.
func (x *reader) foreign() {
	off := x.base + int64(x.pos)
	err := fmt.Errorf("unexpected %q between events (after event %d)", clip(x.ensure(24), 24), x.ordinal)
	if x.ordinal == 0 && x.early == nil {
		line, fo := x.position(off)
		x.early = &source.RecordError{File: x.name, Line: line, Offset: fo, Err: err}
	} else {
		x.report(off, 0, err)
	}
	x.skipToEvent(1)
}

// skipToEvent discards input up to the next <Event start tag at or after
// byte from of the unconsumed input, or up to the end of input.
func (x *reader) skipToEvent(from int) {
	for {
		b := x.avail()
		next := len(b) // where the search resumes once more is read
		for from < len(b) {
			k := bytes.Index(b[from:], eventTag)
			if k < 0 {
				// Keep a tail that may hold an "<Event" cut by the read.
				next = max(from, len(b)-len(eventTag)+1)
				break
			}
			at := from + k
			is, ok := isEventStart(b[at:], x.eof)
			if !ok {
				next = at // need the byte after "<Event"
				break
			}
			if is {
				x.pos += at
				return
			}
			from = at + 1
		}
		if x.eof {
			x.pos = x.end
			return
		}
		next = min(next, len(b))
		x.pos += next
		from = 0
		x.fill()
	}
}

// event decodes the event starting at x.pos and hands it to the sink.
func (x *reader) event() error {
	x.ordinal++
	x.stats.Records++
	if x.early != nil {
		x.stats.Bad++
		x.sink.Report(x.early)
		x.early = nil
	}
	if x.ordinal%64 == 0 {
		if err := x.ctx.Err(); err != nil {
			return err
		}
	}
	start := x.base + int64(x.pos)
	searched := 0
	failed := 0 // bytes held at the last parse that ran out of input
	for {
		b := x.avail()
		k := -1
		if searched < len(b) {
			if k = indexEventEnd(b[searched:]); k >= 0 {
				k += searched
			}
		}
		if k >= 0 && failed == 0 && x.pf != nil && k+len(eventEnd) <= x.max && x.pf.skippable(b[:k+len(eventEnd)]) {
			x.pos += k + len(eventEnd)
			x.stats.Skipped++
			return nil
		}
		big := len(b) >= x.max
		if k >= 0 && len(b) >= 2*failed || x.eof || big {
			clear(x.rec.Data)
			x.rec = winevent.Record{Data: x.rec.Data}
			if x.parses != nil {
				*x.parses++
			}
			n, err := x.p.decode(b[:min(len(b), x.max)], &x.rec)
			if err == nil {
				x.pos += n
				if x.record != nil {
					return x.record(&x.rec)
				}
				x.rec.Event(&x.ev)
				return x.sink.Emit(&x.ev)
			}
			if err != errShort || x.eof || big {
				if x.err != nil && err == errShort {
					return x.err // a read error or cancellation cut the event
				}
				switch {
				case err == errShort && big:
					err = fmt.Errorf("event larger than %d bytes", x.max)
				case err == errShort:
					err = fmt.Errorf("truncated: %w", errShort)
				}
				x.report(start, x.ordinal, err)
				x.skipToEvent(1)
				return nil
			}
			// The </Event> found was inside a comment or CDATA section,
			// and so is every other one buffered (the parser ran out of
			// input). Parse again only once a new one has arrived and the
			// event has doubled, so a hostile event full of them costs
			// linear work however small the reads are.
			searched = max(k+1, len(b)-len(eventEnd)+1)
			failed = len(b)
		} else {
			searched = max(0, len(b)-len(eventEnd)+1)
		}
		x.fill()
	}
}
