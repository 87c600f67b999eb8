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
//
// Chunks are independent, so ReadWith decodes them on a bounded pool of
// workers and puts the results back in file order. With Options.Prefilter
// it also looks at each chunk's record bytes first and decodes only the
// chunks holding a needle ("tsclient" or an xrdp mount name, any ASCII
// case, UTF-16LE or plain bytes): the rule cannot fire on a record whose
// executable path lacks them, and nearly every chunk of a real log does.
// Each candidate is confirmed by the full decode; slack past a chunk's
// free space offset (stale records) is not searched, as it is not
// decoded. A skipped chunk's header and record framing are still checked
// and reported; damage inside the binary XML of its records cannot be
// seen without decoding it.
package evtx

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/tsclientwatch/tsclientwatch/source"
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
//
// Read decodes every chunk, using every core (ReadWith with the zero
// Options); sink is still called from the caller's goroutine only.
func Read(ctx context.Context, r io.ReaderAt, size int64, name string, sink source.Sink) (source.Stats, error) {
	st, err := ReadWith(ctx, r, size, name, sink, Options{})
	return st.Stats, err
}

// readFileHeader reads and checks the file header and returns the offset
// of the first chunk.
func readFileHeader(r io.ReaderAt, size int64, name string, sink source.Sink, st *source.Stats) (int64, fileHeader, error) {
	head := make([]byte, fileBlockSize)
	n, err := r.ReadAt(head[:min(int64(len(head)), max(size, 0))], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fileHeader{}, fmt.Errorf("read %s: %w", name, err)
	}
	st.Bytes += int64(n)
	if !Sniff(head[:n]) {
		return 0, fileHeader{}, fmt.Errorf("%s: %w", name, ErrNotEVTX)
	}
	if n < fileHeaderSize {
		return 0, fileHeader{}, fmt.Errorf("%s: truncated EVTX file header (%d of %d bytes)", name, n, fileHeaderSize)
	}
	h := parseFileHeader(head)
	if h.major != 3 {
		return 0, fileHeader{}, fmt.Errorf("%s: unsupported EVTX format version %d.%d (want 3.x)", name, h.major, h.minor)
	}
	if h.checksum != h.computedSum {
		// A stale header is common in logs copied from a live system; the
		// chunks carry their own framing, so go on.
		sink.Report(&source.RecordError{File: name, Offset: 124,
			Err: fmt.Errorf("file header checksum %#08x, computed %#08x", h.checksum, h.computedSum)})
		st.Bad++
	}
	// Chunks are found by walking the file, not from the header's chunk
	// count: a dirty file's header lags behind its chunks.
	start := int64(fileBlockSize)
	if bs := int64(h.blockSize); bs >= fileHeaderSize && bs != fileBlockSize && bs < size {
		start = bs
	}
	// The header block is everything before the first chunk: count it
	// once, whether it is shorter than the bytes read above (the first
	// chunk counts the rest) or longer.
	st.Bytes += min(start, size) - int64(n)
	return start, h, nil
}

// unallocatedFrom returns the index of the first chunk of the file's
// unallocated tail: the space after the last chunk that carries the chunk
// signature, when it also lies beyond the chunks the header declares.
// Windows grows a log in steps and a copied or carved file can end in
// bytes that were never a chunk (zeros, or whatever the disk held); they
// are not damage. A chunk without a signature before a valid one, or
// within the header's count, still is. Only one 8-byte read per trailing
// chunk is made, from the end backwards.
func unallocatedFrom(r io.ReaderAt, start, size int64, h fileHeader) int {
	chunks := int((max(size-start, 0) + chunkSize - 1) / chunkSize)
	magic := make([]byte, len(chunkMagic))
	last := -1
	for i := chunks - 1; i >= 0; i-- {
		n, _ := r.ReadAt(magic, start+int64(i)*chunkSize)
		if n == len(magic) && string(magic) == chunkMagic {
			last = i
			break
		}
	}
	return max(last+1, int(h.chunks))
}
