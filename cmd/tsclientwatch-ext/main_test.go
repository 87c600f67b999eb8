package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsclientwatch/tsclientwatch/internal/version"
)

// buildDir holds the extension binary the crash loops build (Linux);
// TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	// Keep the host's configuration out of the tests: no default file, no
	// TSCLIENTWATCH_* variables.
	dir, err := os.MkdirTemp("", "tsclientwatch-ext-test")
	if err != nil {
		panic(err)
	}
	defaultConfigFile = filepath.Join(dir, "absent.yaml")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "TSCLIENTWATCH_") {
			os.Unsetenv(k)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "osquery.em")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
		stdout   string
	}{
		{
			// Exactly how osqueryd launches an extension; nobody answers.
			name: "osquery's command line, no osquery",
			args: []string{"--verbose", "--socket", missing, "--timeout", "1", "--interval", "3", "--config", filepath.Join(dir, "none.yaml"), "--state-dir", filepath.Join(dir, "state")},
			code: 1,
			contains: []string{
				"level=ERROR msg=configuration", "none.yaml", // reported, then carried on
				"level=DEBUG msg=\"osquery not ready\"", "connect to osquery at " + missing,
			},
		},
		{"fractional timeout", []string{"--socket", missing, "--timeout", "0.2", "--config", filepath.Join(dir, "none.yaml"), "--state-dir", filepath.Join(dir, "state")}, 1, []string{"osquery is not answering"}, ""},
		// fleetd runs "--help" after each download and needs exit 0.
		{"help", []string{"--help"}, 0, []string{"Usage of tsclientwatch.ext", "--socket", "--version"}, ""},
		{"version", []string{"--version"}, 0, nil, version.Get().String() + "\n"},
		{"unknown flag", []string{"--bogus"}, 2, []string{"unknown flag: --bogus"}, ""},
		{"bad timeout", []string{"--timeout", "soon"}, 2, []string{"soon: want seconds"}, ""},
		{"negative interval", []string{"--interval", "-1"}, 2, []string{"want a number of seconds"}, ""},
		{"stray argument", []string{"--socket", missing, "extra"}, 2, []string{"unexpected arguments"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, stdout bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &out); code != tt.code {
				t.Errorf("exit code %d, want %d\n%s", code, tt.code, out.String())
			}
			for _, s := range tt.contains {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
			if stdout.String() != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.stdout)
			}
		})
	}
}

// TestSignalBeforeOsquery: a signal while waiting for osquery ends the
// process promptly rather than after the whole timeout.
func TestSignalBeforeOsquery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	dir := t.TempDir()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--socket", filepath.Join(dir, "osquery.em"), "--timeout", "3600", "--config", filepath.Join(dir, "c.yaml"), "--state-dir", filepath.Join(dir, "state")}, io.Discard, &out)
	}()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(out.String(), "context canceled") {
			t.Errorf("exit %d:\n%s", code, out.String())
		}
	case <-time.After(time.Minute): // hang detection only
		t.Fatal("run did not return after cancellation")
	}
	_ = os.Remove(filepath.Join(dir, "osquery.em"))
}

// TestDefaultSocket: review D1. The default is osqueryd's own socket on each
// platform (osquery's OSQUERY_SOCKET plus "osquery.em"), as docs/osquery.md
// and docs/security.md say; it was osqueryi's shell.em pipe on Windows.
func TestDefaultSocket(t *testing.T) {
	for goos, want := range map[string]string{
		"windows": `\\.\pipe\osquery.em`,
		"linux":   "/var/osquery/osquery.em",
		"darwin":  "/var/osquery/osquery.em",
	} {
		if got := defaultSocketFor(goos); got != want {
			t.Errorf("defaultSocketFor(%s) = %s, want %s", goos, got, want)
		}
	}
}
