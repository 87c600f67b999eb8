package ruleexport_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/file"
)

// configs are the settings every export is held to: the default, strict,
// and one with extensions and mount names that need quoting in each
// language (quotes, LIKE and GLOB metacharacters, a one-letter name,
// non-ASCII letters, a blank).
var configs = map[string]detector.Config{
	"default": detector.DefaultConfig(),
	"strict":  {Strict: true, Extensions: []string{".exe"}, XrdpMountNames: detector.DefaultConfig().XrdpMountNames},
	"custom": {
		Extensions:     []string{".exe", ".PS1", ".a_b", ".é", ".x%y", ".lnk"},
		XrdpMountNames: []string{"thinclient_drives", "it's", "[x]", "100%_x", "d", `q"uote`, "Ü ber", "a.b", "(g)"},
	},
}

func definition(t testing.TB, name string) detector.Definition {
	t.Helper()
	def, err := configs[name].Definition()
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// windowsPaths is a generated set of Windows executable paths: every
// prefix in several cases, drives, extensions that are and are not the
// suffix, near misses, odd separators and non-ASCII names.
func windowsPaths(def detector.Definition) []string {
	prefixes := []string{`\Device\Mup\tsclient\`, `\\tsclient\`, `\\?\UNC\tsclient\`, `\??\UNC\tsclient\`}
	var out []string
	for _, p := range prefixes {
		for _, variant := range []string{p, strings.ToLower(p), strings.ToUpper(p), alternateCase(p)} {
			for _, rest := range []string{
				`c\a.exe`, `C\Tools\mimikatz.EXE`, `a.Exe`, `.exe`, `c\a.exe.txt`, `c\a.exeb`, `c\a.dll`, `c\a.com`,
				`c\run.ps1`, `c\x.a_b`, `c\x.aXb`, `c\é.é`, `c\x.x%y`, `c\x.xzy`, `c\k.lnk`, `c\k.LNK`, `c\dir with space\a b.exe`,
				``, `c\`, `c\a.exe\`, `c\a.exe `, "c\\a.exe\n", "c\\a\nb.exe", `c\\a.exe`, `c/a.exe`,
			} {
				out = append(out, variant+rest)
			}
		}
	}
	for _, nm := range def.NearMisses {
		if nm.HostOS == detector.OSWindows {
			out = append(out, nm.Path)
		}
	}
	out = append(out,
		`\Device\Mup\VBoxSvr\tsclient\a.exe`, `\Device\Mup\tsclient`, `\Device\Mup\tsclientx\c\a.exe`,
		`\\tsclient.evil.com\c\a.exe`, `\\tsclient`, `\\\tsclient\c\a.exe`, `\\?\UNC\tsclientx\c\a.exe`,
		`\??\UNC\tsclient.evil\c\a.exe`, `\\?\C:\tsclient\a.exe`, `\\.\tsclient\a.exe`, `\\?/UNC/tsclient/a.exe`,
		`//tsclient/c/a.exe`, `\/tsclient\c\a.exe`, `C:\Windows\System32\svchost.exe`, `x\\tsclient\c\a.exe`,
		`\\tsclıent\c\a.exe`, // dotless i: not an ASCII letter
		`\\tsclient\c\ä.exe`, `\\tsclient\c\a.ÉXE`,
	)
	return out
}

// unicodeFoldPaths hold letters outside ASCII whose Unicode case folding is
// an ASCII letter (İ to i, the Kelvin sign to k). Windows does not fold
// them onto ASCII, nor does the detector; engines that lower-case Unicode
// (sigma-go, ES|QL's TO_LOWER) can. docs/rules.md states the difference.
var unicodeFoldPaths = []string{
	`\\tsclİent\c\a.exe`, `\Device\Mup\tsclİent\c\a.exe`, "\\\\tsclient\\c\\a.ln\u212a", `\Devİce\Mup\tsclient\c\a.exe`,
}

func alternateCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		if i%2 == 0 && 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		} else if i%2 == 1 && 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// linuxPaths is a generated set of Linux executable paths around each
// mount name: every position, case variants, look-alikes, doubled and
// trailing separators, newlines.
func linuxPaths(def detector.Definition) []string {
	names := append([]string{"thinclient_drives", ".thinclient_drives", "xrdp_client", "xrdp-client"}, def.XrdpMountNames...)
	var out []string
	for _, n := range names {
		for _, p := range []string{
			"/home/alice/" + n + "/C:/tools/run.sh", n + "/x", "/" + n + "/x", "/a/" + n + "//x", "/a/" + n + "/",
			"/a/" + n, "/a/x" + n + "/C:/x", "/a/" + n + "x/C:/x", "/a/" + strings.ToUpper(n) + "/C:/x", "/a/" + n + "/\n",
			"/a/" + n + "/x\ny", "\\odd/" + n + "/x", "/run/user/1000/" + n + "/D:/a.out", "/a/" + n + "/" + n + "/",
			"/a/" + n + "/" + n + "/x", "./" + n + "/x", "/a/" + n + "/ ", "/a/b" + n + "/c",
		} {
			out = append(out, p)
		}
	}
	for _, nm := range def.NearMisses {
		if nm.HostOS == detector.OSLinux {
			out = append(out, nm.Path)
		}
	}
	return append(out, "/usr/bin/bash", "/mnt/tsclient/c/a.exe", `\\tsclient\c\a.exe`, "", "/", "//")
}

// verdict is what the detector says about path on a host of os.
func verdict(m *detector.Matcher, os, path string) bool {
	ev := detector.Event{Type: detector.TypeStart, HostOS: os, Executable: path}
	_, ok := m.Match(&ev)
	return ok
}

// testdataEvents returns every event the readers produce from testdata/.
func testdataEvents(t *testing.T) []detector.Event {
	t.Helper()
	var evs []detector.Event
	err := file.ReadPaths(context.Background(), []string{testdir.Testdata(t)}, file.Options{
		Sink: source.Sink{Event: func(e *detector.Event) error { evs = append(evs, *e); return nil }},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < 20 {
		t.Fatalf("only %d events in testdata", len(evs))
	}
	return evs
}

// productOf says which Sigma product's process_creation log an event
// belongs to: "" for none (not a process start, or a host the rule has no
// part for).
func productOf(e detector.Event) string {
	if e.Type == detector.TypeOther {
		return ""
	}
	switch e.HostOS {
	case detector.OSWindows, detector.OSLinux:
		return e.HostOS
	case "":
		if strings.HasPrefix(e.Executable, `\`) {
			return detector.OSWindows
		}
		return detector.OSLinux
	}
	return ""
}
