package jsonl

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

func TestNeedles(t *testing.T) {
	mounts := func(names ...string) detector.Config {
		c := detector.DefaultConfig()
		c.XrdpMountNames = names
		return c
	}
	strict := detector.DefaultConfig()
	strict.Strict = true
	tests := []struct {
		name string
		cfg  detector.Config
		want []string
	}{
		// .thinclient_drives holds thinclient_drives: one needle covers both.
		{"default", detector.DefaultConfig(), []string{"tsclient", "xrdp_client", "xrdp-client", "thinclient_drives"}},
		{"strict ignores mounts", strict, []string{"tsclient"}},
		{"no mounts", mounts(), []string{"tsclient"}},
		{"custom mount", mounts("rdpdrv"), []string{"rdpdrv", "tsclient"}},
		{"mount holding tsclient", mounts("my_tsclient_dir"), []string{"tsclient"}},
		{"mixed case mount kept as written", mounts("RDP-Drives"), []string{"tsclient", "RDP-Drives"}},
		// JSON may write '"' as \" and a tab as \t: the needle is the
		// longest run written as itself.
		{"quote in mount", mounts(`my"drives`), []string{"drives", "tsclient"}},
		{"tab in mount", mounts("a\tlonger"), []string{"longer", "tsclient"}},
		// An empty needle is in every document: decode everything.
		{"only escapable", mounts(`"`), []string{""}},
		{"non-ASCII mount", mounts("lecteurs_client_é"), []string{"tsclient", "lecteurs_client_é"}},
		// Only ASCII case is folded: "É" does not contain "é".
		{"non-ASCII case", mounts("é", "xÉy"), []string{"é", "xÉy", "tsclient"}},
	}
	for _, tt := range tests {
		if got := Needles(tt.cfg); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Needles = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestPairs checks the anchor choice: the default needles share one pair,
// so the scan tests three pairs (that one, "hits" and \u).
func TestPairs(t *testing.T) {
	p := newPrefilter(Needles(detector.DefaultConfig()))
	if len(p.pairs) != 3 || !p.pairs[2].escape || len(p.pairs[0].needles) != 4 || string(p.pairs[1].needles[0].b) != `"hits"` {
		t.Fatalf("pairs %+v", p.pairs)
	}
	if p := newPrefilter([]string{"x", "tsclient"}); !p.all {
		t.Errorf("a one-byte needle must turn the prefilter off, got %+v", p)
	}
	if p := newPrefilter([]string{"", "tsclient"}); !p.all {
		t.Errorf("an empty needle must turn the prefilter off")
	}
	many := []string{"tsclient"}
	for i := range 12 {
		many = append(many, strings.Repeat(string(rune('a'+i)), 3))
	}
	if p := newPrefilter(many); len(p.pairs) <= maxFastPairs {
		t.Fatalf("want more than %d pairs for %q, got %d", maxFastPairs, many, len(p.pairs))
	}
}

// reference is the prefilter written plainly: a needle ignoring ASCII
// case, or a \u escape.
func reference(needles []string, doc []byte) bool {
	l := bytes.ToLower(doc) // ToLower also folds non-ASCII; needles are ASCII here
	for _, n := range append(needles, `"hits"`) {
		if bytes.Contains(l, []byte(strings.ToLower(n))) {
			return true
		}
	}
	for i := 0; i+1 < len(doc); i++ {
		if doc[i] == '\\' && doc[i+1] == 'u' {
			run := 0
			for j := i; j >= 0 && doc[j] == '\\'; j-- {
				run++
			}
			if run%2 == 1 {
				return true
			}
		}
	}
	return false
}

func TestCandidate(t *testing.T) {
	def := Needles(detector.DefaultConfig())
	tests := []struct {
		name string
		doc  string
		want bool
	}{
		{"benign", `{"process":{"executable":"C:\\Windows\\notepad.exe"}}`, false},
		{"kernel form", `{"process":{"executable":"\\Device\\Mup\\tsclient\\C\\a.exe"}}`, true},
		{"mixed case", `{"process":{"executable":"\\\\TsClIeNt\\c\\a.exe"}}`, true},
		{"upper case", `{"Image":"\\\\TSCLIENT\\C\\A.EXE"}`, true},
		{"escaped c", `{"process":{"executable":"\\Device\\Mup\\ts\u0063lient\\C\\a.exe"}}`, true},
		{"escaped upper hex", `{"a":"\u0054SCLIENT"}`, true},
		{"escape anywhere", `{"a":"caf\u00e9"}`, true},
		{"escaped backslash then u", `{"a":"C:\\users\\x"}`, false},
		{"three backslashes then u", `{"a":"C:\\\u0075sers"}`, true},
		{"solidus escapes", `{"process":{"executable":"\/home\/u\/thinclient_drives\/C:\/a.sh"}}`, true},
		{"xrdp default name", `{"process":{"executable":"/home/u/xrdp-client/C:/a.sh"}}`, true},
		{"needle split by an escape", `{"a":"tscl\/ient"}`, false},
		{"needle split by an unknown escape", `{"a":"ts\client"}`, false},
		{"utf16 without bom", "{\x00\"\x00t\x00s\x00c\x00l\x00i\x00e\x00n\x00t\x00\"\x00}\x00", false},
		{"latin-1 around needle", "{\"a\":\"\xe9tsclient\xe9\"}", true},
		{"needle at end", `tsclient`, true},
		{"almost", `{"a":"tsclien","b":"sclient"}`, false},
		{"techinline is a candidate too", `{"a":"C:\\Techinline\\TSClient.exe"}`, true},
		{"search response", `{"took":1,"hits":{"hits":[]}}`, true},
		{"hits in a value", `{"a":"HITS here"}`, false},
	}
	p := newPrefilter(def)
	for _, tt := range tests {
		if got := p.candidate([]byte(tt.doc)); got != tt.want {
			t.Errorf("%s: candidate(%q) = %v, want %v", tt.name, tt.doc, got, tt.want)
		}
		if ref := reference(def, []byte(tt.doc)); ref != tt.want {
			t.Errorf("%s: reference disagrees with the table", tt.name)
		}
	}
}

// TestCandidateEveryOffset puts each needle and an escape at every offset
// and alignment of a word, in random case, with and without neighbours,
// and compares with the plain reference on random documents.
func TestCandidateEveryOffset(t *testing.T) {
	cfgs := []detector.Config{detector.DefaultConfig(), {XrdpMountNames: []string{"rdp_mnt", "zz-top"}}}
	many := detector.DefaultConfig()
	for i := range 12 {
		many.XrdpMountNames = append(many.XrdpMountNames, "mnt"+strings.Repeat(string(rune('a'+i)), 2))
	}
	cfgs = append(cfgs, many)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, cfg := range cfgs {
		needles := Needles(cfg)
		p := newPrefilter(needles)
		for _, n := range append(slices.Clone(needles), `\u0063`) {
			for pre := range 20 {
				for post := range 10 {
					b := []byte(strings.Repeat("x", pre) + n + strings.Repeat("y", post))
					for i := range b[pre : pre+len(n)] {
						if rng.IntN(2) == 0 && b[pre+i] != 'u' {
							b[pre+i] = bytes.ToUpper(b[pre+i : pre+i+1])[0]
						}
					}
					if !p.candidate(b) {
						t.Fatalf("needles %q: %q not a candidate", needles, b)
					}
					// Break the needle in the middle: no longer one.
					if len(n) > 2 {
						c := slices.Clone(b)
						c[pre+len(n)/2] = '#'
						if got, want := p.candidate(c), reference(needles, c); got != want {
							t.Fatalf("needles %q: candidate(%q) = %v, reference %v", needles, c, got, want)
						}
					}
				}
			}
		}
		alphabet := []byte(`tsclienTSCLIEN\u"/_-xrdphv0 `)
		for range 20000 {
			b := make([]byte, rng.IntN(40))
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
			if got, want := p.candidate(b), reference(needles, b); got != want {
				t.Fatalf("needles %q: candidate(%q) = %v, reference %v", needles, b, got, want)
			}
		}
	}
}

// TestOneByteNeedle: a one-character mount name cannot be anchored on a
// pair, so every document is decoded.
func TestOneByteNeedle(t *testing.T) {
	p := newPrefilter(Needles(detector.Config{XrdpMountNames: []string{"Q"}}))
	if !p.candidate([]byte(`{"a":"b"}`)) {
		t.Fatal("with a one-byte needle every document must be a candidate")
	}
}

func TestCheckShape(t *testing.T) {
	tests := []struct {
		doc  string
		want string // substring of the error, "" for none
	}{
		{`{"a":1}`, ""},
		{`[1,2]`, ""},
		{`{"a":"}`, ""}, // not balanced: only a parse sees that
		{`not json`, "starts with 'n'"},
		{`{"process": {"pid": `, "ends with ' '"},
		{`{"process": {"pid": 1`, "ends with '1'"},
		{"{\"a\":\"\x00\"}", "NUL byte at offset +6"},
		{"{\x00}\x00", "NUL byte at offset +1"},
		{`"string"`, "starts with '\"'"},
	}
	for _, tt := range tests {
		err := checkShape([]byte(tt.doc))
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("checkShape(%q) = %v, want %q", tt.doc, err, tt.want)
		}
	}
}

func TestTooDeep(t *testing.T) {
	tests := []struct {
		doc  string
		want bool
	}{
		{`{"a":[[]]}`, false},
		{strings.Repeat("[", 4) + strings.Repeat("]", 4), true},
		{strings.Repeat("[", 3) + strings.Repeat("]", 3), false},
		{`{"a":"[[[[[[[[[[","b":[1]}`, false},       // brackets in a string
		{`{"a":"\"[[[[[[[[","b":[1]}`, false},       // after an escaped quote
		{`{"a":"\\","b":[[[[[]]]]]}`, true},         // an escaped backslash ends before the quote
		{`[],[],[],[],[],[],[],[],[],[],[]`, false}, // many, not deep
	}
	for _, tt := range tests {
		if got := tooDeep([]byte(tt.doc), 3); got != tt.want {
			t.Errorf("tooDeep(%q, 3) = %v, want %v", tt.doc, got, tt.want)
		}
	}
}
