package jsonl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Needles returns the strings whose presence in a document's raw bytes,
// ignoring ASCII case, cfg's rule needs before it can fire on the document:
// "tsclient", which every Windows path form the rule knows contains, and,
// outside strict mode, each xrdp mount name (the rule compares those
// exactly, so a case-insensitive search finds a superset).
//
// The rule matches decoded strings, and JSON may write a character of a
// string other than as itself: any character as a \u escape (documents
// holding one are decoded whatever their needles say), and '"', '\', '/'
// and control characters as two-byte escapes (\" \\ \/ \n...). A mount
// name holding one of the latter is cut there and its longest piece is the
// needle; a name that is nothing but such characters yields "", which turns
// the prefilter off. A needle that contains another is left out: finding
// the shorter one already makes the document a candidate.
func Needles(cfg detector.Config) []string {
	all := []string{"tsclient"}
	if !cfg.Strict {
		for _, n := range cfg.XrdpMountNames {
			all = append(all, longestVerbatim(n))
		}
	}
	slices.SortStableFunc(all, func(a, b string) int { return len(a) - len(b) })
	var out []string
	for _, n := range all {
		ln := lowerString(n)
		if slices.ContainsFunc(out, func(k string) bool { return strings.Contains(ln, lowerString(k)) }) {
			continue
		}
		out = append(out, n)
	}
	return out
}

// longestVerbatim returns the longest run of s that JSON can only write as
// itself or as \u escapes.
func longestVerbatim(s string) string {
	best := ""
	for piece := range strings.FieldsFuncSeq(s, escapable) {
		if len(piece) > len(best) {
			best = piece
		}
	}
	if best == "" && s != "" {
		return "" // every character may be escaped: nothing to look for
	}
	return best
}

// escapable reports whether JSON may write r with a two-byte escape.
func escapable(r rune) bool { return r == '"' || r == '\\' || r == '/' || r < 0x20 }

// prefilter tells candidate documents, which are decoded, from documents
// the rule cannot fire on, which are only counted.
type prefilter struct {
	// all is set when a needle is empty: every document is a candidate.
	all bool
	// pairs are the two-byte anchors the scan looks for, OR-folded (see
	// scan); the last one is the \u escape.
	pairs []pair
}

// pair is two adjacent bytes a needle holds, and every needle holding them
// with the offset where they sit.
type pair struct {
	c0, c1  byte // folded: c | 0x20
	needles []needleAt
	escape  bool // the \u pair
}

type needleAt struct {
	b   []byte // lower case
	off int    // index of the pair in b
}

// newPrefilter builds the scan for needles. The anchors are chosen so one
// pair covers as many needles as it can (the default needles all hold
// "cl"), rare pairs first, since every pair costs a little on every byte
// and every anchor found costs a comparison.
func newPrefilter(needles []string) *prefilter {
	p := &prefilter{}
	var left [][]byte
	// An Elasticsearch search response is one document holding many
	// events: decoding every document that mentions "hits" keeps the
	// record counts of a prefiltered read equal to a full parse's (a
	// skipped document counts as one record). Such documents are rare.
	for _, n := range append(slices.Clip(needles), `"hits"`) {
		if n == "" {
			p.all = true
			return p
		}
		left = append(left, []byte(lowerString(n)))
	}
	for len(left) > 0 {
		best, bestCover, bestScore := [2]byte{}, 0, 0
		for _, n := range left {
			if len(n) == 1 {
				// A one-byte needle: pair it with any byte.
				continue
			}
			for i := 0; i+1 < len(n); i++ {
				c := [2]byte{n[i] | 0x20, n[i+1] | 0x20}
				cover := 0
				for _, m := range left {
					if pairIndex(m, c) >= 0 {
						cover++
					}
				}
				score := rarity(n[i]) * rarity(n[i+1])
				if cover > bestCover || cover == bestCover && score < bestScore {
					best, bestCover, bestScore = c, cover, score
				}
			}
		}
		if bestCover == 0 {
			// Only one-byte needles are left: every document holding
			// the byte is a candidate; scan for it paired with itself
			// at a shift of zero is not possible, so decode everything.
			p.all = true
			p.pairs = nil
			return p
		}
		pr := pair{c0: best[0], c1: best[1]}
		var rest [][]byte
		for _, n := range left {
			if i := pairIndex(n, best); i >= 0 {
				pr.needles = append(pr.needles, needleAt{b: n, off: i})
			} else {
				rest = append(rest, n)
			}
		}
		p.pairs = append(p.pairs, pr)
		left = rest
	}
	p.pairs = append(p.pairs, pair{c0: '\\' | 0x20, c1: 'u' | 0x20, escape: true})
	return p
}

// pairIndex returns where the folded pair c first sits in n, or -1.
func pairIndex(n []byte, c [2]byte) int {
	for i := 0; i+1 < len(n); i++ {
		if n[i]|0x20 == c[0] && n[i+1]|0x20 == c[1] {
			return i
		}
	}
	return -1
}

// rareFirst ranks ASCII bytes (letters folded to lower case) from rarest
// to most common as they occur in JSON event exports, counted over the
// shared and testdata ECS, winlogbeat, NXLog and evtx_dump documents.
const rareFirst = "&*;<>^`~!'|?+#$=/()z@[]%qj_{}xk7965b8.fy43wv1gh2p-u,lm0d:c\\iarsont\"e"

func rarity(c byte) int {
	c = lowerASCII(c)
	if i := strings.IndexByte(rareFirst, c); i >= 0 {
		return i + 1
	}
	return len(rareFirst) / 2 // control and non-ASCII bytes: no statistics
}

// SWAR constants: one in every byte, the high bit of every byte, and the
// fold that maps ASCII upper case letters onto lower case (and a few
// other bytes onto others, which only adds places to verify).
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
	fold  = 0x2020202020202020
)

// candidate reports whether doc holds a needle, ignoring ASCII case, or a
// \u escape (which could spell a needle in disguise).
//
// The scan reads eight bytes at a time twice, at i and i+1, folds both,
// and tests each anchor pair for a byte position where both words match
// (a zero byte in the XOR of each with the pair); only such positions are
// verified byte by byte. Plain Go, no assembly: it runs at a few GB per
// CPU second on event JSON, well above the read and decode rates around it.
func (p *prefilter) candidate(doc []byte) bool {
	if p.all {
		return true
	}
	var masks [maxFastPairs][2]uint64
	np := len(p.pairs)
	if np > maxFastPairs {
		return p.slowCandidate(doc)
	}
	for k := range np {
		masks[k] = [2]uint64{ones * uint64(p.pairs[k].c0), ones * uint64(p.pairs[k].c1)}
	}
	i := 0
	switch np {
	case 3:
		// The common case, specialised so the masks stay in registers:
		// one pair for the needles, one for "hits", one for \u.
		a0, a1, b0, b1, e0, e1 := masks[0][0], masks[0][1], masks[1][0], masks[1][1], masks[2][0], masks[2][1]
		for ; i+9 <= len(doc); i += 8 {
			w := doc[i : i+9]
			x := binary.LittleEndian.Uint64(w) | fold
			y := binary.LittleEndian.Uint64(w[1:]) | fold
			v := (x ^ a0) | (y ^ a1)
			h := (x ^ b0) | (y ^ b1)
			u := (x ^ e0) | (y ^ e1)
			if ((v-ones)&^v|(h-ones)&^h|(u-ones)&^u)&highs != 0 && p.verify(doc, i, i+8) {
				return true
			}
		}
	default:
		for ; i+9 <= len(doc); i += 8 {
			w := doc[i : i+9]
			x := binary.LittleEndian.Uint64(w) | fold
			y := binary.LittleEndian.Uint64(w[1:]) | fold
			var hit uint64
			for k := range np {
				v := (x ^ masks[k][0]) | (y ^ masks[k][1])
				hit |= (v - ones) &^ v
			}
			if hit&highs != 0 && p.verify(doc, i, i+8) {
				return true
			}
		}
	}
	return p.verify(doc, i, len(doc))
}

// maxFastPairs bounds the pairs the word scan tests at once; more (a long
// list of unrelated mount names) falls back to a byte scan.
const maxFastPairs = 8

func (p *prefilter) slowCandidate(doc []byte) bool { return p.verify(doc, 0, len(doc)) }

// verify checks every position in [from, to) of doc for a pair and then for
// the needles anchored there.
func (p *prefilter) verify(doc []byte, from, to int) bool {
	for i := from; i < to && i+1 < len(doc); i++ {
		a, b := doc[i]|0x20, doc[i+1]|0x20
		for k := range p.pairs {
			pr := &p.pairs[k]
			if a != pr.c0 || b != pr.c1 {
				continue
			}
			if pr.escape {
				if doc[i] == '\\' && doc[i+1] == 'u' && escapeAt(doc, i) {
					return true
				}
				continue
			}
			for _, n := range pr.needles {
				at := i - n.off
				if at >= 0 && at+len(n.b) <= len(doc) && equalFold(doc[at:at+len(n.b)], n.b) {
					return true
				}
			}
		}
	}
	return false
}

// escapeAt reports whether the backslash at doc[i] starts an escape: it is
// preceded by an even number of backslashes (`\\u` is a backslash and a u).
func escapeAt(doc []byte, i int) bool {
	j := i
	for j > 0 && doc[j-1] == '\\' {
		j--
	}
	return (i-j)%2 == 0
}

// equalFold reports whether b equals the lower-case p, ignoring ASCII case
// in b.
func equalFold(b, p []byte) bool {
	for i, c := range p {
		if lowerASCII(b[i]) != c {
			return false
		}
	}
	return true
}

// lowerString folds the ASCII letters of s only. The search compares
// bytes with ASCII case folded; strings.ToLower would also fold "É" to
// "é", which the search then never finds where the log has "É" (and the
// rule compares mount names exactly).
func lowerString(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lowerASCII(c)
	}
	return string(b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// checkShape is the structural check every document gets before it is
// decoded or skipped (the prefilter needs it: a skipped document is never
// parsed, and this is all that is checked of it). doc has no surrounding
// white space. It must start with '{' or '[', end with '}' or ']', and
// hold no NUL byte (JSON has none outside \u0000; UTF-16 text without a
// byte order mark has one in every ASCII character).
//
// Not checked, in either mode: bracket balance and syntax (parsing is what
// the prefilter saves), and UTF-8 validity. The decoder keeps the bytes of
// a string that is not UTF-8 as they are, and rejecting such documents
// would let a shipper's raw lone surrogate (WTF-8 from an NTFS name) or a
// Latin-1 byte in a path hide an execution behind a bad-record report.
func checkShape(doc []byte) error {
	if i := bytes.IndexByte(doc, 0); i >= 0 {
		return fmt.Errorf("invalid JSON: NUL byte at offset +%d in the document (UTF-16 without a byte order mark?)", i)
	}
	if c := doc[0]; c != '{' && c != '[' {
		return fmt.Errorf("invalid JSON: starts with %q, want '{' or '['", rune(c))
	}
	if c := doc[len(doc)-1]; c != '}' && c != ']' {
		return fmt.Errorf("invalid JSON: ends with %q, want '}' or ']' (truncated?)", rune(c))
	}
	return nil
}
