package eventxml

import (
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
	for _, c := range b {
		if c&0xC0 != 0x80 {
			n++
			if c >= 0xF0 {
				n++ // a 4-byte sequence came from a surrogate pair
			}
		}
	}
	return n
}
