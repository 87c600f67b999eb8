package eventxml

import (
	"encoding/binary"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// utf16Reader transcodes a UTF-16 stream (BOM already consumed) to UTF-8
// as it is read. wevtutil output redirected by Windows PowerShell 5 is
// UTF-16LE, and the XML reader works on UTF-8 only. Unpaired surrogates and a
// trailing odd byte become U+FFFD, each standing for one UTF-16 code unit,
// which keeps the reader's byte-offset arithmetic exact.
type utf16Reader struct {
	r   io.Reader
	be  bool
	in  []byte // raw bytes not yet decoded: in[:n]
	n   int
	out []byte // decoded bytes not yet returned: out[op:]
	op  int
	err error
}

func newUTF16Reader(r io.Reader, bigEndian bool) *utf16Reader {
	return &utf16Reader{r: r, be: bigEndian, in: make([]byte, 32<<10)}
}

func (u *utf16Reader) unit(i int) rune {
	if u.be {
		return rune(u.in[i])<<8 | rune(u.in[i+1])
	}
	return rune(u.in[i+1])<<8 | rune(u.in[i])
}

// ascii copies the ASCII units from in[i:] to out and returns the index
// of the first unit that is not ASCII (or of the odd byte at the end).
func (u *utf16Reader) ascii(i int) int {
	in := u.in[:u.n]
	if cap(u.out)-len(u.out) < len(in)/2 {
		u.out = append(make([]byte, 0, len(u.out)+len(in)), u.out...)
	}
	out := u.out[len(u.out):cap(u.out)]
	hi, lo := 1, 0 // positions of the high and low bytes in a unit
	if u.be {
		hi, lo = 0, 1
	}
	j := 0
	if !u.be {
		// Four little-endian units at a time: all ASCII when no high byte
		// and no low byte has its top bit set.
		for ; i+8 <= len(in) && j+4 <= len(out); i += 8 {
			w := binary.LittleEndian.Uint64(in[i:])
			if w&0xFF80FF80FF80FF80 != 0 {
				break
			}
			w = (w | w>>8) & 0x0000FFFF0000FFFF
			w = (w | w>>16) & 0xFFFFFFFF
			binary.LittleEndian.PutUint32(out[j:], uint32(w))
			j += 4
		}
	}
	for ; i+1 < len(in) && j < len(out); i += 2 {
		if in[i+hi] != 0 || in[i+lo] >= utf8.RuneSelf {
			break
		}
		out[j] = in[i+lo]
		j++
	}
	u.out = u.out[:len(u.out)+j]
	return i
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for u.op == len(u.out) {
		if u.err != nil {
			return 0, u.err
		}
		m, err := u.r.Read(u.in[u.n:])
		u.n += m
		if err != nil {
			u.err = err
		}
		u.out, u.op = u.out[:0], 0
		i := 0
		for i+1 < u.n {
			// ASCII runs, nearly all of an event, are copied unit by unit
			// without the general path's decoding.
			i = u.ascii(i)
			if i+1 >= u.n {
				break
			}
			c := u.unit(i)
			switch {
			case c < utf8.RuneSelf:
				u.out = append(u.out, byte(c))
				i += 2
				continue
			case utf16.IsSurrogate(c) && c < 0xDC00:
				if i+3 >= u.n {
					if u.err == nil {
						goto more // the low half has not been read yet
					}
					c = utf8.RuneError
					break
				}
				if r := utf16.DecodeRune(c, u.unit(i+2)); r != utf8.RuneError {
					u.out = utf8.AppendRune(u.out, r)
					i += 4
					continue
				}
				c = utf8.RuneError
			case utf16.IsSurrogate(c):
				c = utf8.RuneError
			}
			u.out = utf8.AppendRune(u.out, c)
			i += 2
		}
		if u.err != nil && i < u.n {
			u.out = utf8.AppendRune(u.out, utf8.RuneError)
			i = u.n
		}
	more:
		u.n = copy(u.in, u.in[i:u.n])
	}
	n := copy(p, u.out[u.op:])
	u.op += n
	return n, nil
}

// utf16Units returns how many UTF-16 code units the UTF-8 text b (as
// produced by utf16Reader) came from.
func utf16Units(b []byte) int64 {
	var n int64
	for len(b) > 0 {
		// Eight bytes at a time while they are ASCII, one unit each.
		for len(b) >= 8 && binary.LittleEndian.Uint64(b)&0x8080808080808080 == 0 {
			n += 8
			b = b[8:]
		}
		k := min(len(b), 8)
		for _, c := range b[:k] {
			if c&0xC0 != 0x80 {
				n++
				if c >= 0xF0 {
					n++ // a 4-byte sequence came from a surrogate pair
				}
			}
		}
		b = b[k:]
	}
	return n
}
