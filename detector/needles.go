package detector

import (
	"slices"
	"strings"
)

// Needles returns the strings one of which a record's text must contain,
// ignoring ASCII case, before cfg's rule can fire on it: "tsclient", which
// every Windows path form the rule knows contains, and, outside strict
// mode, each xrdp mount name (the rule compares those exactly, so a
// case-insensitive search finds a superset). Readers' prefilters search
// raw bytes for them to skip records without decoding them.
func Needles(cfg Config) []string {
	all := []string{"tsclient"}
	if !cfg.Strict {
		all = append(all, cfg.XrdpMountNames...)
	}
	return ReduceNeedles(all)
}

// ReduceNeedles drops empty needles and every needle that contains another
// (ignoring ASCII case): the shorter one already finds it. Only ASCII case
// is folded, as the searches do; strings.ToLower would fold É to é and drop
// a needle that a byte search then never matches. The result is sorted by
// length, shortest first.
func ReduceNeedles(all []string) []string {
	all = slices.Clone(all)
	slices.SortStableFunc(all, func(a, b string) int { return len(a) - len(b) })
	var out, lowered []string
	for _, n := range all {
		ln := asciiLower(n)
		if n == "" || slices.ContainsFunc(lowered, func(k string) bool { return strings.Contains(ln, k) }) {
			continue
		}
		out = append(out, n)
		lowered = append(lowered, ln)
	}
	return out
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower(c)
	}
	return string(b)
}
