package eventxml

import (
	"bytes"
	"slices"
	"strings"
)

// needle is one needle, lower-cased, with the index of the byte the search
// looks for first.
type needle struct {
	b      []byte
	anchor int
}

// group is the needles that share an anchor byte, so one pass over an
// event finds them all.
type group struct {
	anchor  byte // lower case
	needles []needle
}

// prefilter decides, from an event's raw bytes, whether the event can be
// left undecoded because no field of it can hold a needle.
//
// A value's decoded text differs from its raw bytes in three ways: character
// and entity references, markup inside the value (child elements, whose text
// the parser joins to the value, comments, CDATA sections, processing
// instructions) and CR/LF normalization. The prefilter copes with each:
//   - any reference that decodes to a byte of some needle (ASCII case
//     folded), any non-ASCII reference when a needle is not ASCII, and any
//     malformed reference send the event to the decoder;
//   - an event holding "<!" or "<?" anywhere is decoded;
//   - the needle search steps over whole tags between two needle bytes, so
//     "\\ts<b/>client" is found;
//   - needles holding CR, LF, '<', '>' or '&' are refused (newPrefilter
//     returns nil and every event is decoded).
type prefilter struct {
	groups []group
	alpha  [256]bool // lower-cased bytes occurring in some needle
	ascii  bool      // every needle is ASCII
}

// newPrefilter compiles needles; it returns nil (decode everything) when
// there is no needle or one the raw search cannot find reliably.
func newPrefilter(needles []string) *prefilter {
	f := &prefilter{ascii: true}
	for _, n := range needles {
		if n == "" {
			continue
		}
		if strings.ContainsAny(n, "\r\n<>&") {
			return nil
		}
		nd := needle{b: make([]byte, len(n))}
		for i := 0; i < len(n); i++ {
			c := lower(n[i])
			nd.b[i] = c
			f.alpha[c] = true
			if c >= 0x80 {
				f.ascii = false
			}
			if rarity(c) < rarity(nd.b[nd.anchor]) {
				nd.anchor = i
			}
		}
		// A pass over the event costs more than verifying a few more
		// hits: join an existing group when the needle holds its anchor
		// ("client" puts every default needle in the 'l' group).
		for _, g := range f.groups {
			if i := bytes.IndexByte(nd.b, g.anchor); i >= 0 {
				nd.anchor = i
				break
			}
		}
		a := nd.b[nd.anchor]
		if k := slices.IndexFunc(f.groups, func(g group) bool { return g.anchor == a }); k >= 0 {
			f.groups[k].needles = append(f.groups[k].needles, nd)
		} else {
			f.groups = append(f.groups, group{anchor: a, needles: []needle{nd}})
		}
	}
	if len(f.groups) == 0 {
		return nil
	}
	return f
}

// xmlRarity ranks folded bytes from rarest to most common in rendered
// Windows event XML (Sysmon and Security samples): "tsclient" is looked
// for at its 'l', which a 1.9 KB Sysmon EID 1 event holds about 25 times.
const xmlRarity = "~`^|$!?;@*+#%[]_zqjkv\"yxbwh,/gfu.pl:mdc\\-=r'9876543210ionsta>< e"

func rarity(c byte) int {
	if i := strings.IndexByte(xmlRarity, c); i >= 0 {
		return i
	}
	return len(xmlRarity) / 2 // control and non-ASCII bytes: assume middling
}

// skippable reports whether the event span (from "<Event" to the first
// "</Event>", inclusive) can be skipped: it has no markup the search cannot
// see through, no nested <Event start tag, no reference that could spell a
// needle, and no needle.
func (f *prefilter) skippable(span []byte) bool {
	return !hasDecl(span) && !hasNestedEvent(span) && f.refsPlain(span) && !f.found(span)
}

// hasDecl reports whether s holds "<!" or "<?" (comment, CDATA section,
// DOCTYPE, processing instruction). Windows never writes them inside an
// event; they could hide the real </Event> or split a value. The search
// runs on the second byte, which is rare, rather than on the common '<'.
func hasDecl(s []byte) bool {
	for _, c := range [...]byte{'!', '?'} {
		for i := 1; i < len(s); {
			j := bytes.IndexByte(s[i:], c)
			if j < 0 {
				break
			}
			i += j
			if s[i-1] == '<' {
				return true
			}
			i++
		}
	}
	return false
}

// hasNestedEvent reports whether an <Event start tag follows the first
// byte of s: the event before it was cut short, which only the decoder
// reports. The search runs on the 'v' of "<Event", far rarer in events
// than '<' or 'E'.
func hasNestedEvent(s []byte) bool {
	v := eventTagV
	for i := v + 1; i < len(s); {
		j := bytes.IndexByte(s[i:], 'v')
		if j < 0 {
			return false
		}
		i += j
		if bytes.HasPrefix(s[i-v:], eventTag) {
			if is, _ := isEventStart(s[i-v:], true); is {
				return true
			}
		}
		i++
	}
	return false
}

// refsPlain reports whether every reference in s is well formed and
// decodes to a character no needle holds.
func (f *prefilter) refsPlain(s []byte) bool {
	for {
		k := bytes.IndexByte(s, '&')
		if k < 0 {
			return true
		}
		s = s[k:]
		semi := bytes.IndexByte(s, ';')
		if semi < 0 || semi > 10 {
			return false // malformed: let the decoder report it
		}
		var r rune
		switch ref := s[1:semi]; string(ref) {
		case "amp":
			r = '&'
		case "lt":
			r = '<'
		case "gt":
			r = '>'
		case "quot":
			r = '"'
		case "apos":
			r = '\''
		default:
			var ok bool
			if r, ok = charRef(ref); !ok {
				return false
			}
		}
		if r < 0x80 && f.alpha[lower(byte(r))] || r >= 0x80 && !f.ascii {
			return false
		}
		s = s[semi+1:]
	}
}

// found reports whether a needle occurs in s, ignoring ASCII case and any
// tags between its bytes. A superset is fine (the decoder confirms); a
// miss is not. Each anchor byte costs one bytes.IndexByte pass per case
// and a short check of its needles at each hit.
func (f *prefilter) found(s []byte) bool {
	found, _ := f.search(s)
	return found
}

// search is found, also returning how many bytes the tag skipping
// scanned. Hostile input (a value of '>' and anchor bytes, or of
// unclosed tags) could make that quadratic in the event size; past a
// budget of a few times the size the search gives up and calls the event
// a candidate, leaving it to the linear decoder.
func (f *prefilter) search(s []byte) (found bool, work int) {
	limit := 4*len(s) + 4096
	budget := limit
	for i := range f.groups {
		g := &f.groups[i]
		if findAt(s, g, g.anchor, &budget) {
			return true, limit - budget
		}
		if up := upper(g.anchor); up != g.anchor && findAt(s, g, up, &budget) {
			return true, limit - budget
		}
	}
	return false, limit - budget
}

// findAt checks g's needles at every occurrence of their anchor byte c in
// s, spending budget on tag skipping.
func findAt(s []byte, g *group, c byte, budget *int) bool {
	for i := 0; ; {
		j := bytes.IndexByte(s[i:], c)
		if j < 0 {
			return false
		}
		i += j
		for k := range g.needles {
			if matchAround(s, i, &g.needles[k], budget) || *budget < 0 {
				return true
			}
		}
		i++
	}
}

// matchAround reports whether n occurs in s with its anchor byte at a,
// allowing whole tags between any two of its bytes. In a needle occurrence
// inside a value, every byte is literal text (references that could spell
// one were ruled out), and what separates two of them can only be tags
// (comments and the like were ruled out too): going backward a '>' ends a
// tag, which starts at the previous '<' (attribute values cannot hold
// '<'); going forward a '<' starts one. A stray '>' in text is not a tag
// end: the tag found from the previous '<' then does not end there, and
// the match fails, rightly, since no needle holds '>'. Bytes scanned to
// skip tags are taken from budget.
func matchAround(s []byte, a int, n *needle, budget *int) bool {
	i := a - 1
	for j := n.anchor - 1; j >= 0; j-- {
		for {
			if i < 0 {
				return false
			}
			if lower(s[i]) == n.b[j] {
				i--
				break
			}
			if s[i] != '>' {
				return false
			}
			lt := bytes.LastIndexByte(s[:i], '<')
			*budget -= i - lt
			if lt < 0 || *budget < 0 {
				return false
			}
			if e, _ := tagEnd(s[:i+1], lt); e != i+1 {
				return false
			}
			i = lt - 1
		}
	}
	i = a + 1
	for j := n.anchor + 1; j < len(n.b); j++ {
		for {
			if i >= len(s) {
				return false
			}
			if lower(s[i]) == n.b[j] {
				i++
				break
			}
			if s[i] != '<' {
				return false
			}
			e, n := tagEnd(s, i)
			if *budget -= n; e < 0 || *budget < 0 {
				return false
			}
			i = e
		}
	}
	return true
}

// tagEnd returns the index just past the tag starting at s[i] ('<'), or
// -1 if it does not end before the next '<' or the end of s, and how many
// bytes it looked at. A '>' inside a quoted attribute value does not end
// the tag; a '<' anywhere means the tag is malformed (the decoder rejects
// '<' in attribute values).
func tagEnd(s []byte, i int) (end, scanned int) {
	start := i
	var quote byte
	for i++; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '<':
			return -1, i - start
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i + 1, i + 1 - start
		}
	}
	return -1, i - start
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
