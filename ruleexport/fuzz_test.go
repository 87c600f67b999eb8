package ruleexport_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/ruleexport"
)

// FuzzExports draws an extension, a mount name and a path: whenever the
// configuration is valid, sigma-go on the Sigma export, SQLite on the
// osquery pack and the restated SPL regexes give the detector's verdict.
// Quoting is where exports go wrong, so the names are the fuzzed part.
func FuzzExports(f *testing.F) {
	for _, s := range [][3]string{
		{".exe", "thinclient_drives", `/home/u/thinclient_drives/C:/x`},
		{".a_b", "it's", `/a/it's/x`},
		{".x%y", "[x]", `\\tsclient\c\a.x%y`},
		{".é", `q"uote`, `/m/q"uote//`},
		{".lnk", "a.b", `\??\UNC\tsclient\c\k.LNK`},
		{".PS1", "(g)|x", `/a/axb/x`},
		{".exe", "^$", "/a/^$/\n"},
	} {
		f.Add(s[0], s[1], s[2], false)
		f.Add(s[0], s[1], s[2], true)
	}
	f.Fuzz(func(t *testing.T, ext, mount, path string, linux bool) {
		cfg := detector.Config{Extensions: []string{".exe", ext}, XrdpMountNames: []string{mount}}
		def, err := cfg.Definition()
		if err != nil {
			return // refused by validation: no export is written for it
		}
		m := detector.MustNew(cfg)
		os := detector.OSWindows
		if linux {
			os = detector.OSLinux
		}
		want := verdict(m, os, path)

		if eval := sigmaByProduct(t, def)[os]; eval(path) != want && !unicodeFolds(path) {
			t.Errorf("sigma-go on %q (%s): %v, detector %v", path, os, !want, want)
		}

		var win, lin []string
		query := "tsclient_execution_windows"
		if linux {
			lin, query = []string{path}, "tsclient_execution_linux_bpf"
		} else {
			win = []string{path}
		}
		if got := osqueryRun(t, def, win, lin)[query][0]; got != want {
			t.Errorf("osquery on %q (%s): %v, detector %v", path, os, got, want)
		}

		ms := splMatchRe.FindAllStringSubmatch(ruleexport.SPLSearch(def).Content, -1)
		re := regexp.MustCompile(unquoteDouble(t, ms[map[bool]int{false: 0, true: 1}[linux]][1]))
		if got := re.MatchString(path); got != want {
			t.Errorf("SPL regex on %q (%s): %v, detector %v", path, os, got, want)
		}
	})
}

// unicodeFolds reports whether s holds a letter outside ASCII whose lower
// case is ASCII (İ, the Kelvin sign): the one documented Sigma difference.
func unicodeFolds(s string) bool {
	for _, r := range s {
		if r >= 0x80 {
			for _, l := range []rune(strings.ToLower(string(r))) {
				if l < 0x80 {
					return true
				}
			}
		}
	}
	return false
}
