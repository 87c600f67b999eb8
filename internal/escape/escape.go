// Package escape makes text that attackers control safe to show: on a
// terminal, in an aligned table, in a spreadsheet opened from CSV and in
// JSON read by people or by tools that render it. Paths, command lines,
// user names, mount names and log contents all pass through here before
// they reach stdout, stderr or tsclientwatch_status.
//
// The one rule is Unsafe: a rune that is not printable (C0 and C1
// controls, DEL, line and paragraph separators, non-ASCII spaces, private
// use and unassigned code points) or is a format character (Unicode
// category Cf: bidi overrides and isolates such as U+202E, zero-width
// characters, the BOM, tag characters). Terminals act on the controls
// (ESC, U+009B CSI); bidi and zero-width characters make a name read as
// something it is not ("invoice\u202eexe.pdf" shows as "invoiceexe.pdf"
// reversed). Invalid UTF-8 counts as unsafe too.
package escape

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Unsafe reports whether r must not be shown raw: it is not printable or
// it is a format character (category Cf).
func Unsafe(r rune) bool {
	if r >= 0x20 && r < 0x7f {
		return false // printable ASCII, the common case
	}
	return !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r)
}

// Text returns s with every unsafe rune written as a Go-style escape:
// \t, \n and \r; \xNN for other ASCII controls, DEL and each byte of
// invalid UTF-8; \uNNNN or \UNNNNNNNN for the rest. Everything else,
// backslashes included (Windows paths are full of them), is kept, so the
// result is for display: it is not meant to be decoded back. s is returned
// as it is when it holds nothing unsafe.
func Text(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			appendHex(&b, 'x', uint32(s[i]), 2)
		case !Unsafe(r):
			b.WriteString(s[i : i+size])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80:
			appendHex(&b, 'x', uint32(r), 2)
		case r <= 0xffff:
			appendHex(&b, 'u', uint32(r), 4)
		default:
			appendHex(&b, 'U', uint32(r), 8)
		}
		i += size
	}
	return b.String()
}

// firstUnsafe returns the byte index of the first unsafe rune or invalid
// byte in s, or -1.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || Unsafe(r) {
			return i
		}
		i += size
	}
	return -1
}

func appendHex(b *strings.Builder, kind byte, v uint32, digits int) {
	b.WriteByte('\\')
	b.WriteByte(kind)
	h := strconv.FormatUint(uint64(v), 16)
	for n := len(h); n < digits; n++ {
		b.WriteByte('0')
	}
	b.WriteString(h)
}

// JSON rewrites an encoded JSON document (as encoding/json writes it:
// valid UTF-8) so that every unsafe rune inside its strings is a \u
// escape (a surrogate pair above U+FFFF). encoding/json already escapes
// C0 controls, U+2028 and U+2029; this adds DEL, C1 controls, bidi and
// other format characters and the rest of Unsafe. The decoded values are
// unchanged: a JSON reader gets the same strings back. Runes outside
// strings are never unsafe in valid JSON (its syntax is ASCII), so the
// rewrite cannot change the structure. b itself is returned when nothing
// needs escaping.
func JSON(b []byte) []byte {
	i := firstUnsafeBytes(b)
	if i < 0 {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	out = append(out, b[:i]...)
	for i < len(b) {
		if b[i] < 0x7f { // JSON syntax, whitespace, or already escaped
			out = append(out, b[i])
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = appendU(out, utf8.RuneError) // not from encoding/json, but stay valid
		case !Unsafe(r):
			out = append(out, b[i:i+size]...)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = appendU(appendU(out, r1), r2)
		default:
			out = appendU(out, r)
		}
		i += size
	}
	return out
}

func firstUnsafeBytes(b []byte) int {
	for i := 0; i < len(b); {
		c := b[i]
		// Inside JSON, ASCII controls are already escaped and tab, CR
		// and LF may only appear as whitespace between tokens.
		if c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if (r == utf8.RuneError && size == 1) || Unsafe(r) {
			return i
		}
		i += size
	}
	return -1
}

func appendU(b []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}

// Formula returns s with a leading apostrophe when a spreadsheet would
// read it as a formula: its first character after any spaces is '=', '+',
// '-', '@', a tab or a carriage return (OWASP's CSV injection advice). Excel, LibreOffice and Google Sheets show such a
// cell as the text after the apostrophe. A cell like "-5" is quoted too:
// a text column that happens to hold a number loses nothing by it, and a
// rule that guessed at numbers would let "-1+cmd|..." through.
func Formula(s string) string {
	t := strings.TrimLeft(s, " ")
	if t != "" && strings.IndexByte("=+-@\t\r", t[0]) >= 0 {
		return "'" + s
	}
	return s
}

// CSV returns s as one CSV cell: unsafe runes escaped as Text does (so a
// cell is one line and carries no terminal escapes), then, unless raw,
// made inert for spreadsheets with Formula.
func CSV(s string, raw bool) string {
	s = Text(s)
	if raw {
		return s
	}
	return Formula(s)
}

// Fprintf is fmt.Fprintf for messages to a terminal (standard error): every
// argument that is not a number or a bool (strings, errors, paths, lists)
// is formatted on its own and passed through Text, so the format's own
// newlines stay and a file name, mount name or log excerpt inside an
// argument cannot end a line or move the cursor.
func Fprintf(w io.Writer, format string, args ...any) (int, error) {
	return fmt.Fprintf(w, format, Args(args)...)
}

// Args returns args with every value that is not a number or a bool
// replaced by Text of its %v form.
func Args(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch a.(type) {
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr,
			float32, float64, bool:
			out[i] = a
		default:
			out[i] = Text(fmt.Sprint(a))
		}
	}
	return out
}
