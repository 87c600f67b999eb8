package eventxml

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf16"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
)

// badWant is one expected report.
type badWant struct {
	record int64
	line   int64
	offset int64
	text   string // substring of the error message
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	a := processEvent(1, `C:\a.exe`)
	b := processEvent(2, `\\tsclient\c\b.exe`)
	c := processEvent(3, `C:\c.exe`)
	ab := int64(len(a) + len(b))
	giant := sysmonEvent(1, 9, "<Data Name='CommandLine'>"+strings.Repeat("x", 10000)+"</Data>")
	tests := []struct {
		name  string
		input string
		opts  Options
		good  []uint64 // EventRecordIDs read, in order
		bad   []badWant
		fatal error
	}{
		{
			name: "truncated last event", input: a + b + c[:len(c)/2],
			good: []uint64{1, 2}, bad: []badWant{{3, 1, ab, "truncated"}},
		},
		{
			name: "input ends right after <Event", input: a + "\n<Event",
			good: []uint64{1}, bad: []badWant{{2, 2, int64(len(a)) + 1, "truncated"}},
		},
		{
			name: "garbage between events", input: a + "\r\nthis is not xml\r\n" + b + "\n" + c,
			good: []uint64{1, 2, 3}, bad: []badWant{{0, 2, int64(len(a)) + 2, `"this is not xml`}},
		},
		{
			name: "garbage before the first event", input: "junk\n" + a,
			good: []uint64{1}, bad: []badWant{{0, 1, 0, `after event 0`}},
		},
		{
			name: "foreign element between events", input: a + "<Foo>bar</Foo>" + b,
			good: []uint64{1, 2}, bad: []badWant{{0, 1, int64(len(a)), `"<Foo>bar`}},
		},
		{
			name: "unclosed tag", input: a + strings.Replace(b, "</Data>", "", 1) + c,
			good: []uint64{1, 3}, bad: []badWant{{2, 1, int64(len(a)), "</EventData> closes <Data>"}},
		},
		{
			name: "truncated event followed by the next", input: a[:700] + "\r\n" + b + c,
			good: []uint64{2, 3}, bad: []badWant{{1, 1, 0, "not closed before the next <Event>"}},
		},
		{
			name: "stray end tag", input: a + strings.Replace(b, "<Version>5</Version>", "</Version>", 1) + c,
			good: []uint64{1, 3}, bad: []badWant{{2, 1, int64(len(a)), "</Version> closes <System>"}},
		},
		{
			name: "unknown entity", input: a + strings.Replace(b, "hello", "&nbsp;", 1) + c,
			good: []uint64{1, 3}, bad: []badWant{{2, 1, int64(len(a)), `invalid entity reference "&nbsp;"`}},
		},
		{
			name: "bare ampersand", input: a + strings.Replace(b, "hello", "R&D", 1) + c,
			good: []uint64{1, 3}, bad: []badWant{{2, 1, int64(len(a)), `invalid entity reference`}},
		},
		{
			name: "unquoted attribute", input: a + strings.Replace(b, "Name='Image'", "Name=Image", 1) + c,
			good: []uint64{1, 3}, bad: []badWant{{2, 1, int64(len(a)), "not quoted"}},
		},
		{
			name: "bad event id", input: a + strings.Replace(b, "<EventID>1<", "<EventID>one<", 1) + c,
			good: []uint64{1, 3}, bad: []badWant{{2, 1, int64(len(a)), `EventID "one"`}},
		},
		{
			name: "bad time", input: a + strings.Replace(b, "2026-03-14T09", "yesterday", 1) + c,
			good: []uint64{1, 3}, bad: []badWant{{2, 1, int64(len(a)), `SystemTime "yesterday`}},
		},
		{
			name: "no System", input: a + "<Event><EventData/></Event>" + b,
			good: []uint64{1, 2}, bad: []badWant{{2, 1, int64(len(a)), "no <System>"}},
		},
		{
			name: "event over the size cap", input: a + "\n" + giant + "\n" + b, opts: Options{MaxEventSize: 4096},
			good: []uint64{1, 2}, bad: []badWant{{2, 2, int64(len(a)) + 1, "larger than 4096 bytes"}},
		},
		{
			name: "under the size cap", input: a + "\n" + giant + "\n" + b, opts: Options{MaxEventSize: 16384},
			good: []uint64{1, 9, 2},
		},
		{
			name: "several bad events", input: a[:100] + b[:100] + c,
			good: []uint64{3}, bad: []badWant{{1, 1, 0, "next <Event>"}, {2, 1, 100, "next <Event>"}},
		},
		{
			name: "not XML", input: "Hello, this is a text file.\n", fatal: errNotXML,
		},
		{
			name: "JSON", input: `{"Event": {"System": {}}}`, fatal: errNotXML,
		},
		{
			name: "XML without events", input: "<?xml version='1.0'?>\n<html><body>Event</body></html>", fatal: errNoEvent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := readRecordsOpts(t, strings.NewReader(tt.input), "bad.xml", tt.opts)
			if tt.fatal != nil {
				if !errors.Is(res.err, tt.fatal) || !strings.Contains(res.err.Error(), "bad.xml") {
					t.Fatalf("err = %v, want %v naming the file", res.err, tt.fatal)
				}
				return
			}
			if res.err != nil {
				t.Fatalf("fatal error %v", res.err)
			}
			var got []uint64
			for _, r := range res.recs {
				got = append(got, r.RecordID)
			}
			if !equal(got, tt.good) {
				t.Errorf("good records %v, want %v", got, tt.good)
			}
			if len(res.bad) != len(tt.bad) {
				t.Fatalf("%d reports, want %d: %v", len(res.bad), len(tt.bad), res.bad)
			}
			for i, w := range tt.bad {
				e := res.bad[i]
				if e.File != "bad.xml" || e.Record != w.record || e.Line != w.line || e.Offset != w.offset ||
					!strings.Contains(e.Error(), w.text) {
					t.Errorf("report %d = {record %d line %d offset %d} %q\nwant {record %d line %d offset %d} containing %q",
						i, e.Record, e.Line, e.Offset, e.Error(), w.record, w.line, w.offset, w.text)
				}
			}
			if res.stats.Bad != int64(len(tt.bad)) || res.stats.Bytes != int64(len(tt.input)) {
				t.Errorf("stats %+v", res.stats)
			}
		})
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestMalformedUTF16 checks that positions in a UTF-16 file are file
// offsets and lines, not offsets in the transcoded text.
func TestMalformedUTF16(t *testing.T) {
	t.Parallel()
	text := string(mustRead(t, "xml", "security_4688_tsclient.xml"))
	third := strings.Index(text, "<Event xmlns")
	for range 2 {
		third += 1 + strings.Index(text[third+1:], "<Event xmlns")
	}
	cut := strings.Replace(text, "<Keywords>", "<Keywords", 3) // breaks the third event only
	cut = strings.Replace(cut, "<Keywords", "<Keywords>", 2)
	units := utf16.Encode([]rune(cut))
	raw := []byte{0xFF, 0xFE}
	for _, u := range units {
		raw = append(raw, byte(u), byte(u>>8))
	}
	res := readRecords(t, bytes.NewReader(raw), "u16.xml")
	if res.err != nil || len(res.recs) != 3 || len(res.bad) != 1 {
		t.Fatalf("err %v, %d records, bad %v", res.err, len(res.recs), res.bad)
	}
	wantLine := int64(strings.Count(text[:third], "\n") + 1)
	wantOff := int64(2 + 2*len(utf16.Encode([]rune(text[:third]))))
	if e := res.bad[0]; e.Record != 3 || e.Line != wantLine || e.Offset != wantOff {
		t.Errorf("report %v: record %d line %d offset %d, want 3, %d, %d", e, e.Record, e.Line, e.Offset, wantLine, wantOff)
	}
}

// endless yields a prefix, then n bytes of filler, then a suffix, without
// holding the filler.
type endless struct {
	prefix, suffix []byte
	filler         byte
	n              int
}

func (e *endless) Read(p []byte) (int, error) {
	switch {
	case len(e.prefix) > 0:
		k := copy(p, e.prefix)
		e.prefix = e.prefix[k:]
		return k, nil
	case e.n > 0:
		k := min(len(p), e.n)
		for i := range p[:k] {
			p[i] = e.filler
		}
		e.n -= k
		return k, nil
	case len(e.suffix) > 0:
		k := copy(p, e.suffix)
		e.suffix = e.suffix[k:]
		return k, nil
	}
	return 0, io.EOF
}

// TestMemoryBounded feeds a 64 MiB event and 64 MiB of garbage and checks
// that the reader allocates a small multiple of its cap, not the input.
// Not parallel: it reads the process-wide allocation counter.
func TestMemoryBounded(t *testing.T) {
	const size = 64 << 20
	a := processEvent(1, `C:\a.exe`)
	b := processEvent(2, `C:\b.exe`)
	gPrefix, gSuffix, _ := strings.Cut(sysmonEvent(1, 5, "<Data Name='x'>FILL</Data>"), "FILL")
	tests := []struct {
		name string
		in   *endless
		bad  string
	}{
		{"giant event", &endless{prefix: []byte(a + gPrefix), filler: 'x', n: size, suffix: []byte(gSuffix + b)}, "larger than"},
		{"giant garbage", &endless{prefix: []byte(a + "\n"), filler: 'g', n: size, suffix: []byte(b)}, "between events"},
		{"giant comment-like run", &endless{prefix: []byte(a + "<Event"), filler: ' ', n: size, suffix: []byte(b)}, "larger than"},
	}
	for _, tt := range tests {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		res := readRecordsOpts(t, tt.in, "big.xml", Options{})
		runtime.ReadMemStats(&after)
		if res.err != nil || len(res.recs) != 2 || len(res.bad) != 1 || !strings.Contains(res.bad[0].Error(), tt.bad) {
			t.Errorf("%s: err %v, %d records, bad %v", tt.name, res.err, len(res.recs), res.bad)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*DefaultMaxEventSize {
			t.Errorf("%s: allocated %d bytes for a %d byte input", tt.name, alloc, size)
		}
	}
}

// TestSinkMapping checks that Read's events are the Records' mapping and
// that bad records reach Sink.Bad with a nil-safe Report.
func TestSinkMapping(t *testing.T) {
	t.Parallel()
	in := processEvent(1, `C:\a.exe`) + "<Event>" + processEvent(2, `C:\b.exe`)
	var evs []detector.Event
	st, err := Read(context.Background(), strings.NewReader(in), "m.xml", source.Sink{
		Event: func(ev *detector.Event) error { evs = append(evs, *ev); return nil },
	})
	if err != nil || len(evs) != 2 || st.Records != 3 || st.Bad != 1 {
		t.Fatalf("err %v, %d events, stats %+v", err, len(evs), st)
	}
	if evs[1].Executable != `C:\b.exe` || evs[1].PID != 2 || evs[1].Type != detector.TypeStart {
		t.Errorf("event 2 = %+v", evs[1])
	}
}

// TestManyEndTagsInCDATA guards against re-parsing a large event once per
// "</Event>" hidden in CDATA or comments (quadratic work on hostile input).
func TestManyEndTagsInCDATA(t *testing.T) {
	t.Parallel()
	const n = 40000
	hidden := strings.Repeat("<![CDATA[</Event>]]><!--</Event>-->", n/2)
	in := processEvent(1, `C:\a.exe`) + sysmonEvent(1, 2, "<Data Name='v'>"+hidden+"</Data>") + processEvent(3, `C:\c.exe`)
	for _, small := range []bool{false, true} {
		var r io.Reader = strings.NewReader(in)
		if small {
			r = iotest.OneByteReader(r)
		}
		parses := 0
		res := readRecordsOpts(t, r, "cdata.xml", Options{parses: &parses})
		if res.err != nil || len(res.bad) != 0 || len(res.recs) != 3 {
			t.Fatalf("err %v bad %v records %d", res.err, res.bad, len(res.recs))
		}
		if got := res.recs[1].Data["v"]; got != strings.Repeat("</Event>", n/2) {
			t.Errorf("value has %d bytes", len(got))
		}
		// The hidden event (~720 KB) may be parsed once per doubling.
		if parses > 30 {
			t.Errorf("one-byte reads %v: %d parser runs for 3 events", small, parses)
		}
	}
}
