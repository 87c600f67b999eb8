package evtx

import (
	"bytes"
	"strings"
	"unicode/utf16"
)

// pattern is one needle in one encoding, lower-cased, with the byte the
// search looks for first.
type pattern struct {
	b      []byte
	anchor int // index in b of the rarest byte
}

// needleSet finds any of its needles in a chunk, each both in UTF-16LE
// (binary XML strings) and as bytes (UTF-8, which is also every
// single-byte code page for ASCII needles: ANSI string values).
type needleSet struct {
	patterns []pattern
}

func newNeedleSet(needles []string) *needleSet {
	s := &needleSet{}
	for _, n := range needles {
		if n == "" {
			continue
		}
		s.add([]byte(n))
		u := utf16.Encode([]rune(n))
		b := make([]byte, 0, 2*len(u))
		for _, c := range u {
			b = append(b, byte(c), byte(c>>8))
		}
		s.add(b)
	}
	return s
}

func (s *needleSet) add(b []byte) {
	p := pattern{b: make([]byte, len(b))}
	for i, c := range b {
		p.b[i] = lower(c)
		if rarity(p.b[i]) < rarity(p.b[p.anchor]) {
			p.anchor = i
		}
	}
	s.patterns = append(s.patterns, p)
}

// rareFirst ranks folded ASCII bytes from rarest to most common as they
// occur in EVTX chunks (counted over the shared corpus, 45 MB of Sysmon,
// Security, System and PowerShell logs). A rare anchor keeps the number
// of places to verify small: 'l', the anchor of "tsclient", occurs about
// 250 times in a 64 KiB chunk.
const rareFirst = "~[}^`#<]'?{+\"|$>,;_zq)@j(%!&/=:k*v79x8h56g.4yb3u21\\pf-l0wmdcrntaiose"

func rarity(c byte) int {
	if c == 0 {
		return 1 << 10 // three bytes in four of a chunk
	}
	if i := strings.IndexByte(rareFirst, c); i >= 0 {
		return i
	}
	return len(rareFirst) / 2 // control and non-ASCII bytes: no statistics, assume middling
}

// contains reports whether b holds any needle. It is a superset test:
// bytes are compared with ASCII case folded, also inside UTF-16 code units
// and UTF-8 sequences of non-ASCII needles, which can only add candidates.
//
// Each pattern costs one or two bytes.IndexByte passes (vectorized in the
// runtime) over b for its anchor byte in both cases, and a short compare
// at each hit.
func (s *needleSet) contains(b []byte) bool {
	for i := range s.patterns {
		p := &s.patterns[i]
		a := p.b[p.anchor]
		if find(b, p, a) {
			return true
		}
		if up := upper(a); up != a && find(b, p, up) {
			return true
		}
	}
	return false
}

// find looks for p in b at every occurrence of the anchor byte c.
func find(b []byte, p *pattern, c byte) bool {
	n := len(p.b)
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], c)
		if j < 0 {
			return false
		}
		at := i + j - p.anchor
		if at >= 0 && at+n <= len(b) && equalFold(b[at:at+n], p.b) {
			return true
		}
		i += j + 1
	}
}

// equalFold reports whether b equals the lower-case pattern p, ignoring
// ASCII case in b.
func equalFold(b, p []byte) bool {
	for i, c := range p {
		if lower(b[i]) != c {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
