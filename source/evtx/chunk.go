package evtx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
	vevtx "www.velocidex.com/golang/evtx"
)

// Event record framing: a 24-byte header (signature, size, record id,
// written FILETIME), the binary XML, and a copy of the size.
const (
	recordMagic      = "\x2a\x2a\x00\x00"
	recordHeaderSize = 24
	recordMinSize    = recordHeaderSize + 4
)

// Offsets of chunk header fields used here.
const (
	chunkFirstNumberOff = 8
	chunkLastNumberOff  = 16
	chunkFreeSpaceOff   = 48
	chunkDataSumOff     = 52
	chunkHeaderSumOff   = 124
)

// recordSpan is one framed record found by walkRecords.
type recordSpan struct {
	off      int // offset in the chunk
	size     int
	id       uint64
	filetime uint64
	skip     bool // reported already; the decoder was told to ignore it
}

// decodeChunk decodes the chunk in buf (chunkSize bytes, of which the first
// n came from the file; the rest is zero) found at file offset base, chunk
// number index, and calls emit for each good record in order. emit returns
// false to stop. Bad records and chunk damage go to report. decodeChunk may
// rewrite buf (to make the decoder skip bad records). It keeps no state
// between calls, so chunks can be decoded in any order or concurrently, each
// with its own buf.
func decodeChunk(buf []byte, n, index int, base int64, name string,
	emit func(*winevent.Record) bool, report func(*source.RecordError)) {
	f := frameChunk(buf, n, index, base, name, report)
	decodeFramed(buf, f, index, base, name, emit, report)
}

// chunkFrame is what frameChunk found in a chunk: the framed records and
// the end of the region they live in.
type chunkFrame struct {
	spans []recordSpan
	limit int // records (and every byte of their XML) lie in buf[chunkHeaderSize:limit]
}

// frameChunk checks a chunk's signature, header and data checksums, walks
// its record framing, and reports what is wrong, without decoding any
// binary XML. It is cheap (two CRCs and one hop per record), so the
// prefilter runs it on every chunk, including those it then skips: chunk
// and framing damage is reported whether or not the chunk is decoded.
func frameChunk(buf []byte, n, index int, base int64, name string, report func(*source.RecordError)) chunkFrame {
	chunkErr := func(off int, format string, args ...any) {
		report(&source.RecordError{File: name, Offset: base + int64(off),
			Err: fmt.Errorf("chunk %d: "+format, append([]any{index}, args...)...)})
	}
	if string(buf[:len(chunkMagic)]) != chunkMagic {
		if allZero(buf) {
			return chunkFrame{} // preallocated, never written
		}
		chunkErr(0, "bad chunk signature %q, chunk skipped", buf[:len(chunkMagic)])
		return chunkFrame{}
	}
	if n < chunkHeaderSize {
		// The header's checksum and fields lie (partly) beyond the end of
		// the file: nothing in the chunk can be checked or read.
		chunkErr(n, "file ends %d bytes into the chunk, inside its header (truncated)", n)
		return chunkFrame{}
	}
	// Records end at the header's free space offset; what follows is slack
	// holding remnants of overwritten records (exported logs keep whole
	// old records there, with template references that no longer
	// resolve). Slack is not read. Only when the header itself is damaged
	// is the chunk walked to its end.
	le := binary.LittleEndian
	limit := chunkSize
	free := int(le.Uint32(buf[chunkFreeSpaceOff:]))
	sum := crc32.ChecksumIEEE(buf[:120])
	sum = crc32.Update(sum, crc32.IEEETable, buf[128:chunkHeaderSize])
	headerOK := le.Uint32(buf[chunkHeaderSumOff:]) == sum
	switch {
	case !headerOK:
		chunkErr(chunkHeaderSumOff, "header checksum %#08x, computed %#08x; records read up to the first break",
			le.Uint32(buf[chunkHeaderSumOff:]), sum)
	case free < chunkHeaderSize || free > chunkSize:
		chunkErr(chunkFreeSpaceOff, "free space offset %d out of range; records read up to the first break", free)
	default:
		limit = free
	}
	if n < chunkSize {
		chunkErr(n, "file ends %d bytes into the chunk (truncated)", n)
	} else if limit < chunkSize {
		data := crc32.ChecksumIEEE(buf[chunkHeaderSize:limit])
		if got := le.Uint32(buf[chunkDataSumOff:]); got != data {
			chunkErr(chunkDataSumOff, "event records checksum %#08x, computed %#08x", got, data)
		}
	}

	spans := walkRecords(buf, n, limit, func(off int, id uint64, err error) {
		report(&source.RecordError{File: name, Record: int64(id), Offset: base + int64(off),
			Err: fmt.Errorf("chunk %d: %w", index, err)})
	})
	// A record that starts before the free space offset may end past it
	// (a damaged header or a crafted one); its bytes are still decoded,
	// so they belong to the region the prefilter searches.
	if k := len(spans); k > 0 {
		limit = max(limit, spans[k-1].off+spans[k-1].size)
	}
	return chunkFrame{spans: spans, limit: limit}
}

// decodeFramed decodes the records frameChunk found and emits them.
func decodeFramed(buf []byte, f chunkFrame, index int, base int64, name string,
	emit func(*winevent.Record) bool, report func(*source.RecordError)) {
	chunkErr := func(off int, format string, args ...any) {
		report(&source.RecordError{File: name, Offset: base + int64(off),
			Err: fmt.Errorf("chunk %d: "+format, append([]any{index}, args...)...)})
	}
	spans := f.spans
	if len(spans) == 0 {
		return
	}

	// The decoder has no error reporting of its own and can be driven into
	// huge allocations by crafted values, so each record's binary XML is
	// first walked by a bounded mirror of the decoder; a record that fails
	// is reported and blanked to an empty document the decoder skips.
	g := newGuard(buf)
	for i := range spans {
		s := &spans[i]
		if err := g.record(s.off+recordHeaderSize, s.off+s.size); err != nil {
			report(&source.RecordError{File: name, Record: int64(s.id), Offset: base + int64(s.off),
				Err: fmt.Errorf("chunk %d: binary XML: %w", index, err)})
			buf[s.off+recordHeaderSize] = 0 // end-of-fragment token
			s.skip = true
		}
	}

	// The decoder iterates the header's record-number range and stops at
	// the first record without a signature; a dirty chunk's header can lag
	// behind its records. Point it at exactly the records walked above.
	binary.LittleEndian.PutUint64(buf[chunkFirstNumberOff:], 1)
	binary.LittleEndian.PutUint64(buf[chunkLastNumberOff:], uint64(len(spans)))

	records, err := parseRecords(buf)
	if err != nil {
		chunkErr(0, "%v; %d records lost", err, countLive(spans))
		return
	}
	if len(records) != len(spans) {
		// Cannot happen with the walk above; fail loudly rather than
		// mislabel records.
		chunkErr(0, "decoder returned %d records for %d framed, chunk skipped", len(records), len(spans))
		return
	}
	var rec winevent.Record
	for i, r := range records {
		s := &spans[i]
		if s.skip {
			continue
		}
		if err := toRecord(r.Event, s, &rec); err != nil {
			report(&source.RecordError{File: name, Record: int64(s.id), Offset: base + int64(s.off),
				Err: fmt.Errorf("chunk %d: %w", index, err)})
			continue
		}
		if !emit(&rec) {
			return
		}
	}
}

func countLive(spans []recordSpan) int {
	n := 0
	for _, s := range spans {
		if !s.skip {
			n++
		}
	}
	return n
}

// parseRecords runs the library decoder on a whole chunk. A panic inside it
// (it indexes and type-asserts on file data) becomes an error for the chunk.
func parseRecords(buf []byte) (records []*vevtx.EventRecord, err error) {
	defer func() {
		if p := recover(); p != nil {
			records, err = nil, fmt.Errorf("decoder panic: %v", p)
		}
	}()
	c, err := vevtx.NewChunk(bytes.NewReader(buf), 0)
	if err != nil {
		return nil, err
	}
	return c.Parse(0)
}

// walkRecords finds the framed records of a chunk that start before limit:
// signature, a size that fits the chunk, and the trailing copy of the size.
// It stops at the first break, reporting it. Only the first n bytes of buf
// came from the file.
func walkRecords(buf []byte, n, limit int, bad func(off int, id uint64, err error)) []recordSpan {
	le := binary.LittleEndian
	var spans []recordSpan
	off := chunkHeaderSize
	for off < limit && off+recordMinSize <= chunkSize {
		b := buf[off:]
		if string(b[:4]) != recordMagic {
			// Without a trusted free space offset, zeros mean the end.
			if limit < chunkSize || (off < n && !allZero(buf[off:n])) {
				bad(off, 0, errors.New("no event record signature where the chunk's records continue; rest of chunk skipped"))
			}
			break
		}
		size := int(le.Uint32(b[4:]))
		id := le.Uint64(b[8:])
		switch {
		case off+recordHeaderSize > n:
			bad(off, id, errors.New("record header cut off by end of file"))
			return spans
		case size < recordMinSize || off+size > chunkSize:
			bad(off, id, fmt.Errorf("record size %d invalid; rest of chunk skipped", size))
			return spans
		case off+size > n:
			bad(off, id, fmt.Errorf("record of %d bytes cut off by end of file", size))
			return spans
		case int(le.Uint32(b[size-4:])) != size:
			bad(off, id, fmt.Errorf("record size %d does not match its trailing copy %d; rest of chunk skipped",
				size, le.Uint32(b[size-4:])))
			return spans
		}
		spans = append(spans, recordSpan{off: off, size: size, id: id, filetime: le.Uint64(b[16:])})
		off += size
	}
	return spans
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
