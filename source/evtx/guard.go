package evtx

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// guard walks a record's binary XML the way the Velocidex decoder will, token
// for token and offset for offset, without building anything, and refuses
// records that would make the decoder misbehave. The decoder trusts counts
// read from the file: a template instance's argument count (up to 2^32 when
// the definition is inline) is looped over and appended to a slice even
// when the bytes ran out long before, SID arguments loop over their
// declared length, and a few value types index past a short value and
// panic, which loses the whole chunk. A few crafted or corrupted bytes
// could therefore exhaust memory or time for the whole process, or hide a
// chunk's good records; this walk bounds both before the decoder sees the
// record.
//
// Keeping the walk in step with the decoder matters: templates are defined
// inline at first use and found again by id, so the guard tracks the same
// per-chunk template table, and forgets the templates of a record it
// rejects (that record is blanked, so the decoder never learns them).
type guard struct {
	b     []byte
	known map[uint32]int // template definition offset -> cost of expanding it
	added []uint32       // templates first seen in the current record
	// lo and hi bound the current record's binary XML. Every token, text
	// and value the decoder reads for a record must lie inside it: real
	// records hold their own inline template definitions and values, and
	// the prefilter searches record bytes only, so a record whose decode
	// reached into other bytes could show it a path it never saw. Names
	// may still be interned elsewhere in the chunk; they only become keys.
	lo, hi int
	steps  int
	// total is the steps of the chunk's accepted records. Each use of a
	// template expands (and allocates) its whole tree again, so tiny
	// records that each use one large template could otherwise make the
	// decoder build millions of nodes for one chunk.
	total int
	// decoded counts the string and binary bytes the decoder will convert
	// (and so allocate) in the chunk's accepted records: a BinXml value
	// of length 0 is parsed in place again for every value descriptor, so
	// a few bytes can make it convert one long text thousands of times.
	decoded int
}

const (
	guardMaxSteps = 1 << 17 // per record; real records use a few hundred
	// guardMaxChunkSteps bounds a chunk's records together; the busiest
	// real chunk of the shared corpus (284 files) takes 33642 steps.
	guardMaxChunkSteps = 1 << 17
	guardMaxDepth      = 48 // nested template definitions and BinXml values
	// guardMaxDecoded bounds guard.decoded per chunk. A real chunk
	// converts each value once and each name once per reference: at most
	// 61 KB over the shared corpus. The decoder allocates about 8 bytes
	// per byte converted, so a chunk stays under about 20 MB.
	guardMaxDecoded = 2 << 20
	sidMaxLen       = 8 + 15*4
	// guardMaxValues is the decoder's own cap on a template instance's
	// value count, which it applies to the count it reads before an inline
	// definition but not to the one after it; the guard refuses more, so
	// both readings agree. Real templates have a few dozen values.
	guardMaxValues = 10 * 1024
	systimeLen     = 16 // SYSTEMTIME: eight 16-bit fields
)

var errBudget = errors.New("too complex (decoder work bound exceeded)")

func newGuard(chunk []byte) *guard {
	return &guard{b: chunk, known: make(map[uint32]int)}
}

// record checks the binary XML starting at off (the record ends at end).
func (g *guard) record(off, end int) error {
	g.lo, g.hi = off, end
	g.steps = 0
	g.added = g.added[:0]
	decoded := g.decoded
	_, err := g.binxml(off, 0, false)
	if err != nil {
		g.decoded = decoded // the record is blanked: the decoder never converts it
		for _, id := range g.added {
			delete(g.known, id)
		}
		return err
	}
	g.total += g.steps
	return nil
}

// The accessors below reproduce the decoder's cursor semantics: a read past
// the end returns zero and does not move; a skip always moves.

func (g *guard) u8(off *int) uint8 {
	if len(g.b) < *off+1 {
		return 0
	}
	v := g.b[*off]
	*off++
	return v
}

func (g *guard) u16(off *int) uint16 {
	if len(g.b) < *off+2 {
		return 0
	}
	v := binary.LittleEndian.Uint16(g.b[*off:])
	*off += 2
	return v
}

func (g *guard) u32(off *int) uint32 {
	if len(g.b) < *off+4 {
		return 0
	}
	v := binary.LittleEndian.Uint32(g.b[*off:])
	*off += 4
	return v
}

func (g *guard) bytes(off *int, n int) {
	if *off+n <= len(g.b) {
		*off += n
	}
}

// name walks a name reference. The decoder reads a name's characters with
// a length taken from the file and allocates that length (up to 128 KiB)
// when it runs past the chunk, once per reference: a name is refused
// unless it lies wholly inside the chunk, as every real one does.
func (g *guard) name(off *int) error {
	at := int(g.u32(off))
	if at != *off {
		// Interned elsewhere in the chunk; read without moving.
		if at+8 > len(g.b) {
			return fmt.Errorf("name at chunk offset %d lies outside the chunk", at)
		}
		return g.inside(at+8, (int(binary.LittleEndian.Uint16(g.b[at+6:]))+1)*2, len(g.b), "name")
	}
	*off += 4 + 2 // next-string offset, hash
	if *off+2 > len(g.b) {
		return fmt.Errorf("name at chunk offset %d runs past the end of the chunk", at)
	}
	n := int(g.u16(off)) + 1
	if err := g.within(*off, n*2, "name"); err != nil {
		return err
	}
	g.bytes(off, n*2)
	return nil
}

// within refuses a value of n bytes at chunk offset at that runs past the
// chunk: the decoder allocates a zeroed buffer of the declared size for
// it instead of failing, and no real record holds one.
func (g *guard) within(at, n int, what string) error {
	return g.inside(at, n, g.hi, what)
}

// inside is within with the end given: the chunk's for names interned
// elsewhere, the record's for everything else.
func (g *guard) inside(at, n, end int, what string) error {
	if at < g.lo && end == g.hi || at < 0 || at+n > end {
		return fmt.Errorf("%s of %d bytes at chunk offset %d lies outside the record", what, n, at)
	}
	g.decoded += n
	if g.decoded > guardMaxDecoded {
		return errBudget
	}
	return nil
}

func (g *guard) step(n int) error {
	g.steps += n
	if g.steps > guardMaxSteps || g.total+g.steps > guardMaxChunkSteps {
		return errBudget
	}
	return nil
}

// binxml walks one fragment from off and returns where the decoder's cursor
// ends. inTemplate says whether the fragment is a template definition's
// body (or a BinXml value, which the decoder parses the same way): only
// there does an element start carry a 2-byte dependency identifier before
// its size. A record's own elements, outside any template, have none
// (libyal's EVTX description, "Element start"; records Windows stores
// without a template, such as forwarded events, are written that way).
func (g *guard) binxml(off, depth int, inTemplate bool) (int, error) {
	if depth > guardMaxDepth {
		return off, fmt.Errorf("nested deeper than %d levels", guardMaxDepth)
	}
	for {
		if err := g.step(1); err != nil {
			return off, err
		}
		if off < g.lo || off >= g.hi {
			return off, fmt.Errorf("binary XML continues at chunk offset %d, outside the record", off)
		}
		switch tag := g.u8(&off); tag {
		case 0x00:
			return off, nil
		case 0x01, 0x41: // open start element
			if inTemplate {
				off += 2 // dependency identifier
			}
			off += 4 // data size
			if err := g.name(&off); err != nil {
				return off, err
			}
			if tag == 0x41 {
				g.u32(&off)
			}
		case 0x02, 0x03, 0x04: // close start, close empty, end element
		case 0x05, 0x45: // value text
			g.u8(&off)
			n := int(g.u16(&off))
			if err := g.within(off, n*2, "text"); err != nil {
				return off, err
			}
			g.bytes(&off, n*2)
		case 0x06, 0x46: // attribute
			if err := g.name(&off); err != nil {
				return off, err
			}
		case 0x07, 0x47, 0x08, 0x48, 0x09, 0x49, 0x0A, 0x0B:
			// The decoder consumes nothing for these.
		case 0x0C:
			next, ok, err := g.template(off, depth)
			if err != nil || !ok {
				return next, err
			}
			off = next
		case 0x0D, 0x0E: // substitution
			g.u16(&off)
			if g.u8(&off) == 0 {
				g.u8(&off)
			}
		case 0x0F: // fragment header
			off += 3
		default:
			return off, nil
		}
	}
}

// template walks a template instance; ok is false where the decoder stops
// the fragment.
//
// An instance is: 0x01, a template id, the chunk offset of the template's
// definition, and, when that offset points right behind the field, the
// definition itself (next-definition offset, GUID, body size, body), then
// the value count. The decoder caches definitions by the id and decides
// "inline or not" by whether it has seen the id. Windows reuses an id for
// a second, inline definition within one chunk (seen in real Sysmon and
// Security logs), which sends the decoder reading a definition as the value
// count. The guard therefore rewrites the id field to the definition offset,
// which is unique per definition and nonzero, so the decoder's cache keys
// match the file's own structure.
func (g *guard) template(off, depth int) (int, bool, error) {
	if g.u8(&off) != 0x01 {
		return off, false, nil
	}
	idAt := off
	id := g.u32(&off)
	if id == 0 {
		return off, false, nil
	}
	defAt := off
	def := g.u32(&off)
	if def != 0 && defAt+4 <= len(g.b) {
		// The id repeats the first four bytes of the definition's GUID.
		// Exported or merged logs hold records whose definition offset
		// points at another template or at nothing; such a record cannot be
		// decoded faithfully.
		if int(def)+8 > len(g.b) || binary.LittleEndian.Uint32(g.b[def+4:]) != id {
			return off, false, fmt.Errorf("template %#08x: no matching definition at chunk offset %d", id, def)
		}
		binary.LittleEndian.PutUint32(g.b[idAt:], def)
		id = def
	}
	nargs := g.u32(&off)
	cost, known := g.known[id]
	inline := int(def) == defAt+4
	switch {
	case known && inline:
		return off, false, fmt.Errorf("template at offset %d defined twice", def)
	case !known && !inline:
		return off, false, fmt.Errorf("template at offset %d used but not defined before in the chunk", def)
	case !known:
		off += 16
		bodyLen := int(g.u32(&off))
		before := g.steps
		g.known[id] = 0 // the decoder registers the id before parsing the body
		g.added = append(g.added, id)
		if _, err := g.binxml(off, depth+1, true); err != nil {
			return off, false, err
		}
		cost = g.steps - before
		g.known[id] = cost
		off += bodyLen
		nargs = g.u32(&off)
	default:
		// Each use expands the whole template again.
		if err := g.step(cost); err != nil {
			return off, false, err
		}
	}
	if nargs > guardMaxValues {
		return off, false, fmt.Errorf("template instance (definition at chunk offset %d) declares %d values (at most %d)", id, nargs, guardMaxValues)
	}
	if rest := g.hi - off; nargs > 0 && (rest < 0 || uint64(nargs)*4 > uint64(rest)) {
		return off, false, fmt.Errorf("template instance (definition at chunk offset %d) declares %d values, more than the record holds", id, nargs)
	}
	if err := g.step(int(nargs)); err != nil {
		return off, false, err
	}
	desc := off
	off += int(nargs) * 4
	for i := 0; i < int(nargs); i++ {
		argLen := int(binary.LittleEndian.Uint16(g.b[desc+4*i:]))
		switch argType := binary.LittleEndian.Uint16(g.b[desc+4*i+2:]); argType {
		case 0x00:
			off += argLen
		case 0x04:
			g.u8(&off)
		case 0x06:
			g.u16(&off)
		case 0x07, 0x08, 0x0B, 0x14:
			g.u32(&off)
		case 0x09, 0x0A, 0x0C, 0x11, 0x15:
			g.bytes(&off, 8)
		case 0x12: // SYSTEMTIME: the decoder reads 16 bytes whatever the
			// length and slices the declared length, which panics past
			// the chunk.
			if argLen != systimeLen {
				return off, false, fmt.Errorf("SYSTEMTIME value of %d bytes (want %d)", argLen, systimeLen)
			}
			if err := g.within(off, argLen, "value"); err != nil {
				return off, false, err
			}
			g.bytes(&off, argLen)
		case 0x86, 0x8A, 0x95: // arrays of uint16, uint64, hex int64
			// The decoder walks these in whole elements and panics on a
			// partial one; it also shortens a value that ends at the end of
			// the chunk by a byte. Real arrays hold whole elements.
			elem := 8
			if argType == 0x86 {
				elem = 2
			}
			if argLen%elem != 0 {
				return off, false, fmt.Errorf("array value of %d bytes is not a whole number of %d-byte elements", argLen, elem)
			}
			if err := g.within(off, argLen, "value"); err != nil {
				return off, false, err
			}
			if off+argLen >= len(g.b) {
				return off, false, fmt.Errorf("array value at chunk offset %d ends at the end of the chunk", off)
			}
			g.bytes(&off, argLen)
		case 0x0D:
			switch argLen {
			case 8, 4, 2, 1:
				g.bytes(&off, argLen)
			}
		case 0x13: // SID: the decoder formats one number per 4 bytes
			// and builds the string by repeated concatenation, quadratic
			// in the length; a SID has at most 15 sub-authorities
			// (SID_MAX_SUB_AUTHORITIES), 8+15*4 bytes.
			if argLen > sidMaxLen {
				return off, false, fmt.Errorf("SID value of %d bytes (at most %d)", argLen, sidMaxLen)
			}
			g.u8(&off)
			g.u8(&off)
			g.bytes(&off, 6)
			for j := 0; j < argLen-8; j += 4 {
				g.u32(&off)
			}
			if err := g.step(argLen / 4); err != nil {
				return off, false, err
			}
		case 0x21: // nested binary XML, parsed in place then skipped
			// The decoder reads dependency identifiers here, as in a
			// template body; libyal's description and omerbenamram/evtx
			// say a BinXml value's own elements have none. Every BinXml
			// value of the shared corpus (over 13,000) starts with a
			// template instance, where the two agree.
			if _, err := g.binxml(off, depth+1, true); err != nil {
				return off, false, err
			}
			off += argLen
		default:
			// Strings, binary, GUIDs and unknown types are read with
			// the decoder's ConsumeBytes.
			if err := g.within(off, argLen, "value"); err != nil {
				return off, false, err
			}
			g.bytes(&off, argLen)
		}
	}
	return off, true, nil
}
