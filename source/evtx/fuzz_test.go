package evtx

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/evtxwrite"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// The fuzz targets below check the invariants the reader promises for
// hostile input. Seeds live in testdata/fuzz (committed, so `go test` runs
// them) and are also added here from testdata and the writer; hand-made
// hostile chunks come from the builders at the end of this file.
//
// Run one for a while with
//
//	go test -run '^$' -fuzz '^FuzzChunk$' -fuzztime 10m -fuzzminimizetime 0x ./source/evtx/
//
// Inputs are 64 KiB and more: minimizing each new interesting one (60 s by
// default) takes most of the run, hence -fuzzminimizetime 0x.

// fuzzAllocBound is the most one fuzz input may allocate in total, per
// decode. A full chunk of real records allocates a few MiB; the guard exists
// so that nothing in 64 KiB can make the decoder allocate gigabytes.
const fuzzAllocBound = 64 << 20

// fuzzChunkIndex and fuzzChunkBase place the fuzzed chunk in an imaginary
// file, so that offsets in reports can be checked against the chunk's span.
const (
	fuzzChunkIndex = 3
	fuzzChunkBase  = fileBlockSize + fuzzChunkIndex*chunkSize
)

var fuzzMatcher = detector.MustNew(detector.DefaultConfig())

// decodeOnce runs one chunk through the path ReadWith takes (frameChunk,
// the prefilter decision, decodeFramed) on a copy of in, and returns the
// events, the reports, and whether the prefilter would skip the chunk.
func decodeOnce(in []byte, n int) (events []detector.Event, bad []*source.RecordError, skip bool) {
	buf := bytes.Clone(in)
	report := func(e *source.RecordError) { bad = append(bad, e) }
	f := frameChunk(buf, n, fuzzChunkIndex, fuzzChunkBase, "fuzz.evtx", report)
	ns := newNeedleSet(detector.Needles(detector.DefaultConfig()))
	skip = len(f.spans) > 0 && !ns.contains(buf[chunkHeaderSize:f.limit])
	var ev detector.Event
	decodeFramed(buf, f, fuzzChunkIndex, fuzzChunkBase, "fuzz.evtx", func(rec *winevent.Record) bool {
		rec.Event(&ev)
		events = append(events, ev)
		return true
	}, report)
	return events, bad, skip
}

// fixChunkSums writes correct header and data checksums into chunk, so
// the fuzzer also reaches the path that trusts the free space offset.
func fixChunkSums(chunk []byte) {
	le := binary.LittleEndian
	if free := int(le.Uint32(chunk[chunkFreeSpaceOff:])); free >= chunkHeaderSize && free <= chunkSize {
		le.PutUint32(chunk[chunkDataSumOff:], crc32.ChecksumIEEE(chunk[chunkHeaderSize:free]))
	}
	sum := crc32.ChecksumIEEE(chunk[:120])
	le.PutUint32(chunk[chunkHeaderSumOff:], crc32.Update(sum, crc32.IEEETable, chunk[128:chunkHeaderSize]))
}

// checkReports fails t for a report that hides a decoder panic or does not
// name the file and an offset in [lo, hi).
func checkReports(t *testing.T, bad []*source.RecordError, lo, hi int64) {
	t.Helper()
	for _, e := range bad {
		msg := e.Error()
		if strings.Contains(msg, "decoder panic") {
			t.Fatalf("decoder panicked (recovered by the reader): %s", msg)
		}
		if e.File != "fuzz.evtx" || !strings.HasPrefix(msg, "fuzz.evtx") {
			t.Errorf("report does not name the file: %q", msg)
		}
		if e.Offset < lo || e.Offset >= hi {
			t.Errorf("report offset %d outside [%d, %d): %q", e.Offset, lo, hi, msg)
		}
	}
}

// FuzzChunk feeds arbitrary bytes as one chunk (zero-padded or cut to
// 64 KiB) through framing, the prefilter decision and the guarded decoder.
// fixSums writes valid checksums first. Invariants: no decoder panic (the
// reader would recover it, so its report counts as a failure), allocation
// bounded, every report names the file and an offset inside the chunk,
// and a chunk the prefilter skips yields no detection when decoded.
func FuzzChunk(f *testing.F) {
	for _, c := range seedChunks(f) {
		f.Add(c, true)
		f.Add(c, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, fixSums bool) {
		chunk := make([]byte, chunkSize)
		copy(chunk, data)
		if fixSums {
			fixChunkSums(chunk)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		events, bad, skip := decodeOnce(chunk, chunkSize)
		runtime.ReadMemStats(&after)
		if a := after.TotalAlloc - before.TotalAlloc; a > fuzzAllocBound {
			t.Fatalf("one chunk allocated %d bytes (bound %d)", a, fuzzAllocBound)
		}
		checkReports(t, bad, fuzzChunkBase, fuzzChunkBase+chunkSize)
		if skip {
			if d, _ := fuzzMatcher.Detect(context.Background(), events, nil); len(d) > 0 {
				t.Fatalf("prefilter skips a chunk whose decode detects %+v", d)
			}
		}
		// A truncated chunk takes the same path with fewer bytes from the
		// file (the rest of buf zero, as ReadWith leaves it): cut it where
		// the fuzzer's input ends. Reports then point into the bytes read
		// or at the end of the file.
		if n := len(data); n < chunkSize {
			clear(chunk[n:])
			_, bad, _ := decodeOnce(chunk, n)
			checkReports(t, bad, fuzzChunkBase, fuzzChunkBase+int64(n)+1)
		}
	})
}

// fuzzRun is one ReadWith of a fuzzed file.
type fuzzRun struct {
	events []detector.Event
	bad    []*source.RecordError
	stats  Stats
	err    error
}

func fuzzRead(b []byte, opt Options) fuzzRun {
	var r fuzzRun
	r.stats, r.err = ReadWith(context.Background(), bytes.NewReader(b), int64(len(b)), "fuzz.evtx", source.Sink{
		Event: func(ev *detector.Event) error { r.events = append(r.events, *ev); return nil },
		Bad:   func(e *source.RecordError) { r.bad = append(r.bad, e) },
	}, opt)
	return r
}

func (r fuzzRun) badText() []string {
	s := make([]string, len(r.bad))
	for i, e := range r.bad {
		s[i] = e.Error()
	}
	return s
}

// documentedFatal tells the errors ReadWith may return for a file it can
// read: anything else (a panic, an I/O error from a bytes.Reader) is a bug.
func documentedFatal(err error) bool {
	msg := fmt.Sprint(err)
	return errors.Is(err, ErrNotEVTX) || strings.Contains(msg, "truncated EVTX file header") ||
		strings.Contains(msg, "unsupported EVTX format version")
}

// FuzzFile reads arbitrary bytes as a file, behind a valid file header or
// as they are, with 1 and 2 workers and with and without the prefilter.
// Invariants: only the documented fatal errors; no decoder panic; reports
// name the file and an offset inside it; 1 and 2 workers give identical
// events, reports and stats; the prefilter changes no detection; and the
// stats add up.
func FuzzFile(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b, false)
		f.Add(b[fileBlockSize:], true)
	}
	header := writerFile(f, 1)[:fileBlockSize]
	f.Fuzz(func(t *testing.T, data []byte, withHeader bool) {
		if withHeader {
			data = append(bytes.Clone(header), data...)
		}
		full := fuzzRead(data, Options{Workers: 1})
		if full.err != nil {
			if !documentedFatal(full.err) {
				t.Fatalf("undocumented fatal error: %v", full.err)
			}
			return
		}
		// A truncation is reported at the end of the file.
		checkReports(t, full.bad, 0, int64(len(data))+1)
		var bad, withID int64
		for _, e := range full.bad {
			bad++
			if e.Record > 0 {
				withID++
			}
		}
		if full.stats.Bad != bad || full.stats.Records != int64(len(full.events))+withID ||
			full.stats.Bytes != int64(len(data)) || full.stats.ChunksSkipped != 0 || full.stats.RecordsSkipped != 0 {
			t.Errorf("stats %+v for %d events, %d reports (%d with a record id), %d bytes",
				full.stats, len(full.events), bad, withID, len(data))
		}
		par := fuzzRead(data, Options{Workers: 2})
		if fmt.Sprint(par.err) != fmt.Sprint(full.err) || !slices.Equal(par.events, full.events) ||
			!slices.Equal(par.badText(), full.badText()) || par.stats != full.stats {
			t.Fatalf("2 workers differ from 1: err %v/%v, %d/%d events, bad %q/%q, stats %+v/%+v",
				par.err, full.err, len(par.events), len(full.events), par.badText(), full.badText(), par.stats, full.stats)
		}
		want, _ := fuzzMatcher.Detect(context.Background(), full.events, nil)
		fullBad := full.badText()
		for _, w := range []int{1, 2} {
			pre := fuzzRead(data, Options{Prefilter: true, Config: detector.DefaultConfig(), Workers: w})
			if pre.err != nil {
				t.Fatalf("prefilter, %d workers: fatal error %v", w, pre.err)
			}
			got, _ := fuzzMatcher.Detect(context.Background(), pre.events, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("prefilter, %d workers: detections %+v, full decode %+v", w, got, want)
			}
			for _, msg := range pre.badText() {
				if !slices.Contains(fullBad, msg) {
					t.Errorf("prefilter, %d workers: reported %q, the full decode did not", w, msg)
				}
			}
			if pre.stats.Chunks != full.stats.Chunks || pre.stats.Bytes != full.stats.Bytes {
				t.Errorf("prefilter, %d workers: stats %+v, full %+v", w, pre.stats, full.stats)
			}
			if got := pre.stats.Records + pre.stats.RecordsSkipped; got != full.stats.Records &&
				!slices.ContainsFunc(fullBad, isXMLDamage) {
				t.Errorf("prefilter, %d workers: records %d + skipped %d != full %d", w,
					pre.stats.Records, pre.stats.RecordsSkipped, full.stats.Records)
			}
		}
	})
}

// writerFile returns a file of about chunks full chunks from the writer:
// the sample positives repeated with fresh record ids.
func writerFile(tb testing.TB, chunks int) []byte {
	tb.Helper()
	samples := evtxwrite.TSClientSamples()
	var evs []evtxwrite.Event
	var buf bytes.Buffer
	for id := uint64(1); ; id++ {
		ev := samples[int(id-1)%len(samples)]
		ev.RecordID = id
		ev.TimeCreated = ev.TimeCreated.Add(time.Duration(id) * time.Second)
		evs = append(evs, ev)
		buf.Reset()
		if err := evtxwrite.Write(&buf, evs); err != nil {
			tb.Fatal(err)
		}
		if buf.Len() >= fileBlockSize+chunks*chunkSize {
			return bytes.Clone(buf.Bytes())
		}
	}
}

// seedChunks returns the chunks the corpus starts from: the project's
// sample file, writer output, hand-made templated records, and hostile
// variants of them.
func seedChunks(tb testing.TB) [][]byte {
	tb.Helper()
	sample, err := os.ReadFile(testdir.Testdata(tb, "evtx", "tsclient_positive.evtx"))
	if err != nil {
		tb.Fatal(err)
	}
	w := writerFile(tb, 2)
	chunks := [][]byte{
		sample[fileBlockSize : fileBlockSize+chunkSize],
		w[fileBlockSize : fileBlockSize+chunkSize],
		templateChunk(tb, templateOpts{}),
		templateChunk(tb, templateOpts{uses: 3}),
		templateChunk(tb, templateOpts{nargs: 0xFFFFFFF0}),
		templateChunk(tb, templateOpts{nargs: 16000, argLen: 0xFFFF, argType: 0x0E}),
		templateChunk(tb, templateOpts{sidLen: 0xFFFF}),
		templateChunk(tb, templateOpts{defOff: 0xFFFFFF00}),
		templateChunk(tb, templateOpts{defOff: 0x80}),
		templateChunk(tb, templateOpts{nest: 200}),
		templateChunk(tb, templateOpts{openDepth: 2000}),
		templateChunk(tb, templateOpts{nargs: 14000, argType: 0x21, tailText: 2000}),
		templateChunk(tb, templateOpts{openDepth: 1500, uses: 1000}),
		plainChunk(tb, 3, false),
		plainChunk(tb, 3, true),
		templateChunk(tb, templateOpts{extraType: 0x86, extraLen: 3}),
		templateChunk(tb, templateOpts{extraType: 0x12, extraLen: 8}),
	}
	return chunks
}

// seedFiles returns whole files: the sample and a 3-chunk file.
func seedFiles(tb testing.TB) [][]byte {
	tb.Helper()
	sample, err := os.ReadFile(testdir.Testdata(tb, "evtx", "tsclient_positive.evtx"))
	if err != nil {
		tb.Fatal(err)
	}
	// Three chunks: writer, templated, writer.
	w := writerFile(tb, 2)
	mixed := slices.Concat(w[:fileBlockSize+chunkSize], templateChunk(tb, templateOpts{uses: 2}),
		w[fileBlockSize+chunkSize:])
	return [][]byte{sample, mixed}
}

// templateOpts shapes the record templateChunk builds. The zero value is a
// well-formed Security 4688 record from a client drive, as Windows writes
// it: one inline template definition and typed values.
type templateOpts struct {
	uses      int    // further records that reuse the template by offset
	nargs     uint32 // value count written instead of the real one
	argLen    uint16 // with nargs: length of each extra value
	argType   uint16 // with nargs: type of each extra value
	sidLen    uint16 // add a SID value of this declared length
	defOff    uint32 // definition offset written instead of the real one
	nest      int    // wrap the body in this many nested BinXml values
	openDepth int    // elements opened and never closed in the body
	tailText  int    // a text token of this many characters after the values
	extraType uint16 // add an unreferenced value of this type
	extraLen  uint16 // and this many (zero) bytes
}

// bx appends binary XML tokens into a chunk buffer; pos is the chunk offset
// of the next byte, which inline names and definitions need. Element
// starts carry a dependency identifier, as inside a template definition,
// unless plain is set (a record's own elements, outside any template).
type bx struct {
	b     []byte
	pos   int
	plain bool
}

func (x *bx) u8(v byte)    { x.b = append(x.b, v) }
func (x *bx) u16(v uint16) { x.b = binary.LittleEndian.AppendUint16(x.b, v) }
func (x *bx) u32(v uint32) { x.b = binary.LittleEndian.AppendUint32(x.b, v) }
func (x *bx) at() int      { return x.pos + len(x.b) }

func utf16LE(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// name writes an inline name (the offset field points right behind itself).
func (x *bx) name(s string) {
	x.u32(uint32(x.at() + 4))
	x.u32(0) // next string
	x.u16(0) // hash, not checked by the decoder
	x.u16(uint16(len(utf16.Encode([]rune(s)))))
	x.b = append(x.b, utf16LE(s)...)
	x.u16(0)
}

func (x *bx) open(name string, attrs bool) {
	if attrs {
		x.u8(0x41)
	} else {
		x.u8(0x01)
	}
	if !x.plain {
		x.u16(0) // dependency identifier
	}
	x.u32(0)
	x.name(name)
	if attrs {
		x.u32(0)
	}
}

func (x *bx) attr(name, value string) {
	x.u8(0x06)
	x.name(name)
	x.text(value)
}

func (x *bx) text(s string) {
	x.u8(0x05)
	x.u8(0x01)
	x.u16(uint16(len(utf16.Encode([]rune(s)))))
	x.b = append(x.b, utf16LE(s)...)
}

func (x *bx) sub(id uint16, typ byte) { x.u8(0x0D); x.u16(id); x.u8(typ) }

// element writes <name>body</name>.
func (x *bx) element(name string, body func()) {
	x.open(name, false)
	x.u8(0x02)
	body()
	x.u8(0x04)
}

// data writes <Data Name="name">%sub%</Data>.
func (x *bx) data(name string, sub uint16, typ byte) {
	x.open("Data", true)
	x.attr("Name", name)
	x.u8(0x02)
	x.sub(sub, typ)
	x.u8(0x04)
}

// templateChunk builds a chunk of records that instantiate one template
// (Security 4688: EventID, NewProcessName and CommandLine substituted),
// defined inline in the first record and referred to by offset in the
// others, with correct checksums.
func templateChunk(tb testing.TB, o templateOpts) []byte {
	tb.Helper()
	c := make([]byte, chunkSize)
	off := chunkHeaderSize
	values := [][]byte{
		binary.LittleEndian.AppendUint16(nil, 4688),
		utf16LE(`\Device\Mup\tsclient\C\Tools\x.exe`),
		utf16LE(`"\\tsclient\C\Tools\x.exe" -run`),
	}
	types := []uint16{0x06, 0x01, 0x01}
	if o.sidLen > 0 {
		values = append(values, []byte{1, 5, 0, 0, 0, 0, 0, 5, 0x12, 0, 0, 0})
		types = append(types, 0x13)
	}
	if o.extraType != 0 {
		values = append(values, make([]byte, o.extraLen))
		types = append(types, o.extraType)
	}
	var defAt uint32
	for r := 0; r <= o.uses; r++ {
		x := &bx{pos: off + recordHeaderSize}
		x.b = append(x.b, 0x0F, 0x01, 0x01, 0x00)
		x.u8(0x0C)
		x.u8(0x01)
		inline := r == 0
		if inline {
			defAt = uint32(x.at() + 8)
		}
		x.u32(defAt + 4) // the id repeats the GUID's first four bytes (at def+4)
		if o.defOff != 0 {
			x.u32(o.defOff)
		} else {
			x.u32(defAt)
		}
		if inline {
			x.u32(0) // next definition
			x.u32(defAt + 4)
			x.b = append(x.b, make([]byte, 12)...) // rest of the GUID
			sizeAt := len(x.b)
			x.u32(0)
			bodyStart := len(x.b)
			x.b = append(x.b, 0x0F, 0x01, 0x01, 0x00)
			for range o.openDepth {
				x.open("N", false)
				x.u8(0x02)
			}
			x.element("Event", func() {
				x.element("System", func() {
					x.open("Provider", true)
					x.attr("Name", winevent.ProviderSecurity)
					x.u8(0x03)
					x.element("EventID", func() { x.sub(0, 0x06) })
					x.element("Channel", func() { x.text(winevent.ChannelSecurity) })
					x.element("Computer", func() { x.text("ws01") })
				})
				x.element("EventData", func() {
					x.data("NewProcessName", 1, 0x01)
					x.data("CommandLine", 2, 0x01)
					if o.sidLen > 0 {
						x.data("SubjectUserSid", 3, 0x13)
					}
				})
			})
			x.u8(0x00)
			binary.LittleEndian.PutUint32(x.b[sizeAt:], uint32(len(x.b)-bodyStart))
		}
		switch {
		case o.nest > 0:
			// One BinXml value opening another fragment with a template
			// instance of the same definition, o.nest levels deep.
			x.u32(1)
			for range o.nest {
				x.u16(0x40)
				x.u16(0x21)
				x.b = append(x.b, 0x0F, 0x01, 0x01, 0x00, 0x0C, 0x01)
				x.u32(defAt + 4)
				x.u32(defAt)
				x.u32(1)
			}
			x.u16(0)
			x.u16(0x00)
		default:
			nargs := uint32(len(values))
			if o.nargs != 0 {
				nargs = o.nargs
			}
			x.u32(nargs)
			for i, v := range values {
				l := uint16(len(v))
				if i == 3 && o.sidLen > 0 {
					l = o.sidLen
				}
				x.u16(l)
				x.u16(types[i])
			}
			// Descriptors of extra values, as many as fit.
			for i := len(values); o.argLen|o.argType != 0 && i < int(o.nargs) && i < 15000; i++ {
				x.u16(o.argLen)
				x.u16(o.argType)
			}
			for _, v := range values {
				x.b = append(x.b, v...)
			}
			if o.tailText > 0 {
				// Extra BinXml values of length 0 all parse this in place.
				x.text(strings.Repeat("A", o.tailText))
			}
		}
		x.u8(0x00)
		var ok bool
		if off, ok = putRecord(c, off, uint64(r+1), x.b); !ok {
			break
		}
	}
	finishChunk(c, o.uses+1, off)
	return c
}

// putRecord frames body as record id at chunk offset off and returns the
// offset after it, or false when it does not fit.
func putRecord(c []byte, off int, id uint64, body []byte) (int, bool) {
	size := recordHeaderSize + len(body) + 4
	if off+size > chunkSize {
		return off, false
	}
	rec := c[off:]
	copy(rec, recordMagic)
	binary.LittleEndian.PutUint32(rec[4:], uint32(size))
	binary.LittleEndian.PutUint64(rec[8:], id)
	binary.LittleEndian.PutUint64(rec[16:], 133550000000000000)
	copy(rec[recordHeaderSize:], body)
	binary.LittleEndian.PutUint32(rec[size-4:], uint32(size))
	return off + size, true
}

// finishChunk writes the header of a chunk holding records 1..n, whose
// free space starts at free, with correct checksums.
func finishChunk(c []byte, n, free int) {
	copy(c, chunkMagic)
	le := binary.LittleEndian
	le.PutUint64(c[8:], 1)
	le.PutUint64(c[16:], uint64(n))
	le.PutUint64(c[24:], 1)
	le.PutUint64(c[32:], uint64(n))
	le.PutUint32(c[40:], 128)
	le.PutUint32(c[chunkFreeSpaceOff:], uint32(free))
	fixChunkSums(c)
}

// plainChunk builds a chunk of n records stored without a template, the
// way Windows stores forwarded events (and the real RemoteConnectionManager
// 1149 log in testdata/thirdparty): plain elements, attributes and text, and
// element starts without a dependency identifier. Each is a Security 4688
// from a client drive. depIDs writes the identifiers anyway, the layout
// that older readers (libyal's evtxexport 20181227, python-evtx, Velocidex
// v0.2.0) assume everywhere.
func plainChunk(tb testing.TB, n int, depIDs bool) []byte {
	tb.Helper()
	c := make([]byte, chunkSize)
	off := chunkHeaderSize
	for r := range n {
		x := &bx{pos: off + recordHeaderSize, plain: !depIDs}
		x.b = append(x.b, 0x0F, 0x01, 0x01, 0x00)
		x.open("Event", true)
		x.attr("xmlns", "http://schemas.microsoft.com/win/2004/08/events/event")
		x.u8(0x02)
		x.element("System", func() {
			x.open("Provider", true)
			x.attr("Name", winevent.ProviderSecurity)
			x.u8(0x03)
			x.element("EventID", func() { x.text("4688") })
			x.element("EventRecordID", func() { x.text(fmt.Sprint(5000 + r)) })
			x.element("Channel", func() { x.text(winevent.ChannelSecurity) })
			x.element("Computer", func() { x.text("ws01") })
		})
		x.element("EventData", func() {
			for _, d := range [][2]string{
				{"NewProcessName", `\Device\Mup\tsclient\C\Tools\x.exe`},
				{"CommandLine", `"\\tsclient\C\Tools\x.exe" -run`},
			} {
				x.open("Data", true)
				x.attr("Name", d[0])
				x.u8(0x02)
				x.text(d[1])
				x.u8(0x04)
			}
		})
		x.u8(0x04)
		x.u8(0x00)
		var ok bool
		if off, ok = putRecord(c, off, uint64(r+1), x.b); !ok {
			tb.Fatalf("record %d does not fit", r+1)
		}
	}
	finishChunk(c, n, off)
	return c
}

// TestTemplateChunk checks the hand-made templated chunk the fuzz seeds
// start from: it decodes to the intended event, which the rule detects,
// and each hostile variant is refused with a report, not decoded.
func TestTemplateChunk(t *testing.T) {
	events, bad, skip := decodeOnce(templateChunk(t, templateOpts{uses: 2}), chunkSize)
	if len(bad) != 0 || len(events) != 3 || skip {
		t.Fatalf("bad %v, %d events, skip %v", bad, len(events), skip)
	}
	if ev := events[2]; ev.Type != detector.TypeStart || ev.Executable != `\Device\Mup\tsclient\C\Tools\x.exe` ||
		ev.CommandLine != `"\\tsclient\C\Tools\x.exe" -run` {
		t.Fatalf("event %+v", ev)
	}
	if d, _ := fuzzMatcher.Detect(context.Background(), events, nil); len(d) != 3 {
		t.Fatalf("detections %+v, want 3", d)
	}
	for _, tc := range []struct {
		o    templateOpts
		want string // the guard's reason
	}{
		{templateOpts{nargs: 0xFFFFFFF0}, "declares 4294967280 values"},
		{templateOpts{defOff: 0xFFFFFF00}, "no matching definition"},
		{templateOpts{nest: 200}, "nested deeper than"},
		{templateOpts{nargs: 16000, argLen: 0xFFFF, argType: 0x0E}, "declares 16000 values"},
		{templateOpts{sidLen: 0xFFFF}, "SID value of 65535 bytes"},
		{templateOpts{nargs: 14000, argType: 0x21, tailText: 2000}, "declares 14000 values"},
		// Over the decoder's own cap, which it applies only to a
		// definition it already knows.
		{templateOpts{nargs: 12000, argType: 0x04}, "declares 12000 values (at most 10240)"},
		// A short SYSTEMTIME is read past its end; a partial array
		// element panics the decoder.
		{templateOpts{extraType: 0x12, extraLen: 8}, "SYSTEMTIME value of 8 bytes"},
		{templateOpts{extraType: 0x86, extraLen: 3}, "array value of 3 bytes"},
		{templateOpts{extraType: 0x8A, extraLen: 12}, "array value of 12 bytes"},
		{templateOpts{extraType: 0x95, extraLen: 20}, "array value of 20 bytes"},
	} {
		events, bad, _ := decodeOnce(templateChunk(t, tc.o), chunkSize)
		if len(events) != 0 || len(bad) != 1 || !strings.Contains(bad[0].Error(), "binary XML: ") ||
			!strings.Contains(bad[0].Error(), tc.want) {
			t.Errorf("%+v: %d events, bad %v; want the record refused: %s", tc.o, len(events), bad, tc.want)
		}
	}
	// Unguarded, a partial array element panics the decoder, which loses
	// the whole chunk.
	for _, o := range []templateOpts{{extraType: 0x86, extraLen: 3}, {extraType: 0x8A, extraLen: 12}} {
		if _, err := parseRecords(templateChunk(t, o)); err == nil || !strings.Contains(err.Error(), "decoder panic") {
			t.Errorf("%+v: decoder alone gives %v; the guard is what keeps the chunk", o, err)
		}
	}
	// Well-formed values of the types the decoder learned after v0.2.0.
	for _, o := range []templateOpts{
		{extraType: 0x07, extraLen: 4}, {extraType: 0x09, extraLen: 8}, {extraType: 0x0B, extraLen: 4},
		{extraType: 0x0C, extraLen: 8}, {extraType: 0x12, extraLen: 16}, {extraType: 0x86, extraLen: 6},
		{extraType: 0x8A, extraLen: 16}, {extraType: 0x95, extraLen: 24},
	} {
		events, bad, _ := decodeOnce(templateChunk(t, o), chunkSize)
		if len(events) != 1 || len(bad) != 0 || events[0].Executable != `\Device\Mup\tsclient\C\Tools\x.exe` {
			t.Errorf("%+v: events %+v, bad %v; want the record decoded", o, events, bad)
		}
	}
}

// TestWriteFuzzSeeds regenerates testdata/fuzz from the builders above
// when TSW_WRITE_FUZZ_SEEDS is set; committed seeds are what `go test`
// runs and what `-fuzz` starts from. Chunk seeds lose their trailing
// zeros (FuzzChunk pads them back).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("TSW_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set TSW_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	names := []string{"sample", "writer", "template", "template-reused", "huge-value-count",
		"values-past-end", "sid-64k", "bad-definition-offset", "definition-in-header",
		"nested-binxml-200", "open-depth-2000", "binxml-reparse", "template-bomb",
		"plain-records", "plain-records-with-dependency-ids", "uint16-array-odd-length", "systemtime-short"}
	write := func(target, name string, b []byte, flag bool) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		text := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbool(%v)\n", b, flag)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range seedChunks(t) {
		write("FuzzChunk", names[i], bytes.TrimRight(c, "\x00"), false)
	}
	for i, b := range seedFiles(t) {
		write("FuzzFile", []string{"sample", "writer-template-writer"}[i], b, false)
	}
}
