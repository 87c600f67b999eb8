package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "osquery.em")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
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
		{"fractional timeout", []string{"--socket", missing, "--timeout", "0.2", "--config", filepath.Join(dir, "none.yaml"), "--state-dir", filepath.Join(dir, "state")}, 1, []string{"osquery is not answering"}},
		{"help", []string{"--help"}, 0, []string{"Usage of tsclientwatch.ext", "--socket"}},
		{"unknown flag", []string{"--bogus"}, 2, []string{"unknown flag: --bogus"}},
		{"bad timeout", []string{"--timeout", "soon"}, 2, []string{"soon: want seconds"}},
		{"negative interval", []string{"--interval", "-1"}, 2, []string{"want a number of seconds"}},
		{"stray argument", []string{"--socket", missing, "extra"}, 2, []string{"unexpected arguments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(context.Background(), tt.args, &out); code != tt.code {
				t.Errorf("exit code %d, want %d\n%s", code, tt.code, out.String())
			}
			for _, s := range tt.contains {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
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
		done <- run(ctx, []string{"--socket", filepath.Join(dir, "osquery.em"), "--timeout", "3600", "--config", filepath.Join(dir, "c.yaml"), "--state-dir", filepath.Join(dir, "state")}, &out)
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
