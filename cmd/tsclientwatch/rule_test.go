package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/ruleexport"
)

func TestRuleCommand(t *testing.T) {
	// Each format prints what the package exports for the configuration.
	def, _ := detector.DefaultConfig().Definition()
	for _, f := range ruleexport.Formats() {
		r := runCLI(t, nil, "rule", "--format", string(f))
		if r.code != exitOK || r.stderr != "" {
			t.Fatalf("%s: exit %d, stderr %q", f, r.code, r.stderr)
		}
		files, _ := ruleexport.Export(def, f)
		var want []string
		for _, file := range files {
			want = append(want, file.Content)
		}
		if r.stdout != strings.Join(want, "---\n") {
			t.Errorf("%s: output differs from the export", f)
		}
	}

	// Flags change the export as they change the detector.
	strict := runCLI(t, nil, "rule", "--format", "eql", "--strict")
	if !strings.Contains(strict.stdout, detector.ElasticQuery) {
		t.Errorf("--strict EQL:\n%s", strict.stdout)
	}
	custom := runCLI(t, nil, "rule", "--format", "osquery", "--extensions", ".exe,.PS1", "--xrdp-mount-names", "rdp_drives")
	var pack struct {
		Queries map[string]ruleexport.OsqueryQuery
	}
	if err := json.Unmarshal([]byte(custom.stdout), &pack); err != nil {
		t.Fatalf("osquery output is not JSON: %v\n%s", err, custom.stdout)
	}
	win, lin := pack.Queries["tsclient_execution_windows"].Query, pack.Queries["tsclient_execution_linux_bpf"].Query
	if !strings.Contains(win, ".ps1") || !strings.Contains(lin, "rdp_drives") || strings.Contains(lin, "thinclient_drives") {
		t.Errorf("flags not applied:\n%s\n%s", win, lin)
	}

	// The configuration file and the environment apply too.
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("detector:\n  xrdp_mount_names: [from_file]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, nil, "rule", "--format", "sigma", "--config", cfg); !strings.Contains(r.stdout, `(^|/)from_file/`) {
		t.Errorf("configuration file ignored:\n%s", r.stdout)
	}
	t.Setenv("TSCLIENTWATCH_DETECTOR_STRICT", "true")
	if r := runCLI(t, nil, "rule", "--format", "sigma"); strings.Contains(r.stdout, "product: linux") || !strings.Contains(r.stdout, "Kernel Path Only") {
		t.Errorf("environment ignored:\n%s", r.stdout)
	}
}

func TestRuleCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rule"}, "--format is required"},
		{[]string{"rule", "--format", "yara"}, `unknown rule format "yara"`},
		{[]string{"rule", "--format", "sigma", "--extensions", "exe"}, "detector.extensions[0]"},
		{[]string{"rule", "--format", "sigma", "--xrdp-mount-names", "a*"}, "detector.xrdp_mount_names[0]"},
		{[]string{"rule", "--format", "sigma", "extra"}, "unknown command"},
	} {
		r := runCLI(t, nil, tc.args...)
		if r.code != exitError || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("%q: exit %d stderr %q stdout %q, want exit 2 and %q", tc.args, r.code, r.stderr, r.stdout, tc.want)
		}
	}
}

func TestRuleOutputDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rules")
	r := runCLI(t, nil, "rule", "--format", "sigma", "--output-dir", dir)
	if r.code != exitOK || r.stdout != "" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"proc_creation_lnx_xrdp_client_drive_execution.yml", "proc_creation_win_tsclient_redirected_drive_execution.yml"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("files %q, want %q (no temporary files left)", names, want)
	}
	for _, n := range want {
		if !strings.Contains(r.stderr, filepath.Join(dir, n)) {
			t.Errorf("stderr does not name %s: %q", n, r.stderr)
		}
	}
	// A path that is a file, not a directory, is an error naming it.
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	if r := runCLI(t, nil, "rule", "--format", "eql", "--output-dir", file); r.code != exitError || !strings.Contains(r.stderr, file) {
		t.Errorf("output-dir on a file: exit %d stderr %q", r.code, r.stderr)
	}
}
