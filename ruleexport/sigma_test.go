package ruleexport_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"
	"go.yaml.in/yaml/v3"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/ruleexport"
)

// sigmaEval parses an exported rule with sigma-go (a third-party engine)
// and returns a function giving its verdict on an Image value.
func sigmaEval(t *testing.T, f ruleexport.File) func(image string) bool {
	t.Helper()
	rule, err := sigma.ParseRule([]byte(f.Content))
	if err != nil {
		t.Fatalf("%s: sigma-go cannot parse it: %v", f.Name, err)
	}
	// sigma-go drops a comparator's error (an invalid regex) as "no
	// match": compile every |re value here so none fails silently.
	for name, search := range rule.Detection.Searches {
		for _, em := range search.EventMatchers {
			for _, fm := range em {
				if slices.Contains(fm.Modifiers, "re") {
					for _, v := range fm.Values {
						if _, err := regexp.Compile(v.(string)); err != nil {
							t.Fatalf("%s: %s: regex %q: %v", f.Name, name, v, err)
						}
					}
				}
			}
		}
	}
	ev := evaluator.ForRule(rule)
	return func(image string) bool {
		res, err := ev.Matches(context.Background(), map[string]any{"Image": image})
		if err != nil {
			t.Fatalf("%s: evaluate %q: %v", f.Name, image, err)
		}
		return res.Match
	}
}

func sigmaByProduct(t *testing.T, def detector.Definition) map[string]func(string) bool {
	t.Helper()
	out := map[string]func(string) bool{}
	for _, f := range ruleexport.SigmaRules(def) {
		var doc struct {
			Logsource struct{ Product string }
		}
		if err := yaml.Unmarshal([]byte(f.Content), &doc); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		out[doc.Logsource.Product] = sigmaEval(t, f)
	}
	return out
}

// TestSigmaDifferential: on every generated path, sigma-go evaluating the
// exported rule gives the detector's verdict.
func TestSigmaDifferential(t *testing.T) {
	for name := range configs {
		t.Run(name, func(t *testing.T) {
			def := definition(t, name)
			m := detector.MustNew(configs[name])
			rules := sigmaByProduct(t, def)
			if _, ok := rules[detector.OSLinux]; ok == def.Strict {
				t.Fatalf("strict %v, but Linux rule present %v", def.Strict, ok)
			}
			n, hits := 0, 0
			for os, paths := range map[string][]string{detector.OSWindows: windowsPaths(def), detector.OSLinux: linuxPaths(def)} {
				eval := rules[os]
				for _, p := range paths {
					want := verdict(m, os, p)
					got := eval != nil && eval(p)
					if got != want {
						t.Errorf("%s %q: sigma-go %v, detector %v", os, p, got, want)
					}
					n++
					if want {
						hits++
					}
				}
			}
			if hits == 0 || hits == n {
				t.Fatalf("%d of %d paths detected: the set does not tell rules apart", hits, n)
			}
			t.Logf("%d paths, %d detections, all equal", n, hits)
		})
	}
}

// TestSigmaUnicodeFolding pins the one difference docs/rules.md names:
// sigma-go lower-cases Unicode for startswith/endswith, so a non-ASCII
// letter whose lower case is ASCII can match there, never in the detector.
func TestSigmaUnicodeFolding(t *testing.T) {
	def := definition(t, "custom")
	m := detector.MustNew(configs["custom"])
	win := sigmaByProduct(t, def)[detector.OSWindows]
	for _, p := range unicodeFoldPaths {
		if verdict(m, detector.OSWindows, p) {
			t.Errorf("detector matched %q", p)
		}
		// The regex forms use ASCII classes: only the kernel prefix and the
		// extensions (startswith/endswith) can fold.
		folds := strings.HasPrefix(strings.ToLower(p), `\device\mup\tsclient\`) || strings.HasSuffix(p, ".ln\u212a")
		if got := win(p); got != folds {
			t.Errorf("sigma-go on %q: %v, want %v (the documented folding)", p, got, folds)
		}
	}
}

// TestSigmaOnTestdata: every event in testdata/ that belongs to a rule's
// log source gets the detector's verdict from sigma-go.
func TestSigmaOnTestdata(t *testing.T) {
	evs := testdataEvents(t)
	for _, name := range []string{"default", "strict"} {
		def := definition(t, name)
		m := detector.MustNew(configs[name])
		rules := sigmaByProduct(t, def)
		hits := 0
		for _, e := range evs {
			prod := productOf(e)
			if prod == "" {
				continue
			}
			if def.Strict && (e.Type != detector.TypeStart || e.HostOS != detector.OSWindows || e.Inferred != 0) {
				// A SIEM selects a strict rule's log source by the declared
				// host OS and event type; the Sigma rule sees only Image.
				continue
			}
			_, want := m.Match(&e)
			eval := rules[prod]
			got := eval != nil && eval(e.Executable)
			if got != want {
				t.Errorf("%s: %s event %q (%s): sigma-go %v, detector %v", name, prod, e.Executable, e.Source, got, want)
			}
			if want {
				hits++
			}
		}
		if hits == 0 {
			t.Errorf("%s: no detections in testdata", name)
		}
	}
}

// TestSigmaHQChecks enforces what can be run here of SigmaHQ's checks: the
// sigma-specification JSON schema (sigma-detection-rule-schema.json) and
// the pySigma and pySigma-validators-sigmaHQ validators that SigmaHQ's
// tests/sigma_cli_conf.yml enables. pySigma itself is Python and PyPI is
// not reachable here; each check below is restated from its source.
func TestSigmaHQChecks(t *testing.T) {
	ids := map[string]string{}
	for name := range configs {
		def := definition(t, name)
		titles := map[string]bool{}
		for _, f := range ruleexport.SigmaRules(def) {
			t.Run(name+"/"+f.Name, func(t *testing.T) {
				var r map[string]any
				if err := yaml.Unmarshal([]byte(f.Content), &r); err != nil {
					t.Fatal(err)
				}
				checkSigmaRule(t, f, r)
				title := r["title"].(string)
				if titles[title] {
					t.Errorf("duplicate title %q", title)
				}
				titles[title] = true
				id := r["id"].(string)
				if prev, ok := ids[id]; ok && prev != f.Content {
					t.Errorf("id %s names two different rules", id)
				}
				ids[id] = f.Content
			})
		}
	}
}

var (
	uuidV4     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	sigmaDate  = regexp.MustCompile(`^\d{4}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])$`)
	tagPattern = regexp.MustCompile(`^[a-z0-9_-]+\.[a-z0-9._-]+$`)
	fileName   = regexp.MustCompile(`^[a-z0-9_]{10,90}\.yml$`)
)

func checkSigmaRule(t *testing.T, f ruleexport.File, r map[string]any) {
	t.Helper()
	str := func(k string) string { s, _ := r[k].(string); return s }
	list := func(k string) []string {
		var out []string
		v, _ := r[k].([]any)
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				t.Errorf("%s: %v is not a string", k, x)
			}
			out = append(out, s)
		}
		return out
	}
	// Key order of SigmaHQ's rule convention, every required key present.
	order := []string{"title", "id", "related", "status", "description", "references", "author", "date", "tags", "logsource", "detection", "falsepositives", "level"}
	var keys []string
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(f.Content), &node); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(node.Content[0].Content); i += 2 {
		keys = append(keys, node.Content[0].Content[i].Value)
	}
	want := slices.DeleteFunc(slices.Clone(order), func(k string) bool { return k == "related" && r["related"] == nil })
	if !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	// JSON schema.
	title := str("title")
	if title == "" || len(title) > 256 {
		t.Errorf("title %q", title)
	}
	if !uuidV4.MatchString(str("id")) {
		t.Errorf("id %q is not a UUID v4 (sigmahq_identifier)", str("id"))
	}
	if rel, ok := r["related"].([]any); ok {
		for _, x := range rel {
			m := x.(map[string]any)
			if !uuidV4.MatchString(m["id"].(string)) || m["type"] != "derived" {
				t.Errorf("related %v", m)
			}
		}
	}
	if !slices.Contains([]string{"stable", "test", "experimental", "deprecated", "unsupported"}, str("status")) {
		t.Errorf("status %q", str("status"))
	}
	// YAML reads an unquoted date as a timestamp, as pySigma does.
	if d, ok := r["date"].(time.Time); !ok || !sigmaDate.MatchString(d.Format("2006-01-02")) {
		t.Errorf("date %v", r["date"])
	}
	if !slices.Contains([]string{"informational", "low", "medium", "high", "critical"}, str("level")) {
		t.Errorf("level %q", str("level"))
	}
	tags := list("tags")
	for _, tag := range tags {
		if !tagPattern.MatchString(tag) {
			t.Errorf("tag %q does not match the schema pattern", tag)
		}
	}
	// pySigma core validators: tags known and unique, identifier, status,
	// description and level present, no "of them" with one selection.
	if !slices.Equal(tags, []string{"attack.lateral-movement", "attack.t1021.001"}) {
		t.Errorf("tags %q", tags)
	}
	if str("status") != "experimental" {
		t.Errorf("new rules start experimental (SigmaHQ convention), got %q", str("status"))
	}
	desc := str("description")
	if len(desc) < 16 || !strings.HasPrefix(desc, "Detects ") || strings.Contains(desc, "http://") || strings.Contains(desc, "https://") {
		t.Errorf("description %q: at least 16 characters, starts with Detects, no links", desc)
	}
	refs := list("references")
	if len(refs) == 0 {
		t.Error("no references")
	}
	for _, ref := range refs {
		if strings.HasPrefix(ref, "https://attack.mitre.org/") ||
			(regexp.MustCompile(`^https://github.com/.*\.\w{1,3}$`).MatchString(ref) && !regexp.MustCompile(`/[0-9a-z]{40}/`).MatchString(ref)) {
			t.Errorf("reference %q: no MITRE links, GitHub links as permalinks", ref)
		}
	}
	if str("author") == "" {
		t.Error("no author")
	}
	// sigmahq_title_*: length, no "Detects", no final dot, title case.
	allowedLower := map[string]bool{"a": true, "an": true, "and": true, "as": true, "at": true, "by": true, "for": true, "from": true, "in": true, "of": true, "on": true, "or": true, "the": true, "to": true, "via": true, "with": true}
	if len(title) > 110 || strings.HasPrefix(title, "Detects ") || strings.HasSuffix(title, ".") {
		t.Errorf("title %q", title)
	}
	for _, w := range strings.Fields(title) {
		if strings.ToLower(w) == w && !allowedLower[w] && !strings.ContainsAny(w, "./_") && (w[0] < '0' || w[0] > '9') {
			t.Errorf("title word %q is not title case", w)
		}
	}
	// sigmahq_falsepositives_*: capital first letter, no banned words.
	for _, fp := range list("falsepositives") {
		if len(fp) < 2 || strings.ToUpper(fp[:1]) != fp[:1] {
			t.Errorf("false positive %q", fp)
		}
		for _, w := range strings.Fields(strings.ToLower(fp)) {
			if slices.Contains([]string{"none", "pentest", "penetration", "unkown", "ligitimate", "legitimeate"}, w) {
				t.Errorf("false positive %q uses %q", fp, w)
			}
		}
	}
	// Logsource known to SigmaHQ and coherent; file name convention.
	ls := r["logsource"].(map[string]any)
	prod := ls["product"].(string)
	if ls["category"] != "process_creation" || (prod != "windows" && prod != "linux") || ls["service"] != nil {
		t.Errorf("logsource %v", ls)
	}
	prefix := map[string]string{"windows": "proc_creation_win_", "linux": "proc_creation_lnx_"}[prod]
	if !fileName.MatchString(f.Name) || !strings.HasPrefix(f.Name, prefix) {
		t.Errorf("file name %q: want %s...yml, [a-z0-9_]{10,90}", f.Name, prefix)
	}
	checkSigmaDetection(t, r["detection"].(map[string]any))
}

func checkSigmaDetection(t *testing.T, det map[string]any) {
	t.Helper()
	cond, _ := det["condition"].(string)
	if cond == "" {
		t.Fatal("no condition")
	}
	names := map[string]bool{}
	for k, v := range det {
		if k == "condition" {
			continue
		}
		names[k] = true
		sel, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: want a map of field matchers", k)
			continue
		}
		for field, val := range sel {
			base, mods, _ := strings.Cut(field, "|")
			// Image is in both process_creation field lists (sigmahq_invalid_fieldname).
			if base != "Image" {
				t.Errorf("%s: field %q", k, base)
			}
			values := []string{}
			switch x := val.(type) {
			case string:
				values = append(values, x)
			case []any:
				if len(x) < 2 {
					t.Errorf("%s: a one-element list (SigmaHQ wants it on one line)", k)
				}
				for _, e := range x {
					values = append(values, e.(string))
				}
				if !slices.IsSorted(values) {
					t.Errorf("%s: values not in alphabetical order", k)
				}
			default:
				t.Errorf("%s: value %v", k, val)
			}
			seen := map[string]bool{}
			for _, s := range values {
				key := s
				if mods != "re" {
					key = strings.ToLower(s)
				}
				if seen[key] {
					t.Errorf("%s: duplicate value %q", k, s)
				}
				seen[key] = true
				for _, r := range s {
					if r < 0x20 {
						t.Errorf("%s: control character in %q", k, s)
					}
				}
				switch mods {
				case "re":
					for _, bad := range []string{"(?=", "(?!", "(?<=", "(?<!", "(?>"} {
						if strings.Contains(s, bad) {
							t.Errorf("%s: unsupported regex construct in %q", k, s)
						}
					}
				case "startswith", "endswith":
					// No wildcard and no escape: the value means the same to
					// pySigma and to engines that read it literally.
					if strings.ContainsAny(s, "*?") || strings.Contains(s, `\\`) {
						t.Errorf("%s: %q would be read differently by Sigma engines", k, s)
					}
				default:
					t.Errorf("%s: modifier %q", k, mods)
				}
			}
		}
	}
	// Every selection referenced (dangling_detection); "1 of x_*" only with
	// an asterisk and more than one match; no "of them".
	if strings.Contains(cond, "them") {
		t.Errorf("condition %q uses them", cond)
	}
	for name := range names {
		ref := strings.Contains(cond, name)
		for _, m := range regexp.MustCompile(`of (\S+)\*`).FindAllStringSubmatch(cond, -1) {
			ref = ref || strings.HasPrefix(name, m[1])
		}
		if !ref {
			t.Errorf("selection %s not used by %q", name, cond)
		}
	}
	for _, m := range regexp.MustCompile(`of (\S+)`).FindAllStringSubmatch(cond, -1) {
		n := 0
		for name := range names {
			if strings.HasPrefix(name, strings.TrimSuffix(m[1], "*")) {
				n++
			}
		}
		if !strings.HasSuffix(m[1], "*") || n < 2 {
			t.Errorf("condition %q: %q needs an asterisk and two selections", cond, m[0])
		}
	}
}
