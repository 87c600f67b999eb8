package detector

import (
	"slices"
	"strings"
	"testing"
)

func TestDefinition(t *testing.T) {
	def, err := Config{Extensions: []string{".EXE", ".exe", ".Ps1"}, XrdpMountNames: []string{"a", "a", "b"}}.Definition()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(def.Extensions, []string{".exe", ".ps1"}) {
		t.Errorf("extensions %q: want lower case, duplicates dropped", def.Extensions)
	}
	if !slices.Equal(def.XrdpMountNames, []string{"a", "b"}) {
		t.Errorf("mount names %q: want duplicates dropped, case kept", def.XrdpMountNames)
	}
	if !slices.Equal(def.EventTypes, []EventType{TypeStart, TypeStartLegacy}) || def.Strict || def.Rule.Strict {
		t.Errorf("default definition: types %v strict %v", def.EventTypes, def.Strict)
	}
	var texts []string
	for _, p := range def.WindowsPrefixes {
		texts = append(texts, p.Text)
		// Exports rely on both: the separator keeps tsclientx out, and no
		// dot means an extension can never overlap the prefix.
		if !strings.HasSuffix(p.Text, `\tsclient\`) || strings.Contains(p.Text, ".") {
			t.Errorf("prefix %q must end in \\tsclient\\ and hold no dot", p.Text)
		}
	}
	if !slices.Equal(texts, []string{`\Device\Mup\tsclient\`, `\\tsclient\`, `\\?\UNC\tsclient\`, `\??\UNC\tsclient\`}) {
		t.Errorf("prefixes %q", texts)
	}

	strict, err := Config{Strict: true, Extensions: []string{".com"}, XrdpMountNames: []string{"x"}}.Definition()
	if err != nil {
		t.Fatal(err)
	}
	if !strict.Strict || !strict.Rule.Strict || len(strict.WindowsPrefixes) != 1 || strict.WindowsPrefixes[0].Form != FormKernel ||
		!slices.Equal(strict.Extensions, []string{".exe"}) || len(strict.XrdpMountNames) != 0 ||
		!slices.Equal(strict.EventTypes, []EventType{TypeStart}) {
		t.Errorf("strict definition %+v", strict)
	}
	if _, err := (Config{Extensions: []string{"exe"}}).Definition(); err == nil {
		t.Error("Definition accepted an invalid config")
	}
}

// The Matcher hands out copies: an export that edits its Definition cannot
// change what the Matcher matches.
func TestMatcherDefinitionIsACopy(t *testing.T) {
	m := MustNew(DefaultConfig())
	d := m.Definition()
	d.Extensions[0] = ".dll"
	d.XrdpMountNames[0] = "other"
	d.WindowsPrefixes[0].Text = `\x\`
	again := m.Definition()
	if again.Extensions[0] != ".exe" || again.XrdpMountNames[0] != "thinclient_drives" || again.WindowsPrefixes[0].Text != `\Device\Mup\tsclient\` {
		t.Fatalf("Definition shares memory with the Matcher: %+v", again)
	}
	ev := win(`\\tsclient\c\a.exe`)
	if _, ok := m.Match(&ev); !ok {
		t.Fatal("matcher changed by editing its definition")
	}
}

func TestNearMissesRejected(t *testing.T) {
	def, _ := DefaultConfig().Definition()
	if len(def.NearMisses) == 0 {
		t.Fatal("no near misses")
	}
	m := MustNew(DefaultConfig())
	for _, nm := range def.NearMisses {
		for _, os := range []string{nm.HostOS, ""} {
			ev := Event{Type: TypeStart, HostOS: os, Executable: nm.Path}
			if _, ok := m.Match(&ev); ok {
				t.Errorf("near miss %q (%s) matched with host os %q", nm.Path, nm.Why, os)
			}
		}
	}
}

// Settings that accept a near miss drop it from the definition, so no
// export claims to reject what it matches.
func TestNearMissesFollowSettings(t *testing.T) {
	def, err := Config{Extensions: []string{".exe", ".txt"}, XrdpMountNames: []string{"Thinclient_Drives"}}.Definition()
	if err != nil {
		t.Fatal(err)
	}
	for _, nm := range def.NearMisses {
		if nm.Path == `\\tsclient\c\tool.exe.txt` || nm.Path == `/home/alice/Thinclient_Drives/C:/run.sh` {
			t.Errorf("near miss %q kept though the settings match it", nm.Path)
		}
	}
	all, _ := DefaultConfig().Definition()
	if len(def.NearMisses) != len(all.NearMisses)-2 {
		t.Errorf("%d near misses, want %d", len(def.NearMisses), len(all.NearMisses)-2)
	}
}

func TestValidateRefusesUnquotableNames(t *testing.T) {
	for _, tt := range []struct {
		cfg     Config
		wantErr string
	}{
		{Config{Extensions: []string{".e*e"}}, "Windows forbids"},
		{Config{Extensions: []string{".ex?"}}, "Windows forbids"},
		{Config{Extensions: []string{`.a"b`}}, "Windows forbids"},
		{Config{Extensions: []string{".a\tb"}}, "control character"},
		{Config{Extensions: []string{".\xff"}}, "invalid UTF-8"},
		{Config{XrdpMountNames: []string{"a*b"}}, "wildcard"},
		{Config{XrdpMountNames: []string{"a?"}}, "wildcard"},
		{Config{XrdpMountNames: []string{"a\nb"}}, "control character"},
		{Config{XrdpMountNames: []string{"a\u0085"}}, "control character"},
		{Config{XrdpMountNames: []string{"\xc3"}}, "invalid UTF-8"},
	} {
		err := tt.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Validate(%q) = %v, want error containing %q", append(tt.cfg.Extensions, tt.cfg.XrdpMountNames...), err, tt.wantErr)
		}
	}
	// Names quoting must handle, not refuse.
	ok := Config{Extensions: []string{".é", ".a'b", ".a%_b", ".a[1]"}, XrdpMountNames: []string{"it's", `q"uote`, "100%_x", "[x]", "Ü ber"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate refused names the exports can quote: %v", err)
	}
}

func TestMatchHostAndShortNames(t *testing.T) {
	m := MustNew(Config{Extensions: []string{".exe"}, XrdpMountNames: []string{"d", "thinclient_drives"}})
	for _, tt := range []struct {
		ev   Event
		want bool
	}{
		// On a Linux host a leading backslash is part of a file name.
		{lin(`\odd/thinclient_drives/C:/run.sh`), true},
		{Event{Type: TypeStart, Executable: `\odd/thinclient_drives/C:/run.sh`}, false},
		{lin(`\\tsclient\c\a.exe`), false},
		// A one-letter mount name, relative and absolute.
		{lin(`d/x`), true},
		{lin(`/mnt/d/x`), true},
		{lin(`d/`), false},
		{lin(`dd/x`), false},
	} {
		if _, ok := m.Match(&tt.ev); ok != tt.want {
			t.Errorf("Match(%q, os %q) = %v, want %v", tt.ev.Executable, tt.ev.HostOS, ok, tt.want)
		}
	}
}

func TestStrictRejectsInferredFields(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Strict = true
	strict, def := MustNew(cfg), MustNew(DefaultConfig())
	for _, f := range []Inferred{InferredHostOS, InferredType, InferredExecutable, InferredHostOS | InferredType} {
		ev := win(`\Device\Mup\tsclient\C\a.exe`)
		ev.Inferred = f
		if _, ok := strict.Match(&ev); ok {
			t.Errorf("strict matched an event with inferred %s", f)
		}
		if _, ok := def.Match(&ev); !ok {
			t.Errorf("default mode ignored an event with inferred %s", f)
		}
	}
	if got := (InferredHostOS | InferredExecutable | 0x80).String(); got != "host_os|executable|0x80" {
		t.Errorf("String = %q", got)
	}
}
