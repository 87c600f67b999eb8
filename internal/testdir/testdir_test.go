package testdir

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// thirdParty lists every sample under testdata/thirdparty: where it sits
// in ../shared/data (the copy it was taken from) and its SHA-256. The
// samples are kept unmodified: TestThirdPartyUnmodified holds them to these
// hashes, to the shared copies when those are present, and to the README.
var thirdParty = []struct {
	repo, shared, sha256 string
}{
	{"evtx-to-mitre-attack/ID4688-4778_RDP_hijack_command_execution.evtx", "evtx/ID4688-4778_RDP_hijack_command_execution.evtx",
		"3b09bb1a0cb852bf065ce829ea5d23981e4d237c7f3dd4237fb42e04c4a11940"},
	{"evtx-to-mitre-attack/ID4688-4778-4779_RDP_hijack_direct.evtx", "evtx-rdp/ID4688-4778-4779_RDP_hijack_direct.evtx",
		"d15da5b8dfe3a8e28d3a2423e031891167f5d94db4b8dea80bf8de06d787f341"},
	{"evtx-to-mitre-attack/ID1149_RDP_success_logins_multiple_hosts.evtx", "evtx-rdp/ID1149_RDP_success_logins_multiple_hosts.evtx",
		"3cf3d18a4a905b33c03d9743775b504bf63de253928dc3c64268b4bec7540559"},
	{"otrf-security-datasets/otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl", "json/otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl",
		"bff307525e879dabb85b7f81a12dda7e18b9e599bbb6e5e3e8ce04eee1eaf48f"},
	{"evtx-rs/2-vss_7-System.evtx", "evtx-corpus/evtx-rs/2-vss_7-System.evtx",
		"ca02fd8ce4f38082a7c5ff2b649df1d5f343cc1e651cb2f599eabf921bc15827"},
	{"evtx-rs/Security_short_selected.evtx", "evtx-corpus/evtx-rs/Security_short_selected.evtx",
		"50c87926d2dfed9776906ffbcc77e61577940910a71fb1c1871860a4e2213456"},
	{"evtx-rs/new-user-security.evtx", "evtx-corpus/evtx-rs/new-user-security.evtx",
		"6f9fe51d0a5dec63dc68f819e23bc14da5db0b75db4a68dfdf6b39f02868a379"},
	{"evtx-rs/post-Security.evtx", "evtx-corpus/evtx-rs/post-Security.evtx",
		"5d3114ed5407d73c09205c3e5603ff941fbc1153b8e4ae475de6c2f5a53970fc"},
	{"evtx-rs/security.evtx", "evtx-corpus/evtx-rs/security.evtx",
		"5f29a03cf8c1b4bfbd82c4074ccc81ecfe85d7ee15375afc352ed5025c9a4d8d"},
	{"evtx-rs/sysmon.evtx", "evtx-corpus/evtx-rs/sysmon.evtx",
		"e1817fd7241ad2b5b9660e179adec878d157f1fa25333e52aef263c69bcd970b"},
	{"evtx-rs/system.evtx", "evtx-corpus/evtx-rs/system.evtx",
		"60e5fd8f10a3deecd58bd7bee2e03b1308d190fd13b52908be9d576c7f5d6623"},
	{"sigma/sigma_regression_chcp_sysmon1.evtx", "evtx/sigma_regression_chcp_sysmon1.evtx",
		"bbbe39975c11bffe9ea1e677cd5d20298d2d262c0f14a2ce3606f7f5f7e163d4"},
	{"sigma/sigma_regression_chcp_sysmon1.json", "json/sigma_regression_chcp_sysmon1.json",
		"1348c7521d54a114329877b4463bd7118286d8e50c886a8704ae9fd9ccdf9b8d"},
}

// licenceFiles are the licence texts shipped beside the samples.
var licenceFiles = []string{
	"evtx-to-mitre-attack/LICENSE",
	"otrf-security-datasets/LICENSE",
	"evtx-rs/LICENSE-MIT",
	"sigma/LICENSE.Detection.Rules.md",
}

func sum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestThirdPartyUnmodified: every sample in testdata/thirdparty is listed,
// has its recorded SHA-256 (so no line ending or edit crept in), appears in
// the README with that hash, is byte-identical to the copy in
// ../shared/data when that is present, and has its licence text beside it.
func TestThirdPartyUnmodified(t *testing.T) {
	root := ThirdParty(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	shared := SharedDir(t)
	compared := 0
	listed := map[string]bool{}
	for _, f := range thirdParty {
		listed[f.repo] = true
		got := sum(t, ThirdParty(t, filepath.FromSlash(f.repo)))
		if got != f.sha256 {
			t.Errorf("%s: sha256 %s, want %s (the file must stay as published)", f.repo, got, f.sha256)
		}
		if !strings.Contains(string(readme), filepath.Base(f.repo)) || !strings.Contains(string(readme), f.sha256) {
			t.Errorf("README.md does not list %s with its sha256 %s", f.repo, f.sha256)
		}
		sp := filepath.Join(shared, filepath.FromSlash(f.shared))
		if _, err := os.Stat(sp); err != nil {
			continue
		}
		compared++
		if s := sum(t, sp); s != got {
			t.Errorf("%s differs from its shared copy %s (sha256 %s)", f.repo, sp, s)
		}
	}
	switch {
	case compared == len(thirdParty):
	case os.Getenv("CI") != "":
		t.Errorf("compared %d of %d samples with their copies in %s; CI must provide them all", compared, len(thirdParty), shared)
	default:
		t.Logf("compared %d of %d samples with %s (absent there); all checked against the recorded hashes", compared, len(thirdParty), shared)
	}
	for _, l := range licenceFiles {
		if b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(l))); err != nil || len(b) < 500 {
			t.Errorf("licence text %s: %v (%d bytes)", l, err, len(b))
		}
	}
	// Nothing unlisted: each file is a listed sample, a licence, or the README.
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if !listed[rel] && !slices.Contains(licenceFiles, rel) && rel != "README.md" && rel != ".gitattributes" {
			t.Errorf("%s is in testdata/thirdparty but not listed (add it here and to README.md with origin and licence)", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fakeTB records what a test helper did with the test: Skipf and Fatalf
// end the helper the way the real ones do (runtime.Goexit there, a panic
// here that the caller recovers).
type fakeTB struct {
	testing.TB
	skipped, fatal, logged []string
}

type stopped struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = append(f.skipped, fmt.Sprintf(format, args...))
	panic(stopped{})
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = append(f.fatal, fmt.Sprintf(format, args...))
	panic(stopped{})
}
func (f *fakeTB) Logf(format string, args ...any) {
	f.logged = append(f.logged, fmt.Sprintf(format, args...))
}

// call runs fn against a fake TB and returns it with fn's result.
func call(t *testing.T, fn func(tb testing.TB) string) (*fakeTB, string) {
	f := &fakeTB{TB: t}
	var got string
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stopped); !ok {
					panic(r)
				}
			}
		}()
		got = fn(f)
	}()
	return f, got
}

func TestShared(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "ecs"), 0o755); err != nil {
		t.Fatal(err)
	}
	present := func(tb testing.TB) string { return Shared(tb, ECS) }
	missing := func(tb testing.TB) string { return Shared(tb, AttackSamples, "x.evtx") }
	optional := func(tb testing.TB) string {
		p, ok := SharedOptional(tb, AttackSamples)
		if ok != (p != "") {
			t.Errorf("SharedOptional returned %q, %v", p, ok)
		}
		return p
	}
	tests := []struct {
		name    string
		ci      string
		fn      func(testing.TB) string
		want    string // returned path
		skipped string // substring of the one skip line
		fatal   string
		logged  string
	}{
		{"present", "", present, filepath.Join(dir, "ecs"), "", "", ""},
		{"present under CI", "1", present, filepath.Join(dir, "ecs"), "", "", ""},
		{"missing skips", "", missing, "", "EVTX-ATTACK-SAMPLES, GPL-3.0", "", ""},
		{"missing fails under CI", "true", missing, "", "", "shared test data missing", ""},
		{"optional missing logs", "", optional, "", "", "", "not used: "},
		{"optional missing fails under CI", "1", optional, "", "", "shared test data missing", ""},
		{"in-repository data refused", "", func(tb testing.TB) string { return Shared(tb, "evtx", "a.evtx") }, "", "", "testdir.ThirdParty", ""},
		{"set name prefix is not the set", "", func(tb testing.TB) string { return Shared(tb, "ecsx") }, "", "", "not an outside data set", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(SharedEnv, dir)
			t.Setenv("CI", tt.ci)
			f, got := call(t, tt.fn)
			if got != tt.want {
				t.Errorf("path %q, want %q", got, tt.want)
			}
			check := func(what string, lines []string, want string) {
				if want == "" {
					if len(lines) != 0 {
						t.Errorf("unexpected %s: %q", what, lines)
					}
					return
				}
				if len(lines) != 1 || !strings.Contains(lines[0], want) || strings.Contains(lines[0], "\n") {
					t.Errorf("%s %q, want one line containing %q", what, lines, want)
				}
			}
			check("skip", f.skipped, tt.skipped)
			check("fatal", f.fatal, tt.fatal)
			check("log", f.logged, tt.logged)
			for _, l := range append(f.skipped, f.logged...) {
				if !strings.Contains(l, "scripts/corpus.sh") {
					t.Errorf("%q does not say how to get the data", l)
				}
			}
		})
	}
}

func TestSharedDirDefault(t *testing.T) {
	t.Setenv(SharedEnv, "")
	if got, want := SharedDir(t), filepath.Join(Root(t), "..", "shared", "data"); got != want {
		t.Errorf("SharedDir %q, want %q", got, want)
	}
}
