package eventxml

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
)

func TestNewPrefilterRefuses(t *testing.T) {
	t.Parallel()
	for _, needles := range [][]string{nil, {}, {""}, {"tsclient", "a\nb"}, {"a\rb"}, {"a<b"}, {"a>b"}, {"a&b"}} {
		if f := newPrefilter(needles); f != nil {
			t.Errorf("newPrefilter(%q) = %+v, want nil (decode everything)", needles, f)
		}
	}
}

// disguised are Image values that decode to a tsclient path although their
// raw bytes do not hold "tsclient": each must reach the decoder.
var disguised = []struct{ name, image string }{
	{"hex char ref", `\\&#x74;sclient\c\a.exe`},
	{"decimal char ref", `\\&#116;sclient\c\a.exe`},
	{"upper-case ref", `\\&#84;SCLIENT\c\a.exe`},
	{"ref in the middle", `\\ts&#x63;lient\c\a.exe`},
	{"ref at the anchor", `\\tsc&#108;ient\c\a.exe`},
	{"every byte a ref", `&#92;&#92;&#116;&#115;&#99;&#108;&#105;&#101;&#110;&#116;&#92;c&#92;a.exe`},
	{"child element", `\\ts<b/>client\c\a.exe`},
	{"child with text", `\\t<i>sc</i>lient\c\a.exe`},
	{"sibling children", `<x>\\ts</x><y>client\c\a.exe</y>`},
	{"quoted > in a child tag", `\\tscl<b a='>x' c=">">ie</b>nt\c\a.exe`},
	{"comment", `\\ts<!-- x -->client\c\a.exe`},
	{"cdata", `\\ts<![CDATA[cli]]>ent\c\a.exe`},
	{"processing instruction", `\\tscli<?pi x?>ent\c\a.exe`},
}

func TestPrefilterSkippable(t *testing.T) {
	t.Parallel()
	def := newPrefilter(detector.Needles(detector.DefaultConfig()))
	cfg := detector.DefaultConfig()
	cfg.XrdpMountNames = []string{"RDP_Share"}
	custom := newPrefilter(detector.Needles(cfg))
	cyr := newPrefilter([]string{"tsclient", "диск"})
	type tc struct {
		name  string
		f     *prefilter
		event string
		skip  bool
	}
	tests := []tc{
		{"benign", def, processEvent(1, `C:\Windows\System32\cmd.exe`), true},
		{"positive", def, processEvent(1, `\\tsclient\c\a.exe`), false},
		{"mixed case", def, processEvent(1, `\\TsClIeNt\C\A.EXE`), false},
		{"kernel form", def, processEvent(1, `\Device\Mup\TSCLIENT\c\a.exe`), false},
		{"needle outside Image", def, processEvent(1, `C:\x.exe`) + "", true},
		{"benign references", def, sysmonEvent(1, 1, `<Data Name='CommandLine'>&quot;&amp;&lt;&gt;&apos;&#174;&#xE9;&#10;</Data>`), true},
		{"bad reference", def, sysmonEvent(1, 1, `<Data Name='v'>a &bogus; b</Data>`), false},
		{"bare ampersand", def, sysmonEvent(1, 1, `<Data Name='v'>a & b</Data>`), false},
		{"nested event", def, sysmonEvent(1, 1, `<Data Name='v'>x</Data>`)[:300] + sysmonEvent(1, 2, ""), false},
		{"EventData is not a nested event", def, sysmonEvent(1, 1, `<Data Name='Image'>C:\x.exe</Data>`), true},
		{"comment without needle", def, sysmonEvent(1, 1, `<Data Name='v'>a<!-- b --></Data>`), false},
		{"quote in text", def, sysmonEvent(1, 1, `<Data Name='v'>it's "x" &gt; y</Data>`), true},
		{"default mount", def, processEvent(1, `/home/u/thinclient_drives/c/a`), false},
		{"mount mixed case", def, processEvent(1, `/home/u/XRDP-Client/c/a`), false},
		{"custom mount", custom, processEvent(1, `/home/u/rdp_share/c/a`), false},
		{"default mount under custom config", custom, processEvent(1, `/home/u/thinclient_drives/c/a`), true},
		{"custom mount split by a tag", custom, processEvent(1, `/home/u/RDP<b/>_Share/c/a`), false},
		{"custom mount via ref", custom, processEvent(1, `/home/u/RDP&#95;Share/c/a`), false},
		{"non-ASCII needle", cyr, processEvent(1, `/mnt/диск/a`), false},
		{"non-ASCII ref with non-ASCII needle", cyr, processEvent(1, `/mnt/&#1076;иск/a`), false},
		{"non-ASCII ref with ASCII needles", def, processEvent(1, `/mnt/&#1076;иск/a`), true},
	}
	for _, d := range disguised {
		tests = append(tests, tc{"disguised: " + d.name, def, processEvent(1, d.image), false})
	}
	for _, tt := range tests {
		span := []byte(tt.event)
		if k := bytes.Index(span, eventEnd); k >= 0 {
			span = span[:k+len(eventEnd)]
		}
		if got := tt.f.skippable(span); got != tt.skip {
			t.Errorf("%s: skippable = %v, want %v", tt.name, got, tt.skip)
		}
	}
}

// detections runs the events of one read through m.
func detections(t *testing.T, res result, m *detector.Matcher) []string {
	t.Helper()
	got, _ := m.Detect(context.Background(), res.events, nil)
	out := make([]string, len(got))
	for i, d := range got {
		out[i] = fmt.Sprintf("%+v", d)
	}
	return out
}

// parityConfigs are the detector configurations the parity tests run.
func parityConfigs() map[string]detector.Config {
	strict := detector.DefaultConfig()
	strict.Strict = true
	custom := detector.DefaultConfig()
	custom.XrdpMountNames = []string{"RDP_Share"}
	return map[string]detector.Config{"default": detector.DefaultConfig(), "strict": strict, "custom": custom}
}

// checkParity reads in with and without the prefilter and requires the
// same detections for every configuration, and the same record and bad
// counts. It returns the number of detections (default configuration)
// and of skipped events.
func checkParity(t *testing.T, name string, in []byte) (dets int, skipped int64) {
	t.Helper()
	full := read(t, in, name, Options{})
	for cname, cfg := range parityConfigs() {
		m := detector.MustNew(cfg)
		pf := read(t, in, name, Options{Needles: detector.Needles(cfg)})
		if fmt.Sprint(full.err) != fmt.Sprint(pf.err) {
			t.Errorf("%s/%s: err %v with the prefilter, %v without", name, cname, pf.err, full.err)
		}
		want, got := detections(t, full, m), detections(t, pf, m)
		if !slices.Equal(got, want) {
			t.Errorf("%s/%s: detections differ\nprefilter: %q\nfull:      %q", name, cname, got, want)
		}
		if pf.stats.Records != full.stats.Records || pf.stats.Bad != full.stats.Bad || pf.stats.Bytes != full.stats.Bytes {
			t.Errorf("%s/%s: stats %+v with the prefilter, %+v without", name, cname, pf.stats, full.stats)
		}
		if int64(len(pf.events))+pf.skip != full.stats.Records-full.stats.Bad {
			t.Errorf("%s/%s: %d emitted + %d skipped, full parse read %d good events", name, cname, len(pf.events), pf.skip, full.stats.Records-full.stats.Bad)
		}
		if cname == "default" {
			dets, skipped = len(want), pf.skip
		}
	}
	return dets, skipped
}

// TestPrefilterParity proves the fast path changes nothing: every XML file
// in testdata and a generated input with disguised positives give the same
// detections with the prefilter as with a full decode.
func TestPrefilterParity(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(testdir.Testdata(t, "xml"), "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no XML test files: %v", err)
	}
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dets, _ := checkParity(t, filepath.Base(f), in)
		if dets == 0 {
			t.Errorf("%s: no detection: the parity check proves nothing", f)
		}
	}

	// A large input: mostly benign Sysmon EID 1, plain positives, every
	// disguise, and near misses.
	var b bytes.Buffer
	wantDets := 0
	for i := 1; i <= 5000; i++ {
		img := `C:\Windows\System32\cmd.exe`
		switch {
		case i%997 == 0:
			img, wantDets = `\\TSCLIENT\c\temp\a.exe`, wantDets+1
		case i%101 == 0:
			img, wantDets = disguised[(i/101)%len(disguised)].image, wantDets+1
		case i%89 == 0:
			img = `\\tsclientx\c\a.exe`
		case i%83 == 0:
			img = `/home/u/thinclient_drives/c/a`
		}
		b.WriteString(processEvent(uint64(i), img))
		if i%7 == 0 {
			b.WriteString("\r\n")
		}
	}
	gen := b.Bytes()
	dets, skipped := checkParity(t, "generated.xml", gen)
	if dets != wantDets {
		t.Errorf("generated: %d detections, want %d", dets, wantDets)
	}
	if skipped < 4000 {
		t.Errorf("generated: only %d of 5000 events skipped", skipped)
	}
	checkParity(t, "generated-utf16.xml", utf16LE(string(gen), true))
	// Pretty-printed events under a root, as Get-WinEvent | % ToXml
	// collections look.
	pretty := strings.NewReplacer("><Data", ">\r\n    <Data", "><System>", ">\r\n  <System>").Replace(string(gen[:len(gen)/4]))
	checkParity(t, "pretty.xml", []byte("<?xml version='1.0'?>\r\n<Events>\r\n"+pretty+"\r\n</Events>\r\n"))
}

// TestPrefilterMalformed checks what a skipped event is still checked
// for: a size over the cap and a missing </Event> are reported as
// before; other damage inside it is not (the documented trade-off), while
// a damaged event that holds a needle is decoded and reported.
func TestPrefilterMalformed(t *testing.T) {
	t.Parallel()
	opts := Options{MaxEventSize: 4096, Needles: detector.Needles(detector.DefaultConfig())}
	a := processEvent(1, `C:\a.exe`)
	giant := sysmonEvent(1, 9, "<Data Name='CommandLine'>"+strings.Repeat("x", 5000)+"</Data>")
	tests := []struct {
		name    string
		input   string
		emitted int
		skipped int64
		bad     []string
	}{
		{"too large", a + giant + a, 0, 2, []string{"larger than 4096"}},
		{"truncated", a + a[:len(a)/2], 0, 1, []string{"truncated"}},
		{"cut by the next event", a[:len(a)/2] + a, 0, 1, []string{"not closed before the next <Event>"}},
		{"bad nesting, no needle: not reported", strings.Replace(a, "</EventID>", "</Level>", 1), 0, 1, nil},
		{"bad nesting with a needle: reported", strings.Replace(processEvent(1, `\\tsclient\c\a.exe`), "</EventID>", "</Level>", 1), 0, 0, []string{"</Level> closes <EventID>"}},
		{"bad reference: reported", sysmonEvent(1, 1, "<Data Name='v'>&bogus;</Data>"), 0, 0, []string{"invalid entity"}},
	}
	for _, tt := range tests {
		res := read(t, []byte(tt.input), "m.xml", opts)
		if res.err != nil {
			t.Errorf("%s: %v", tt.name, res.err)
			continue
		}
		var bad []string
		for _, e := range res.bad {
			bad = append(bad, e.Error())
		}
		ok := len(bad) == len(tt.bad)
		for i := 0; ok && i < len(bad); i++ {
			ok = strings.Contains(bad[i], tt.bad[i]) && strings.HasPrefix(bad[i], "m.xml")
		}
		if !ok || len(res.events) != tt.emitted || res.skip != tt.skipped {
			t.Errorf("%s: %d emitted, %d skipped, bad %q; want %d, %d, %q", tt.name, len(res.events), res.skip, bad, tt.emitted, tt.skipped, tt.bad)
		}
	}
}

// TestPrefilterWorkBounded feeds the tag-skipping search the hostile
// shapes that would make it quadratic and checks that the bytes it scans
// stay within its budget (a few times the event size), and that an
// ordinary event costs far less.
func TestPrefilterWorkBounded(t *testing.T) {
	t.Parallel()
	f := newPrefilter(detector.Needles(detector.DefaultConfig()))
	const n = 1 << 16
	tests := []struct {
		name  string
		value string
	}{
		{"stray > before each anchor", strings.Repeat(">l", n)},
		{"quoted > before the anchors", "<a '>" + strings.Repeat("l>", n)},
		{"unclosed tags after each anchor", strings.Repeat("l<a '", n)},
		{"partial needles between tag runs", strings.Repeat("tscl"+strings.Repeat("<b/>", 50), n/50)},
		{"partial needles before tag runs", strings.Repeat(strings.Repeat("<b/>", 50)+"ient", n/50)},
	}
	for _, tt := range tests {
		span := []byte(sysmonEvent(1, 1, "<Data Name='Image'>"+tt.value+"</Data>"))
		_, work := f.search(span)
		if limit := 4*len(span) + 4096 + len(span); work > limit {
			t.Errorf("%s: scanned %d bytes for a %d-byte event (limit %d)", tt.name, work, len(span), limit)
		}
	}
	ev := []byte(processEvent(1, `C:\Windows\System32\cmd.exe`))
	if found, work := f.search(ev); found || work > len(ev)/4 {
		t.Errorf("benign event: found %v, scanned %d bytes of %d", found, work, len(ev))
	}
}

// TestIndexEventEnd compares the framing search with bytes.Index on
// random strings over the bytes of "</Event>" and a few others.
func TestIndexEventEnd(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "</Evvent>x </Event>"
	for round := 0; round < 20000; round++ {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := indexEventEnd(b), bytes.Index(b, eventEnd); got != want {
			t.Fatalf("indexEventEnd(%q) = %d, want %d", b, got, want)
		}
		nested := false
		for i := 1; i < len(b); i++ {
			if is, _ := isEventStart(b[i:], true); is {
				nested = true
			}
		}
		if got := hasNestedEvent(b); got != nested {
			t.Fatalf("hasNestedEvent(%q) = %v, want %v", b, got, nested)
		}
	}
}
