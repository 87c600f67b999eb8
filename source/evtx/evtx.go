// Package evtx reads Windows XML Event Log (.evtx) files and emits one
// detector.Event per event record.
//
// Binary XML is decoded by www.velocidex.com/golang/evtx. This package owns
// everything around it: the file and chunk framing, checksums, the record
// walk, and the guards that keep a damaged or hostile file from stopping the
// read. An EVTX file is a 4 KiB header followed by independent 64 KiB chunks
// (templates and interned names never cross a chunk), so the unit of work
// and of failure is the chunk: decodeChunk turns one chunk's bytes into
// records, a bad chunk is reported and skipped, and every other chunk is
// still read.
package evtx

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// Layout constants of the EVTX format (libyal's "Windows XML Event Log
// (EVTX)" description; checked against real files in the tests).
const (
	fileMagic       = "ElfFile\x00"
	fileHeaderSize  = 128  // bytes covered by the header structure
	fileBlockSize   = 4096 // the header block; the first chunk follows it
	fileFlagDirty   = 0x1  // the log was not closed cleanly
	chunkMagic      = "ElfChnk\x00"
	chunkSize       = 0x10000
	chunkHeaderSize = 0x200
)

// ErrNotEVTX is wrapped by the error Read returns when the input does not
// start with the EVTX file signature.
var ErrNotEVTX = errors.New("not an EVTX file (no ElfFile signature)")

// Sniff reports whether head, the first bytes of a file, carries the EVTX
// file signature.
func Sniff(head []byte) bool {
	return len(head) >= len(fileMagic) && string(head[:len(fileMagic)]) == fileMagic
}

// fileHeader holds the fields of the file header Read uses.
type fileHeader struct {
	firstChunk, lastChunk uint64
	nextRecordID          uint64
	minor, major          uint16
	blockSize             uint16
	chunks                uint16
	flags                 uint32
	checksum              uint32
	computedSum           uint32
}

func parseFileHeader(b []byte) fileHeader {
	le := binary.LittleEndian
	return fileHeader{
		firstChunk:   le.Uint64(b[8:]),
		lastChunk:    le.Uint64(b[16:]),
		nextRecordID: le.Uint64(b[24:]),
		minor:        le.Uint16(b[36:]),
		major:        le.Uint16(b[38:]),
		blockSize:    le.Uint16(b[40:]),
		chunks:       le.Uint16(b[42:]),
		flags:        le.Uint32(b[120:]),
		checksum:     le.Uint32(b[124:]),
		computedSum:  crc32.ChecksumIEEE(b[:120]),
	}
}

// Read decodes the EVTX file r of size bytes and hands each record, mapped
// by winevent, to sink. name is the file name used in errors.
//
// Damage is reported, not fatal: a chunk with a bad signature or a decoder
// failure, a record that fails its framing or holds no System element, and
// checksum mismatches each go to sink.Report as a *source.RecordError naming
// the file, the record id or chunk number, and the byte offset, and reading
// goes on with the next record or chunk. The error returned is fatal for
// the file: it is not EVTX (wrapping ErrNotEVTX), it cannot be read, ctx
// ended (checked between chunks), or sink.Event returned an error.
func Read(ctx context.Context, r io.ReaderAt, size int64, name string, sink source.Sink) (source.Stats, error) {
	var st source.Stats
	head := make([]byte, fileBlockSize)
	n, err := r.ReadAt(head[:min(int64(len(head)), max(size, 0))], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return st, fmt.Errorf("read %s: %w", name, err)
	}
	st.Bytes += int64(n)
	if !Sniff(head[:n]) {
		return st, fmt.Errorf("%s: %w", name, ErrNotEVTX)
	}
	if n < fileHeaderSize {
		return st, fmt.Errorf("%s: truncated EVTX file header (%d of %d bytes)", name, n, fileHeaderSize)
	}
	h := parseFileHeader(head)
	if h.major != 3 {
		return st, fmt.Errorf("%s: unsupported EVTX format version %d.%d (want 3.x)", name, h.major, h.minor)
	}
	if h.checksum != h.computedSum {
		// A stale header is common in logs copied from a live system; the
		// chunks carry their own framing, so go on.
		sink.Report(&source.RecordError{File: name, Offset: 124,
			Err: fmt.Errorf("file header checksum %#08x, computed %#08x", h.checksum, h.computedSum)})
	}
	// Chunks are found by walking the file, not from the header's chunk
	// count: a dirty file's header lags behind its chunks.
	start := int64(fileBlockSize)
	if bs := int64(h.blockSize); bs >= fileHeaderSize && bs != fileBlockSize && bs < size {
		start = bs
	}

	d := newDecoder(name, sink, &st)
	buf := make([]byte, chunkSize)
	for off, i := start, 0; off < size; off, i = off+chunkSize, i+1 {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("read %s: %w", name, err)
		}
		want := min(int64(chunkSize), size-off)
		n, err := r.ReadAt(buf[:want], off)
		if err != nil && !(errors.Is(err, io.EOF) && int64(n) == want) {
			if !errors.Is(err, io.EOF) {
				return st, fmt.Errorf("read %s chunk %d (offset %d): %w", name, i, off, err)
			}
		}
		st.Bytes += int64(n)
		clear(buf[n:])
		if err := d.chunk(buf, n, i, off); err != nil {
			return st, err
		}
	}
	return st, nil
}

// decoder carries what one file's chunks share: the file name, the sink,
// the running counts and a reused Event.
type decoder struct {
	name string
	sink source.Sink
	st   *source.Stats
	ev   detector.Event
}

func newDecoder(name string, sink source.Sink, st *source.Stats) *decoder {
	return &decoder{name: name, sink: sink, st: st}
}

// chunk decodes one chunk read at file offset off, of which only the first
// n bytes exist in the file (the rest of buf is zero), and emits its
// records.
func (d *decoder) chunk(buf []byte, n, index int, off int64) error {
	if n < chunkSize && bytes.Count(buf[:n], []byte{0}) == n {
		return nil // zero tail of a preallocated file
	}
	report := func(e *source.RecordError) {
		d.st.Bad++
		d.sink.Report(e)
	}
	var emitErr error
	emit := func(rec *winevent.Record) bool {
		d.st.Records++
		rec.Event(&d.ev)
		if err := d.sink.Emit(&d.ev); err != nil {
			emitErr = err
			return false
		}
		return true
	}
	decodeChunk(buf, n, index, off, d.name, emit, func(e *source.RecordError) {
		if e.Record > 0 {
			d.st.Records++
		}
		report(e)
	})
	return emitErr
}
