package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
)

// buildPlugin compiles cmd/tsclientwatch-plugin for the test and returns
// its path and SHA-256.
func buildPlugin(t *testing.T) (path, sum string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "tsclientwatch-plugin")
	out, err := exec.Command("go", "build", "-o", path, "../tsclientwatch-plugin").CombinedOutput()
	if err != nil {
		t.Fatalf("go build plugin: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return path, hex.EncodeToString(h[:])
}

// TestScanWithPluginSameOutput runs scan on the project's test data (the
// third-party logs in testdata/thirdparty included), and on the ECS
// documents kept outside the repository, with the rule in process and in
// the plugin: the output must not change.
func TestScanWithPluginSameOutput(t *testing.T) {
	path, sum := buildPlugin(t)
	for _, set := range []struct {
		name      string
		inputs    func(t *testing.T) []string
		positives bool
	}{
		{"testdata", func(t *testing.T) []string { return []string{testdir.Testdata(t)} }, true},
		{"ecs", func(t *testing.T) []string { return []string{testdir.Shared(t, testdir.ECS)} }, false},
	} {
		t.Run(set.name, func(t *testing.T) {
			scanWithPluginSameOutput(t, path, sum, set.inputs(t), set.positives)
		})
	}
}

func scanWithPluginSameOutput(t *testing.T, path, sum string, inputs []string, positives bool) {
	for _, args := range [][]string{
		{"scan", "--format", "ndjson"},
		{"scan", "--format", "table"},
		{"scan", "--format", "ndjson", "--strict"},
	} {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			in := runCLI(t, nil, append(args, inputs...)...)
			out := runCLI(t, nil, append(append(args, "--plugin", path, "--plugin-sha256", sum), inputs...)...)
			if positives && in.stdout == "" {
				t.Fatal("no output in process: the test data holds positives")
			}
			if !positives && in.stdout != "" {
				t.Fatalf("detections in data that holds none:\n%s", in.stdout)
			}
			t.Logf("%d output lines, exit code %d", strings.Count(in.stdout, "\n"), in.code)
			if out.stdout != in.stdout {
				t.Errorf("stdout with --plugin differs\nwithout:\n%s\nwith:\n%s", in.stdout, out.stdout)
			}
			if out.code != in.code {
				t.Errorf("exit code %d with --plugin, %d without (stderr: %s)", out.code, in.code, out.stderr)
			}
		})
	}
}

func TestScanPluginWrongChecksum(t *testing.T) {
	path, _ := buildPlugin(t)
	r := runCLI(t, nil, "scan", "--plugin", path, "--plugin-sha256", strings.Repeat("0", 64), testdir.Testdata(t))
	if r.code != 2 || !strings.Contains(r.stderr, "checksum") {
		t.Fatalf("code %d, stderr %q; want 2 and a checksum error", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Fatalf("output despite the refused plugin: %q", r.stdout)
	}
}

// TestQueryPluginInvalidUTF8 is review E5's reproduction: with a plugin
// configured, a replay holding one good tsclient event and one whose path
// has a byte that is not UTF-8. Before, the whole batch was abandoned (an
// empty table, "string field contains invalid UTF-8" in last_error); now
// both are detected, the second with its exact bytes.
func TestQueryPluginInvalidUTF8(t *testing.T) {
	t.Parallel()
	path, sum := buildPlugin(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "plug.yaml")
	if err := os.WriteFile(cfg, []byte("plugin: {path: "+path+", sha256: "+sum+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	events := `{"@timestamp":"2024-03-12T09:41:07Z","event":{"category":["process"],"type":["start"]},"process":{"pid":1,"executable":"\\\\tsclient\\c\\good.exe"}}` + "\n" +
		"{\"@timestamp\":\"2024-03-12T09:41:08Z\",\"event\":{\"category\":[\"process\"],\"type\":[\"start\"]},\"process\":{\"pid\":2,\"executable\":\"\\\\\\\\tsclient\\\\c\\\\bad\xff.exe\"}}\n"
	input := filepath.Join(dir, "utf8.ndjson")
	if err := os.WriteFile(input, []byte(events), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "query", "--config", cfg, "--replay", input, "--format", "csv",
		"SELECT pid, path, share_path FROM tsclient_executions ORDER BY pid; SELECT errors, last_error FROM tsclientwatch_status WHERE type = 'file'")
	if r.code != exitOK {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	// The CSV shows the bad byte escaped; the value held is the raw byte
	// (the in-process rule gives the same row).
	want := "pid,path,share_path\n1,\\\\tsclient\\c\\good.exe,\\good.exe\n2,\\\\tsclient\\c\\bad\\xff.exe,\\bad\\xff.exe\nerrors,last_error\n0,\n"
	if r.stdout != want {
		t.Fatalf("got\n%s\nwant\n%s\nstderr %s", r.stdout, want, r.stderr)
	}
	inProcess := runCLI(t, nil, "query", "--replay", input, "--format", "csv", "SELECT pid, path, share_path FROM tsclient_executions ORDER BY pid")
	if !strings.HasPrefix(want, inProcess.stdout) {
		t.Fatalf("in process:\n%s", inProcess.stdout)
	}
}
