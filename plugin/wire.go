package plugin

import (
	"strings"
	"unicode/utf8"
)

// Protobuf strings must be UTF-8, and event fields are not always: a file
// name on a client drive is whatever bytes the RDP client's user chose. So
// a string that is not valid UTF-8 crosses the wire escaped, with its bit
// set in the message's escaped field (detector.proto describes the scheme
// for other languages): each byte of an invalid sequence, and each byte of
// a character that is itself in the escape range, becomes U+F700+byte. A
// valid string is sent unchanged with its bit clear, which keeps peers that
// predate the scheme working.

// escapeBase + b (b in 0x80-0xFF) is the private-use code point that stands
// for byte b in an escaped string: U+F780-U+F7FF.
const escapeBase = 0xF700

func inEscapeRange(r rune) bool { return r >= escapeBase+0x80 && r <= escapeBase+0xFF }

// toWire returns s as it may be sent, and whether it had to be escaped.
func toWire(s string) (string, bool) {
	if utf8.ValidString(s) {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || inEscapeRange(r) {
			for _, c := range []byte(s[i : i+size]) {
				b.WriteRune(escapeBase + rune(c))
			}
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String(), true
}

// fromWire undoes toWire for a string that was sent escaped.
func fromWire(s string, escaped bool) string {
	if !escaped || !strings.ContainsFunc(s, inEscapeRange) {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if inEscapeRange(r) {
			b = append(b, byte(r-escapeBase))
		} else {
			b = utf8.AppendRune(b, r)
		}
	}
	return string(b)
}

// wireField escapes *s for the wire if it must be, recording field number
// n in mask.
func wireField(s *string, n int, mask *uint32) {
	if w, esc := toWire(*s); esc {
		*s = w
		*mask |= 1 << n
	}
}
