package ruleexport_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/ruleexport"
)

// No KQL, ES|QL or Splunk engine runs here. These tests take the patterns
// out of each export and evaluate them with the language's documented
// matching rules restated in Go, over the generated paths, so a quoting or
// escaping slip shows up as a wrong verdict. What each language cannot say
// is asserted as the difference docs/rules.md states, nothing wider.

// likePattern turns an ES|QL LIKE pattern (* any run, ? one character,
// backslash escapes the next character, whole value) into a Go regexp.
func likePattern(t *testing.T, p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`\A`)
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '\\':
			i++
			if i == len(rs) {
				t.Fatalf("LIKE pattern %q ends in an escape", p)
			}
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		case '*':
			b.WriteString(`(?s:.*)`)
		case '?':
			b.WriteString(`(?s:.)`)
		default:
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

// unquoteDouble reads a double-quoted EQL/ES|QL/SPL string body: \\ and \"
// are the only escapes the exports write.
func unquoteDouble(t *testing.T, s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			if i == len(s) || (s[i] != '\\' && s[i] != '"') {
				t.Fatalf("unexpected escape in %q", s)
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var esqlLikeRe = regexp.MustCompile(`(NOT )?(TO_LOWER\(process\.executable\)|process\.executable) LIKE ("""(.*?)"""|"((?:[^"\\]|\\.)*)")`)

func TestESQLRestated(t *testing.T) {
	for name := range configs {
		t.Run(name, func(t *testing.T) {
			def := definition(t, name)
			m := detector.MustNew(configs[name])
			q := ruleexport.ESQLQuery(def).Content
			var win, lin []*regexp.Regexp
			for _, g := range esqlLikeRe.FindAllStringSubmatch(q, -1) {
				if g[1] != "" { // the host condition on a leading backslash
					continue
				}
				p := g[4]
				if !strings.HasPrefix(g[3], `"""`) {
					p = unquoteDouble(t, g[5])
				}
				if strings.HasPrefix(g[2], "TO_LOWER") {
					win = append(win, likePattern(t, p))
				} else {
					lin = append(lin, likePattern(t, p))
				}
			}
			if len(win) != len(def.WindowsPrefixes)*len(def.Extensions) || len(lin) != 2*len(def.XrdpMountNames) {
				t.Fatalf("%d Windows and %d Linux patterns in\n%s", len(win), len(lin), q)
			}
			any := func(rs []*regexp.Regexp, s string) bool {
				return slices.ContainsFunc(rs, func(r *regexp.Regexp) bool { return r.MatchString(s) })
			}
			for _, p := range windowsPaths(def) {
				if got, want := any(win, strings.ToLower(p)), verdict(m, detector.OSWindows, p); got != want {
					t.Errorf("windows %q: ES|QL %v, detector %v", p, got, want)
				}
			}
			for _, p := range linuxPaths(def) {
				if got, want := any(lin, p), verdict(m, detector.OSLinux, p); got != want {
					t.Errorf("linux %q: ES|QL %v, detector %v", p, got, want)
				}
			}
			if !strings.Contains(q, `event.category == "process"`) || !strings.Contains(q, "MV_EXPAND event.type") {
				t.Errorf("type and category conditions missing:\n%s", q)
			}
		})
	}
}

var splMatchRe = regexp.MustCompile(`match\(tsclientwatch_path, "((?:[^"\\]|\\.)*)"\)`)

func TestSPLRestated(t *testing.T) {
	for name := range configs {
		t.Run(name, func(t *testing.T) {
			def := definition(t, name)
			m := detector.MustNew(configs[name])
			q := ruleexport.SPLSearch(def).Content
			ms := splMatchRe.FindAllStringSubmatch(q, -1)
			wantN := 2
			if def.Strict {
				wantN = 1
			}
			if len(ms) != wantN {
				t.Fatalf("%d match() calls in\n%s", len(ms), q)
			}
			// Splunk's match() is PCRE; the constructs used (classes,
			// alternation, (?s), \z, escaped punctuation) mean the same in
			// Go's RE2.
			win := regexp.MustCompile(unquoteDouble(t, ms[0][1]))
			for _, p := range append(windowsPaths(def), unicodeFoldPaths...) {
				if got, want := win.MatchString(p), verdict(m, detector.OSWindows, p); got != want {
					t.Errorf("windows %q: SPL %v, detector %v", p, got, want)
				}
			}
			if def.Strict {
				return
			}
			lin := regexp.MustCompile(unquoteDouble(t, ms[1][1]))
			for _, p := range linuxPaths(def) {
				if got, want := lin.MatchString(p), verdict(m, detector.OSLinux, p); got != want {
					t.Errorf("linux %q: SPL %v, detector %v", p, got, want)
				}
			}
			for _, field := range []string{"Image", "NewProcessName", "New_Process_Name", "EventCode=1", "EventCode=4688"} {
				if !strings.Contains(q, field) {
					t.Errorf("SPL does not use %s", field)
				}
			}
			if !strings.HasPrefix(q, "```\n") || !strings.Contains(q, detector.RuleID) {
				t.Error("SPL header is not a ``` comment naming the rule id")
			}
		})
	}
}

var kqlGroupRe = regexp.MustCompile(`process\.executable:\(((?:[^()\\]|\\.)*)\)`)

// kqlValue restates an unquoted KQL value: a backslash makes the next
// character literal, a bare * is a wildcard, and keyword fields compare
// case-sensitively.
func kqlValue(t *testing.T, v string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`\A`)
	rs := []rune(v)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '\\':
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		case '*':
			b.WriteString(`(?s:.*)`)
		case ' ', '(', ')', ':', '"':
			t.Fatalf("unescaped %q in KQL value %q", rs[i], v)
		default:
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

func TestKQLRestated(t *testing.T) {
	for name := range configs {
		t.Run(name, func(t *testing.T) {
			def := definition(t, name)
			m := detector.MustNew(configs[name])
			q := ruleexport.KQLQuery(def).Content
			groups := kqlGroupRe.FindAllStringSubmatch(q, -1)
			wantN := 2
			if def.Strict {
				wantN = 1
			}
			if len(groups) != wantN {
				t.Fatalf("%d value groups in\n%s", len(groups), q)
			}
			compile := func(g string) []*regexp.Regexp {
				var rs []*regexp.Regexp
				for _, v := range strings.Split(g, " or ") {
					rs = append(rs, kqlValue(t, v))
				}
				return rs
			}
			anyMatch := func(rs []*regexp.Regexp, s string) bool {
				return slices.ContainsFunc(rs, func(r *regexp.Regexp) bool { return r.MatchString(s) })
			}
			// The documented difference: only the listed spellings (prefix
			// as Windows writes it, extension in lower or upper case).
			spelled := func(p string) bool {
				for _, pre := range def.WindowsPrefixes {
					for _, x := range def.Extensions {
						if strings.HasPrefix(p, pre.Text) && (strings.HasSuffix(p, x) || strings.HasSuffix(p, strings.ToUpper(x))) {
							return true
						}
					}
				}
				return false
			}
			win := compile(groups[0][1])
			for _, p := range windowsPaths(def) {
				want := verdict(m, detector.OSWindows, p) && spelled(p)
				if got := anyMatch(win, p); got != want {
					t.Errorf("windows %q: KQL %v, want %v", p, got, want)
				}
			}
			if def.Strict {
				return
			}
			// The other documented difference: "*/name/*" also takes the
			// mount directory with a trailing slash.
			lin := compile(groups[1][1])
			for _, p := range linuxPaths(def) {
				want := verdict(m, detector.OSLinux, p)
				for _, n := range def.XrdpMountNames {
					want = want || p == n+"/" || strings.HasSuffix(p, "/"+n+"/")
				}
				if got := anyMatch(lin, p); got != want {
					t.Errorf("linux %q: KQL %v, want %v", p, got, want)
				}
			}
		})
	}
}

// TestHeaders: every text export starts with comments naming the rule id
// and the settings, and changes with the settings.
func TestHeaders(t *testing.T) {
	marks := map[ruleexport.Format]string{ruleexport.Sigma: "# ", ruleexport.EQL: "// ", ruleexport.KQL: "// ", ruleexport.ESQL: "// ", ruleexport.SPL: "```"}
	for _, f := range ruleexport.Formats() {
		seen := map[string]bool{}
		for name := range configs {
			files, err := ruleexport.Export(definition(t, name), f)
			if err != nil || len(files) == 0 {
				t.Fatalf("%s: %v", f, err)
			}
			all := ""
			for _, file := range files {
				all += file.Content
				if mark, ok := marks[f]; ok && !strings.HasPrefix(file.Content, mark) {
					t.Errorf("%s %s: no header comment", f, name)
				}
				if !strings.Contains(file.Content, detector.RuleID) {
					t.Errorf("%s %s: rule id missing", f, name)
				}
			}
			if seen[all] {
				t.Errorf("%s: two configurations give the same export", f)
			}
			seen[all] = true
		}
	}
	if _, err := ruleexport.Export(definition(t, "default"), "yara"); err == nil || !strings.Contains(err.Error(), "sigma, eql, kql, esql, spl, osquery") {
		t.Errorf("unknown format: %v", err)
	}
}
