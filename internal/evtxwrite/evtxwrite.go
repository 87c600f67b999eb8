// Package evtxwrite writes small, valid Windows XML Event Log (.evtx) files
// so the project can build its own EVTX samples (positives that public logs
// do not contain) and round-trip tests for the reader.
//
// The output is honest EVTX: a file header and 64 KiB chunks with correct
// CRC32 checksums, a filled common-string table, and event records in the
// form Windows writes them: a template instance whose definition is stored
// inline in the record. Windows shares one definition between the records
// of an event type and substitutes typed values into it; this writer gives
// each record a definition of its own holding the whole event as plain
// element, attribute and text tokens, with no values to substitute, so it
// needs no template table. Values are therefore text (SystemTime as
// "2006-01-02T15:04:05.0000000Z", EventID as decimal).
//
// Plain elements outside a template (how Windows stores forwarded events)
// are laid out differently: their element starts have no dependency
// identifier. Readers disagree about that form (libyal's evtxexport
// 20181227 and python-evtx expect the identifier everywhere), while every
// reader decodes template instances, so the writer uses them.
package evtxwrite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"time"
	"unicode/utf16"
)

// Event is one Windows event to write.
type Event struct {
	Provider     string
	ProviderGUID string // optional, "{...}" form
	Channel      string
	EventID      int
	Computer     string
	TimeCreated  time.Time
	RecordID     uint64 // System/EventRecordID
	// Number is the record's number in the file (its record header), 0
	// for RecordID. A forwarded log's records carry their source host's
	// EventRecordID, unrelated to their number in the collecting log.
	Number uint64
	UserID string // System/Security/@UserID, optional
	Data   []Data // EventData, in order
	// UserData, when set, replaces EventData with the provider's own
	// element, as LocalSessionManager writes its events.
	UserData *UserData
}

// number is the record's number in the file.
func (ev *Event) number() uint64 {
	if ev.Number != 0 {
		return ev.Number
	}
	return ev.RecordID
}

// UserData is a provider-defined <UserData> element:
// <Element xmlns="Namespace"><Name>Value</Name>...</Element>.
type UserData struct {
	Element   string // "EventXML"
	Namespace string // "Event_NS"
	Values    []Data // child elements, in order
}

// Data is one EventData <Data Name="...">value</Data> pair.
type Data struct{ Name, Value string }

// Format constants (libyal's EVTX description).
const (
	fileBlockSize   = 4096
	fileHeaderSize  = 128
	chunkSize       = 0x10000
	chunkHeaderSize = 0x200
	stringTableOff  = 0x80 // 64 common-string offsets
	stringBuckets   = 64
	recordHeader    = 24
	filetimeEpoch   = 116444736000000000 // 1601 -> 1970 in 100 ns units
	maxText         = 0xFFFF             // UTF-16 units in one text or name
)

// Binary XML tokens; the 0x40 bit means "more data follows" (attributes on
// an element, another attribute after this one).
const (
	tokEOF          = 0x00
	tokOpenStart    = 0x01
	tokCloseStart   = 0x02
	tokCloseEmpty   = 0x03
	tokEndElement   = 0x04
	tokValue        = 0x05
	tokAttribute    = 0x06
	tokTemplate     = 0x0C
	tokFragment     = 0x0F
	tokMore         = 0x40
	valueTypeString = 0x01
)

// Write encodes events into one EVTX file on w. Records go into chunks in
// order, a new chunk starting when the next record does not fit. An event
// too large for an empty chunk, or a name or value longer than 65535
// UTF-16 units, is an error naming the record id.
func Write(w io.Writer, events []Event) error {
	var chunks [][]byte
	c := newChunk()
	for i := range events {
		ev := &events[i]
		err := c.add(ev)
		if errors.Is(err, errChunkFull) && c.records > 0 {
			chunks = append(chunks, c.finish())
			c = newChunk()
			err = c.add(ev)
		}
		if err != nil {
			return fmt.Errorf("evtxwrite: record %d: %w", ev.RecordID, err)
		}
	}
	if c.records > 0 || len(chunks) == 0 {
		chunks = append(chunks, c.finish())
	}
	var next uint64 = 1
	if n := len(events); n > 0 {
		next = events[n-1].number() + 1
	}
	if _, err := w.Write(fileHeader(len(chunks), next)); err != nil {
		return err
	}
	for _, b := range chunks {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func fileHeader(chunks int, nextRecord uint64) []byte {
	b := make([]byte, fileBlockSize)
	le := binary.LittleEndian
	copy(b, "ElfFile\x00")
	le.PutUint64(b[8:], 0)                 // first chunk number
	le.PutUint64(b[16:], uint64(chunks-1)) // last chunk number
	le.PutUint64(b[24:], nextRecord)
	le.PutUint32(b[32:], fileHeaderSize)
	le.PutUint16(b[36:], 1) // minor version
	le.PutUint16(b[38:], 3) // major version
	le.PutUint16(b[40:], fileBlockSize)
	le.PutUint16(b[42:], uint16(chunks))
	le.PutUint32(b[120:], 0) // flags: clean, not full
	le.PutUint32(b[124:], crc32.ChecksumIEEE(b[:120]))
	return b
}

var errChunkFull = errors.New("event does not fit in a chunk")

// chunk builds one 64 KiB chunk. Element and attribute names are interned
// per chunk as Windows does: written in full at first use, then referred
// to by their chunk offset.
type chunk struct {
	b           []byte
	off         int
	records     int
	first, last uint64
	lastRecOff  int
	names       map[string]int
	bucketTail  [stringBuckets]int // last name in each hash bucket
}

func newChunk() *chunk {
	return &chunk{b: make([]byte, chunkSize), off: chunkHeaderSize, names: make(map[string]int)}
}

// add appends ev as one record, or returns an error (errChunkFull when it
// does not fit) and leaves the chunk as it was.
func (c *chunk) add(ev *Event) (err error) {
	saved := chunk{b: append([]byte(nil), c.b...), off: c.off, names: maps.Clone(c.names), bucketTail: c.bucketTail}
	defer func() {
		if err != nil {
			c.b, c.off, c.names, c.bucketTail = saved.b, saved.off, saved.names, saved.bucketTail
		}
	}()
	e := &enc{c: c}
	start := c.off
	e.skip(recordHeader)
	e.record(ev)
	e.u32(0) // trailing size, patched below
	if e.err != nil {
		return e.err
	}
	size := c.off - start
	le := binary.LittleEndian
	copy(c.b[start:], "**\x00\x00")
	le.PutUint32(c.b[start+4:], uint32(size))
	le.PutUint64(c.b[start+8:], ev.number())
	le.PutUint64(c.b[start+16:], filetime(ev.TimeCreated))
	le.PutUint32(c.b[c.off-4:], uint32(size))
	if c.records == 0 {
		c.first = ev.number()
	}
	c.last = ev.number()
	c.lastRecOff = start
	c.records++
	return nil
}

// finish writes the chunk header and its checksums and returns the chunk.
func (c *chunk) finish() []byte {
	le := binary.LittleEndian
	b := c.b
	copy(b, "ElfChnk\x00")
	le.PutUint64(b[8:], c.first)  // first event record number
	le.PutUint64(b[16:], c.last)  // last event record number
	le.PutUint64(b[24:], c.first) // first event record identifier
	le.PutUint64(b[32:], c.last)  // last event record identifier
	le.PutUint32(b[40:], 128)     // header size
	le.PutUint32(b[44:], uint32(c.lastRecOff))
	le.PutUint32(b[48:], uint32(c.off)) // free space offset
	le.PutUint32(b[52:], crc32.ChecksumIEEE(b[chunkHeaderSize:c.off]))
	sum := crc32.ChecksumIEEE(b[:120])
	sum = crc32.Update(sum, crc32.IEEETable, b[128:chunkHeaderSize])
	le.PutUint32(b[124:], sum)
	return b
}

func filetime(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano()/100) + filetimeEpoch
}

// nameHash is the EVTX name hash: over the UTF-16 units, h = h*65599 + u,
// of which the low 16 bits are stored.
func nameHash(name string) uint16 {
	var h uint32
	for _, u := range utf16.Encode([]rune(name)) {
		h = h*65599 + uint32(u)
	}
	return uint16(h)
}

// enc appends binary XML to a chunk, recording the first error (the chunk
// filling up or an over-long string).
type enc struct {
	c   *chunk
	err error
}

func (e *enc) room(n int) bool {
	if e.err != nil {
		return false
	}
	if e.c.off+n > chunkSize {
		e.err = errChunkFull
		return false
	}
	return true
}

func (e *enc) skip(n int) {
	if e.room(n) {
		e.c.off += n
	}
}

func (e *enc) u8(v byte) {
	if e.room(1) {
		e.c.b[e.c.off] = v
		e.c.off++
	}
}

func (e *enc) u16(v uint16) {
	if e.room(2) {
		binary.LittleEndian.PutUint16(e.c.b[e.c.off:], v)
		e.c.off += 2
	}
}

func (e *enc) u32(v uint32) {
	if e.room(4) {
		binary.LittleEndian.PutUint32(e.c.b[e.c.off:], v)
		e.c.off += 4
	}
}

func (e *enc) utf16(s string) int {
	units := utf16.Encode([]rune(s))
	if len(units) > maxText {
		if e.err == nil {
			e.err = fmt.Errorf("string of %d UTF-16 units is longer than %d", len(units), maxText)
		}
		return 0
	}
	if e.room(2 * len(units)) {
		for _, u := range units {
			binary.LittleEndian.PutUint16(e.c.b[e.c.off:], u)
			e.c.off += 2
		}
	}
	return len(units)
}

// name writes a name reference: the chunk offset of the name, and the name
// itself right behind it when this is its first use in the chunk.
func (e *enc) name(s string) {
	if at, ok := e.c.names[s]; ok {
		e.u32(uint32(at))
		return
	}
	at := e.c.off + 4
	e.u32(uint32(at))
	e.u32(0) // next name in the same hash bucket
	e.u16(nameHash(s))
	lenAt := e.c.off
	e.u16(0)
	n := e.utf16(s)
	e.u16(0) // terminator
	if e.err != nil {
		return
	}
	binary.LittleEndian.PutUint16(e.c.b[lenAt:], uint16(n))
	e.c.names[s] = at
	bucket := int(nameHash(s)) % stringBuckets
	if tail := e.c.bucketTail[bucket]; tail != 0 {
		binary.LittleEndian.PutUint32(e.c.b[tail:], uint32(at))
	} else {
		binary.LittleEndian.PutUint32(e.c.b[stringTableOff+4*bucket:], uint32(at))
	}
	e.c.bucketTail[bucket] = at
}

// attr is one attribute of an element.
type attr struct{ name, value string }

// open writes an element's start tag and returns the offset of its size
// field, which close patches.
func (e *enc) open(name string, attrs ...attr) int {
	tok := byte(tokOpenStart)
	if len(attrs) > 0 {
		tok |= tokMore
	}
	e.u8(tok)
	e.u16(0xFFFF) // dependency identifier (elements are inside a template definition): none
	sizeAt := e.c.off
	e.u32(0)
	e.name(name)
	if len(attrs) > 0 {
		listAt := e.c.off
		e.u32(0)
		for i, a := range attrs {
			tok := byte(tokAttribute)
			if i < len(attrs)-1 {
				tok |= tokMore
			}
			e.u8(tok)
			e.name(a.name)
			e.text(a.value)
		}
		e.patch(listAt, e.c.off-(listAt+4))
	}
	return sizeAt
}

func (e *enc) text(s string) {
	e.u8(tokValue)
	e.u8(valueTypeString)
	lenAt := e.c.off
	e.u16(0)
	n := e.utf16(s)
	if e.err == nil {
		binary.LittleEndian.PutUint16(e.c.b[lenAt:], uint16(n))
	}
}

func (e *enc) patch(at, v int) {
	if e.err == nil {
		binary.LittleEndian.PutUint32(e.c.b[at:], uint32(v))
	}
}

// element writes <name attrs>text</name>, or <name attrs/> when text is
// empty and there are no children.
func (e *enc) element(name, text string, attrs ...attr) {
	sizeAt := e.open(name, attrs...)
	if text == "" {
		e.u8(tokCloseEmpty)
	} else {
		e.u8(tokCloseStart)
		e.text(text)
		e.u8(tokEndElement)
	}
	e.patch(sizeAt, e.c.off-(sizeAt+4))
}

// parent writes an element whose content is written by body.
func (e *enc) parent(name string, body func(), attrs ...attr) {
	sizeAt := e.open(name, attrs...)
	e.u8(tokCloseStart)
	body()
	e.u8(tokEndElement)
	e.patch(sizeAt, e.c.off-(sizeAt+4))
}

// templateGUIDTail is the last 12 bytes of the GUID of every template
// definition the writer makes (arbitrary, fixed, and no text: a needle
// such as "tsclient" here would put every record through the scan
// prefilter); the first 4 are the definition's chunk offset, unique in the
// chunk, which readers also take as the template id.
var templateGUIDTail = [12]byte{0x9b, 0x43, 0x4e, 0x1f, 0x8a, 0x5d, 0x42, 0x7c, 0xb1, 0x0e, 0x36, 0xd2}

// record writes a fragment holding one template instance, whose definition
// follows inline and holds the event; the instance has no values.
func (e *enc) record(ev *Event) {
	e.fragmentHeader()
	e.u8(tokTemplate)
	e.u8(1) // template instance version
	idAt := e.c.off
	e.u32(0) // template id, patched below
	def := e.c.off + 4
	e.u32(uint32(def)) // the definition follows right behind this field
	e.u32(0)           // next definition in the chunk's template table: none
	guidAt := e.c.off
	e.u32(uint32(def))
	if e.room(len(templateGUIDTail)) {
		e.c.off += copy(e.c.b[e.c.off:], templateGUIDTail[:])
	}
	sizeAt := e.c.off
	e.u32(0) // definition data size, patched below
	e.fragmentHeader()
	e.event(ev)
	e.u8(tokEOF)
	e.patch(sizeAt, e.c.off-(sizeAt+4))
	if e.err == nil {
		copy(e.c.b[idAt:idAt+4], e.c.b[guidAt:guidAt+4])
	}
	e.u32(0) // number of values
	e.u8(tokEOF)
}

func (e *enc) fragmentHeader() {
	e.u8(tokFragment)
	e.u8(1) // major version
	e.u8(1) // minor version
	e.u8(0) // flags
}

// event writes the Event element.
func (e *enc) event(ev *Event) {
	e.parent("Event", func() {
		e.parent("System", func() {
			prov := []attr{{"Name", ev.Provider}}
			if ev.ProviderGUID != "" {
				prov = append(prov, attr{"Guid", ev.ProviderGUID})
			}
			e.element("Provider", "", prov...)
			e.element("EventID", fmt.Sprint(ev.EventID))
			e.element("TimeCreated", "", attr{"SystemTime", ev.TimeCreated.UTC().Format("2006-01-02T15:04:05.0000000Z")})
			e.element("EventRecordID", fmt.Sprint(ev.RecordID))
			e.element("Channel", ev.Channel)
			e.element("Computer", ev.Computer)
			if ev.UserID != "" {
				e.element("Security", "", attr{"UserID", ev.UserID})
			} else {
				e.element("Security", "")
			}
		})
		if u := ev.UserData; u != nil {
			e.parent("UserData", func() {
				var ns []attr
				if u.Namespace != "" {
					ns = append(ns, attr{"xmlns", u.Namespace})
				}
				e.parent(u.Element, func() {
					for _, d := range u.Values {
						e.element(d.Name, d.Value)
					}
				}, ns...)
			})
			return
		}
		e.parent("EventData", func() {
			for _, d := range ev.Data {
				e.element("Data", d.Value, attr{"Name", d.Name})
			}
		})
	}, attr{"xmlns", "http://schemas.microsoft.com/win/2004/08/events/event"})
}
