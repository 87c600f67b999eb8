// Package scripts holds the tests of the repository's shell scripts.
package scripts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
)

type result struct {
	code           int
	stdout, stderr string
}

// corpus runs scripts/corpus.sh with args in a clean git environment.
func corpus(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(testdir.Root(t), "scripts", "corpus.sh")}, args...)...)
	cmd.Env = append(gitEnv(t), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("corpus.sh %q: %v", args, err)
	}
	return r
}

// gitEnv is a minimal environment: no user or system git configuration, no
// network credentials prompt, a throwaway HOME.
func gitEnv(t *testing.T) []string {
	t.Helper()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"TMPDIR=" + t.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com",
		"TSCLIENTWATCH_SHARED_DATA=",
	}
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testdir.SkipOutsideCI(t, "%s not installed (apt-get install %s)", tool, tool)
		}
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestCorpusShellcheck(t *testing.T) {
	need(t, "shellcheck")
	out, err := exec.Command("shellcheck", filepath.Join(testdir.Root(t), "scripts", "corpus.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

func TestCorpusUsage(t *testing.T) {
	need(t, "bash")
	dir := t.TempDir()
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--help"}, 0, "Usage: scripts/corpus.sh [options] [DEST]", ""},
		{[]string{"-h"}, 0, "--git-base URL", ""},
		{[]string{"--bogus"}, 2, "", "unknown option --bogus"},
		{[]string{"--only", "everything"}, 2, "", "--only everything: not a set"},
		{[]string{"--only=nope"}, 2, "", "--only nope: not a set"},
		{[]string{"--only"}, 2, "", "--only needs a value"},
		{[]string{"--from"}, 2, "", "--from needs a value"},
		{[]string{"--from", filepath.Join(dir, "absent"), dir}, 2, "", "not a directory"},
		{[]string{"--check", "--from", dir, dir}, 2, "", "--from goes with fetching"},
		{[]string{dir, dir}, 2, "", "one DEST only"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := corpus(t, nil, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("code %d, stdout %q, stderr %q; want %d, %q, %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
			if tt.code == 2 && !strings.Contains(r.stderr, "--help") {
				t.Errorf("usage error without a pointer to --help: %q", r.stderr)
			}
		})
	}
}

// TestCorpusList: the recorded data set is the one the tests use: 275
// attack samples, 3 ECS documents, and the 13 in-repository samples with
// the hashes of the files in testdata/thirdparty.
func TestCorpusList(t *testing.T) {
	need(t, "bash", "sha256sum")
	r := corpus(t, nil, "--list")
	if r.code != 0 {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	sets := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 || len(f[3]) != 64 {
			t.Fatalf("list line %q", line)
		}
		sets[f[0]]++
		if f[0] == "thirdparty" {
			b, err := os.ReadFile(filepath.Join(testdir.Root(t), f[2]))
			if err != nil || sum(b) != f[3] {
				t.Errorf("%s: recorded %s, file %s (%v)", f[2], f[3], sum(b), err)
			}
		}
	}
	if sets["attack-samples"] != 275 || sets["ecs"] != 3 || sets["thirdparty"] != 13 {
		t.Errorf("sets %v, want 275 attack-samples, 3 ecs, 13 thirdparty", sets)
	}
}

// TestCorpusMatchesShared: every recorded hash is that of the copy in
// ../shared/data, the data the tests ran on.
func TestCorpusMatchesShared(t *testing.T) {
	need(t, "bash", "sha256sum")
	testdir.Shared(t, testdir.AttackSamples)
	testdir.Shared(t, testdir.ECS)
	r := corpus(t, nil, "--check", testdir.SharedDir(t))
	if r.code != 0 || !strings.Contains(r.stdout, "291 of 291 files") {
		t.Fatalf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestCorpusThirdParty installs the in-repository samples (no network):
// byte-identical copies in the shared layout; a second run installs
// nothing; a changed file is reported and kept unless --force.
func TestCorpusThirdParty(t *testing.T) {
	need(t, "bash", "sha256sum")
	dest := filepath.Join(t.TempDir(), "data")
	r := corpus(t, nil, "--only", "thirdparty", dest)
	if r.code != 0 || !strings.Contains(r.stdout, "13 files in "+dest+": 0 verified already there, 13 installed, 0 failed") {
		t.Fatalf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	for dst, src := range map[string]string{
		"evtx/ID4688-4778_RDP_hijack_command_execution.evtx":            "evtx-to-mitre-attack/ID4688-4778_RDP_hijack_command_execution.evtx",
		"evtx-rdp/ID1149_RDP_success_logins_multiple_hosts.evtx":        "evtx-to-mitre-attack/ID1149_RDP_success_logins_multiple_hosts.evtx",
		"json/otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl": "otrf-security-datasets/otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl",
		"evtx-corpus/evtx-rs/security.evtx":                             "evtx-rs/security.evtx",
	} {
		got, err := os.ReadFile(filepath.Join(dest, dst))
		want, err2 := os.ReadFile(testdir.ThirdParty(t, src))
		if err != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: not a copy of %s (%v, %v)", dst, src, err, err2)
		}
	}
	r = corpus(t, nil, "--only", "thirdparty", dest)
	if r.code != 0 || !strings.Contains(r.stdout, "13 verified already there, 0 installed") {
		t.Fatalf("second run: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	changed := filepath.Join(dest, "json", "sigma_regression_chcp_sysmon1.json")
	if err := os.WriteFile(changed, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = corpus(t, nil, "--only", "thirdparty", dest)
	if r.code != 1 || !strings.Contains(r.stderr, "json/sigma_regression_chcp_sysmon1.json: in "+dest+" with sha256 "+sum([]byte("{}"))) ||
		!strings.Contains(r.stderr, "--force replaces it") {
		t.Fatalf("changed file: code %d stderr %q", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(changed); string(b) != "{}" {
		t.Fatal("changed file replaced without --force")
	}
	r = corpus(t, nil, "--check", "--only", "thirdparty", dest)
	if r.code != 1 || !strings.Contains(r.stdout, "12 of 13 files") {
		t.Fatalf("--check: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = corpus(t, nil, "--force", "--only", "thirdparty", dest)
	if r.code != 0 || !strings.Contains(r.stdout, "12 verified already there, 1 installed") {
		t.Fatalf("--force: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if r = corpus(t, nil, "--check", "--only", "thirdparty", dest); r.code != 0 {
		t.Fatalf("--check after --force: code %d stderr %q", r.code, r.stderr)
	}
}

// mirror makes a repository at dir/owner/name whose commits hold files,
// served the way GitHub serves: partial clone filters and wants by id.
// It returns the id of each commit.
func mirror(t *testing.T, dir, repo string, commits ...map[string]string) []string {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(repo))
	env := gitEnv(t)
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", path}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %q: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	git("init", "-q")
	git("config", "uploadpack.allowFilter", "true")
	git("config", "uploadpack.allowAnySHA1InWant", "true")
	var ids []string
	for i, files := range commits {
		for name, content := range files {
			p := filepath.Join(path, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		git("add", "-A")
		git("commit", "-q", "-m", fmt.Sprint("commit ", i))
		ids = append(ids, git("rev-parse", "HEAD"))
	}
	return ids
}

// TestCorpusFetch fetches from local mirrors with a manifest of the
// script's format: files found by flattened name at a full commit id, a
// file at an abbreviated id (an older version than the branch head), and
// every failure named: a wrong hash, an unknown commit, a missing name.
func TestCorpusFetch(t *testing.T) {
	need(t, "bash", "git", "sha256sum")
	mirrors := t.TempDir()
	samples := mirror(t, mirrors, "acme/samples", map[string]string{
		"Lateral Movement/LM one.evtx": "first sample",
		"Other/emotet/exec.evtx":       "second sample",
		"Other/unlisted.evtx":          "not in the manifest",
	})
	golden := mirror(t, mirrors, "acme/beats",
		map[string]string{"module/test/golden.json": `{"version":"pinned"}`, "other.txt": "x"},
		map[string]string{"module/test/golden.json": `{"version":"head"}`})
	manifest := func(t *testing.T, lines ...string) []string {
		p := filepath.Join(t.TempDir(), "manifest")
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{"CORPUS_MANIFEST=" + p}
	}
	good := []string{
		"@ acme/samples " + samples[0] + " attack-samples",
		sum([]byte("first sample")) + "\tevtx-corpus/attack-samples/Lateral_Movement_LM_one.evtx",
		sum([]byte("second sample")) + "\tevtx-corpus/attack-samples/Other_emotet_exec.evtx",
		"# an abbreviated id resolves against the history",
		"@ acme/beats " + golden[0][:9] + " ecs",
		sum([]byte(`{"version":"pinned"}`)) + "\tecs/golden.json\tmodule/test/golden.json",
	}
	base := "--git-base=file://" + mirrors

	t.Run("good", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "data")
		env := manifest(t, good...)
		r := corpus(t, env, base, dest)
		if r.code != 0 || !strings.Contains(r.stdout, "3 files in "+dest+": 0 verified already there, 3 installed, 0 failed") {
			t.Fatalf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		for name, want := range map[string]string{
			"evtx-corpus/attack-samples/Lateral_Movement_LM_one.evtx": "first sample",
			"evtx-corpus/attack-samples/Other_emotet_exec.evtx":       "second sample",
			"ecs/golden.json": `{"version":"pinned"}`,
		} {
			if b, err := os.ReadFile(filepath.Join(dest, filepath.FromSlash(name))); err != nil || string(b) != want {
				t.Errorf("%s = %q (%v), want %q", name, b, err, want)
			}
		}
		if _, err := os.Stat(filepath.Join(dest, "evtx-corpus", "attack-samples", "Other_unlisted.evtx")); err == nil {
			t.Error("a file not in the manifest was installed")
		}
		// Everything present: nothing fetched, so a broken mirror URL does not matter.
		r = corpus(t, env, "--git-base=file:///nonexistent", dest)
		if r.code != 0 || !strings.Contains(r.stdout, "3 verified already there, 0 installed") || strings.Contains(r.stderr, "fetching") {
			t.Fatalf("second run: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		// --only picks a set.
		dest2 := filepath.Join(t.TempDir(), "data")
		r = corpus(t, env, base, "--only", "ecs", dest2)
		if r.code != 0 || !strings.Contains(r.stdout, "1 files in ") {
			t.Fatalf("--only ecs: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("failures are named and nothing unverified stays", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "data")
		wrong := strings.Repeat("0", 64)
		env := manifest(t,
			"@ acme/samples "+samples[0]+" attack-samples",
			wrong+"\tevtx-corpus/attack-samples/Lateral_Movement_LM_one.evtx",
			sum([]byte("second sample"))+"\tevtx-corpus/attack-samples/Other_emotet_exec.evtx",
			sum([]byte("x"))+"\tevtx-corpus/attack-samples/Nowhere.evtx",
			"@ acme/beats "+strings.Repeat("1", 40)+" ecs",
			sum([]byte("y"))+"\tecs/unknown-commit.json\tmodule/test/golden.json",
			"@ acme/absent "+strings.Repeat("2", 40)+" ecs",
			sum([]byte("z"))+"\tecs/absent-repo.json\tx.json",
			sum([]byte("z"))+"\tecs/absent-repo-2.json\ty.json",
		)
		r := corpus(t, env, base, dest)
		if r.code != 1 || !strings.Contains(r.stdout, "6 files in "+dest+": 0 verified already there, 1 installed, 5 failed") {
			t.Fatalf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{
			"evtx-corpus/attack-samples/Lateral_Movement_LM_one.evtx: sha256 " + sum([]byte("first sample")) + " from acme/samples@",
			"evtx-corpus/attack-samples/Nowhere.evtx: no file of acme/samples at " + samples[0] + " has that flattened name",
			"ecs/unknown-commit.json: could not fetch acme/beats at " + strings.Repeat("1", 40),
			"ecs/absent-repo.json: could not fetch acme/absent",
			// One attempt per repository, not one per file.
			"ecs/absent-repo-2.json: not fetched (acme/absent at " + strings.Repeat("2", 40) + " could not be fetched, above)",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		var left []string
		filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dest, p)
				left = append(left, filepath.ToSlash(rel))
			}
			return nil
		})
		if strings.Join(left, ",") != "evtx-corpus/attack-samples/Other_emotet_exec.evtx" {
			t.Errorf("files in DEST %q: want only the verified one", left)
		}
	})

	t.Run("bad manifest rows are refused", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "data")
		env := manifest(t,
			"@ acme/samples "+samples[0]+" attack-samples",
			sum([]byte("first sample"))+"\t../escape.evtx",
			"nothex\tevtx-corpus/attack-samples/x.evtx",
		)
		r := corpus(t, env, base, dest)
		if r.code != 1 || strings.Count(r.stderr, "bad destination or hash") != 2 {
			t.Fatalf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dest), "escape.evtx")); err == nil {
			t.Fatal("a manifest row wrote outside DEST")
		}
	})

	t.Run("from a local copy", func(t *testing.T) {
		src, dest := t.TempDir(), filepath.Join(t.TempDir(), "data")
		p := filepath.Join(src, "ecs", "golden.json")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(`{"version":"pinned"}`), 0o644)
		r := corpus(t, manifest(t, good...), "--from", src, dest)
		if r.code != 1 || !strings.Contains(r.stdout, "1 installed, 2 failed") ||
			!strings.Contains(r.stderr, "evtx-corpus/attack-samples/Other_emotet_exec.evtx: not in "+src) {
			t.Fatalf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
	})
}
